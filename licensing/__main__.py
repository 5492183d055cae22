"""Command line: ``python -m licensing COMMAND``. Run with ``--help`` for the list."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import LicensingError
from .settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m licensing")
    commands = parser.add_subparsers(dest="command", required=True)

    load = commands.add_parser("import", help="import publishers, products and customers")
    load.add_argument("file", help="JSON file in the import format")
    load.set_defaults(run=_import)

    keys = commands.add_parser("keys", help="manage signing keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = key_commands.add_parser("generate", help="write a development signing key")
    generate.add_argument("--out", default=".dev/signing-key.pem", help="PEM file to write")
    generate.add_argument("--bits", type=int, default=3072, help="RSA key size in bits")
    generate.set_defaults(run=_generate)

    serve = commands.add_parser("serve", help="serve the API with the development host")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7071)
    serve.set_defaults(run=_serve)

    from .client import add_arguments

    validate = commands.add_parser("validate", help="validate like a FinOps environment")
    add_arguments(validate)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # The Azure SDK logs every HTTP request at INFO.
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        return args.run(args)
    except (LicensingError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _import(args: argparse.Namespace) -> int:
    from .importer import Importer, parse
    from .storage import Store

    try:
        with open(args.file, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2

    plan = parse(data)
    store = Store.from_settings(Settings.from_env())
    store.ensure_tables()
    counts = Importer(store).run(plan)
    print(
        f"Imported {args.file}: {counts['created']} created, "
        f"{counts['updated']} updated, {counts['unchanged']} unchanged."
    )
    return 0


def _generate(args: argparse.Namespace) -> int:
    from .signing import MIN_KEY_BITS, generate_key

    if args.bits < MIN_KEY_BITS:
        print(f"error: --bits must be at least {MIN_KEY_BITS}", file=sys.stderr)
        return 2

    if generate_key(args.out, args.bits):
        print(f"Wrote a {args.bits}-bit signing key to {args.out}.")
    else:
        print(f"Kept the existing signing key {args.out}.")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from function_app import app

    from .devhost import serve

    serve(app, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
