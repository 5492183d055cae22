"""Command line: ``python -m licensing COMMAND``. Run with ``--help`` for the list."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import LicensingError
from .settings import Settings, SettingsError

# The host written into connector/apiDefinition.swagger.json; replace it with
# the Function App's host name before importing the connector.
CONNECTOR_HOST = "your-function-app.azurewebsites.net"


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
    export = key_commands.add_parser(
        "export", help="print the public keys as PEM, JWK and .NET RSAKeyValue XML"
    )
    export.add_argument(
        "--key", help="PEM public or private key file (default: the configured key source)"
    )
    export.add_argument(
        "--format",
        choices=("all", "pem", "jwk", "jwks", "xml"),
        default="all",
        help="all: every format under a heading per key (default); pem, jwk, xml: that "
        "format only, one key after another; jwks: one JWKS document",
    )
    export.set_defaults(run=_export)

    definition = commands.add_parser("openapi", help="write the OpenAPI 2.0 definition")
    definition.add_argument(
        "--out", default="connector/apiDefinition.swagger.json", help="file to write; - for stdout"
    )
    definition.add_argument(
        "--host", default=CONNECTOR_HOST, help="host name of the Function App the connector calls"
    )
    definition.set_defaults(run=_openapi)

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
    except (OSError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        print(f"error: cannot read {args.file}: {reason}", file=sys.stderr)
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


def _export(args: argparse.Namespace) -> int:
    from .signing import load_public_key

    if args.key:
        try:
            keys = [load_public_key(Path(args.key).read_bytes())]
        except (OSError, ValueError) as exc:
            print(f"error: cannot read a public key from {args.key}: {exc}", file=sys.stderr)
            return 2
    else:
        from .runtime import key_source

        # The signing key comes first, then keys that only verify.
        keys = key_source(Settings.from_env()).verification_keys()

    print(_render_keys(keys, args.format))
    return 0


def _render_keys(keys: list, format_name: str) -> str:
    from .signing import public_jwk, public_pem, rsa_key_value_xml

    if format_name == "jwks":
        return json.dumps({"keys": [public_jwk(key) for key in keys]}, indent=2)

    blocks = []
    for index, key in enumerate(keys):
        jwk = public_jwk(key)
        formats = {
            "pem": public_pem(key).rstrip(),
            "jwk": json.dumps(jwk),
            "xml": rsa_key_value_xml(key),
        }
        if format_name != "all":
            blocks.append(formats[format_name])
            continue

        role = "signs new tokens" if index == 0 else "verifies only"
        blocks.append(
            f"# Key {index + 1} of {len(keys)}: kid {jwk['kid']}, {key.key_size} bits, {role}\n"
            f"\n# PEM (SubjectPublicKeyInfo)\n{formats['pem']}\n"
            f"\n# JWK\n{formats['jwk']}\n"
            f"\n# RSAKeyValue XML for .NET RSA.FromXmlString\n{formats['xml']}\n"
        )

    return "\n".join(blocks).rstrip()


def _openapi(args: argparse.Namespace) -> int:
    from .openapi import build

    text = json.dumps(build(args.host), indent=2, ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(text)
        print(f"Wrote {args.out}.")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from function_app import app

    from .devhost import serve

    serve(app, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
