"""API views of records: camelCase fields, ISO dates, no nulls."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from datetime import UTC, date, datetime

from ..errors import NotFound

# Fields kept out of every view: storage details and nested records.
_HIDDEN = {"etag", "reported"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def view(record: object, **extra) -> dict:
    """Render a record; fields without a value are left out, never null."""
    body = {}
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        if value is None or item.name in _HIDDEN:
            continue

        body[camel(item.name)] = _plain(value)

    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def environment_id(serial_number: str, tenant: str) -> str:
    """Build the opaque URL-safe id of an environment from its tenant and serial."""
    raw = f"{tenant.lower()}|{serial_number}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_environment_id(value: str) -> tuple[str, str]:
    """Return (serial number, tenant) of an environment id; NotFound if malformed."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raw = ""

    tenant, separator, serial = raw.partition("|")
    if not separator or not tenant or not serial:
        raise NotFound(f"Environment {value!r} was not found.")

    return serial, tenant
