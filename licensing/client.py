"""Reference client: validates like the X++ module of a FinOps environment.

It builds a request with a fresh random nonce, posts it, and trusts the
answer only after these checks, in this order: the token has three parts,
its header names ``alg`` RS256 and a ``kid`` of a pinned public key, the
RS256 signature verifies, ``sub`` is the serial sent, ``nonce`` is the nonce
sent, ``iat`` is within the allowed clock skew, and ``exp`` has not passed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .signing import public_jwk


class VerificationError(Exception):
    """A failed token check; the message names the check and what differed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="API base, such as http://localhost:7071/api")
    parser.add_argument("--serial", required=True, help="environment serial number")
    parser.add_argument("--tenant", required=True, help="environment tenant domain")
    parser.add_argument(
        "--product",
        action="append",
        required=True,
        metavar="PUBLISHER_ID:PRODUCT:MODEL:VERSION",
        help="an installed product; repeat for several",
    )
    parser.add_argument("--host-url", help="environment URL (default: one made from the tenant)")
    parser.add_argument("--production", action="store_true", help="report a production environment")
    parser.add_argument("--public-key", help="pinned key: PEM (public or private) or JWKS file")
    parser.add_argument(
        "--trust-server-keys",
        action="store_true",
        help="verify with the server's own /v1/keys instead of a pinned key (testing only)",
    )
    parser.add_argument("--function-key", help="function key, sent as x-functions-key")
    parser.add_argument("--max-skew", type=int, default=300, help="allowed clock skew in seconds")
    parser.add_argument("--timeout", type=float, default=30, help="request timeout in seconds")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.public_key and not args.trust_server_keys:
        print("error: give --public-key FILE, or --trust-server-keys to test", file=sys.stderr)
        return 2

    try:
        body = build_request(args)
        keys = load_keys(Path(args.public_key)) if args.public_key else fetch_keys(args)
        token = post(args.url, body, args.function_key, args.timeout)
        claims = verify(
            token, keys, body["serialNumber"], body["nonce"], time.time(), args.max_skew
        )
    except (VerificationError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    print(render(claims))
    return 0


def build_request(args: argparse.Namespace) -> dict:
    products = []
    for text in args.product:
        parts = text.split(":")
        if len(parts) != 4:
            raise ValueError(
                f"--product {text!r} is invalid: expected PUBLISHER_ID:PRODUCT:MODEL:VERSION"
            )
        publisher_id, product_name, model_name, model_version = parts
        products.append(
            {
                "publisherId": publisher_id,
                "productName": product_name,
                "modelName": model_name,
                "modelVersion": model_version,
                "isEnabled": True,
                "isInstalled": True,
            }
        )

    host_url = args.host_url or f"https://{args.tenant.split('.')[0]}.operations.dynamics.com"
    return {
        "serialNumber": args.serial,
        "tenant": args.tenant,
        "hostUrl": host_url,
        "isProductionEnvironment": args.production,
        # 16 random bytes: 128 bits, 22 base64url characters.
        "nonce": secrets.token_urlsafe(16),
        "products": products,
    }


def post(base_url: str, body: dict, function_key: str | None, timeout: float) -> str:
    headers = {"Content-Type": "application/json"}
    if function_key:
        headers["x-functions-key"] = function_key

    request = urllib.request.Request(
        base_url.rstrip("/") + "/v1/validate",
        data=json.dumps(body).encode("utf-8"),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        raise OSError(
            f"validate returned HTTP {exc.code}: {exc.read()[:500].decode('utf-8', 'replace')}"
        ) from None

    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        raise VerificationError("the response contains no token")
    return token


def fetch_keys(args: argparse.Namespace) -> dict[str, rsa.RSAPublicKey]:
    url = args.url.rstrip("/") + "/v1/keys"
    with urllib.request.urlopen(url, timeout=args.timeout) as response:
        return keys_from_jwks(json.load(response))


def load_keys(path: Path) -> dict[str, rsa.RSAPublicKey]:
    """Read pinned public keys by kid from a PEM file (public or private key) or a JWKS."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        return keys_from_jwks(json.loads(data))

    try:
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not an unencrypted PEM key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path} does not hold an RSA key")

    return {public_jwk(key)["kid"]: key}


def keys_from_jwks(jwks: dict) -> dict[str, rsa.RSAPublicKey]:
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no keys array")

    keys = {}
    for jwk in entries:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        if not isinstance(jwk.get("e"), str) or not isinstance(jwk.get("n"), str):
            raise ValueError("a JWKS key is missing its n or e member")
        numbers = rsa.RSAPublicNumbers(_uint(jwk["e"]), _uint(jwk["n"]))
        key = numbers.public_key()
        keys[public_jwk(key)["kid"]] = key

    return keys


def verify(
    token: str,
    keys: dict[str, rsa.RSAPublicKey],
    serial: str,
    nonce: str,
    now: float,
    max_skew: int = 300,
) -> dict:
    """Check a token as the X++ module does; raises VerificationError naming the failed check."""
    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationError("the token is not a compact JWS of three parts")

    header = _json_part(parts[0], "header")
    if header.get("alg") != "RS256":
        raise VerificationError(f"alg is {header.get('alg')!r}, expected 'RS256'")

    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise VerificationError(f"kid {header.get('kid')!r} matches no pinned public key")

    try:
        signature = _b64decode(parts[2])
        key.verify(
            signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        raise VerificationError("the signature does not verify with the pinned key") from None

    claims = _json_part(parts[1], "payload")
    _expect(claims, "sub", serial)
    _expect(claims, "nonce", nonce)

    issued = claims.get("iat")
    if not isinstance(issued, int) or abs(issued - now) > max_skew:
        raise VerificationError(
            f"iat {issued} is more than {max_skew} s from this clock ({int(now)})"
        )

    expires = claims.get("exp")
    if not isinstance(expires, int) or expires <= now:
        raise VerificationError(f"the token expired at {expires} (now {int(now)})")

    return claims


def _expect(claims: dict, name: str, sent: str) -> None:
    if claims.get(name) != sent:
        raise VerificationError(f"{name} is {claims.get(name)!r}, expected {sent!r} as sent")


def _json_part(part: str, name: str) -> dict:
    try:
        value = json.loads(_b64decode(part))
    except (ValueError, UnicodeDecodeError):
        raise VerificationError(f"the {name} is not base64url JSON") from None

    if not isinstance(value, dict):
        raise VerificationError(f"the {name} is not a JSON object")
    return value


BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64decode(text: str) -> bytes:
    # The decoder skips characters outside the alphabet; a strict check keeps a
    # tampered segment from decoding to the original bytes.
    if not BASE64URL.fullmatch(text):
        raise ValueError("invalid base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid base64url") from exc


def _uint(text: str) -> int:
    return int.from_bytes(_b64decode(text), "big")


def render(claims: dict) -> str:
    """Format the environment and the decisions as a plain text table."""
    environment = claims.get("environment", {})
    lines = [
        f"Serial {claims.get('sub')} tenant {claims.get('tenant')}: "
        f"registered={environment.get('registered')} active={environment.get('active')} "
        f"customer={environment.get('customerName', '-')}",
        "Signature verified.",
        "",
    ]
    columns = (
        "productName",
        "status",
        "licensed",
        "licenseType",
        "expirationDate",
        "featureDisableDate",
        "numberOfUsers",
        "siteLicense",
        "disableFeature",
    )
    rows = [[str(p.get(c, "-")) for c in columns] for p in claims.get("products", [])]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for row in [list(columns), *rows]:
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )

    return "\n".join(lines)
