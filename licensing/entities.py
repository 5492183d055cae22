"""Conversion between domain records and Table Storage entities.

Properties carry the record's field names. Calendar dates are stored as
``YYYY-MM-DD`` strings, because Table Storage only has an instant type and a
date must not shift with a time zone. ``None`` is stored as a missing property.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
import zlib
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from .models import Environment, ReportedProduct

T = TypeVar("T")

# Entity properties that are not record fields.
_SYSTEM = {"PartitionKey", "RowKey", "Timestamp", "etag"}


def to_entity(record: object, partition_key: str, row_key: str, **extra: Any) -> dict:
    entity: dict[str, Any] = {"PartitionKey": partition_key, "RowKey": row_key}
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        if value is None or item.name in ("etag", "reported"):
            continue

        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        elif isinstance(value, date):
            value = value.isoformat()

        entity[item.name] = value

    entity.update(extra)
    return entity


def from_entity(cls: type[T], entity: dict, **overrides: Any) -> T:
    dates = _date_fields(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.name in overrides or item.name not in entity:
            continue

        value = entity[item.name]
        if item.name in dates:
            value = date.fromisoformat(value)
        values[item.name] = value

    values.update(overrides)
    return cls(**values)


@functools.cache
def _date_fields(cls: type) -> frozenset[str]:
    # get_type_hints evaluates every string annotation again on each call, which
    # took about 0.15 ms per license row read, so the result is cached per class.
    hints = typing.get_type_hints(cls)
    return frozenset(item.name for item in dataclasses.fields(cls) if _is_date(hints[item.name]))


def _is_date(hint: Any) -> bool:
    return hint is date or date in typing.get_args(hint)


def etag_of(entity: Any) -> str | None:
    metadata = getattr(entity, "metadata", None) or {}
    return metadata.get("etag")


# Reported products are kept in one binary property of the environment
# (zlib-compressed JSON), so that a validation updates them with the same write
# as ``last_seen``. A binary property stores at most 64 KiB: the oldest entries
# are dropped until the data fits in MAX_REPORTED_BYTES. A hundred products of
# ordinary names compress to a few KiB.
MAX_REPORTED = 100
MAX_REPORTED_BYTES = 60_000


def encode_reported(reported: tuple[ReportedProduct, ...]) -> bytes:
    rows = [
        {
            "p": item.publisher_id,
            "n": item.product_name,
            "m": item.model_name,
            "v": item.model_version,
            "e": item.is_enabled,
            "i": item.is_installed,
            "s": item.last_seen.astimezone(UTC).isoformat(),
        }
        for item in reported
    ]
    text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode("utf-8"))


def decode_reported(blob: bytes | None) -> tuple[ReportedProduct, ...]:
    if not blob:
        return ()

    text = zlib.decompress(blob).decode("utf-8")
    return tuple(
        ReportedProduct(
            publisher_id=row["p"],
            product_name=row["n"],
            model_name=row["m"],
            model_version=row["v"],
            is_enabled=row["e"],
            is_installed=row["i"],
            last_seen=datetime.fromisoformat(row["s"]),
        )
        for row in json.loads(text)
    )


def merge_reported(
    old: tuple[ReportedProduct, ...], new: tuple[ReportedProduct, ...]
) -> tuple[ReportedProduct, ...]:
    """Replace the entries of products reported again; keep the newest entries."""
    by_key = {(r.publisher_id.lower(), r.product_name.lower()): r for r in old}
    for item in new:
        key = (item.publisher_id.lower(), item.product_name.lower())
        current = by_key.get(key)
        if current is None or current.last_seen <= item.last_seen:
            by_key[key] = item

    newest = sorted(by_key.values(), key=lambda r: r.last_seen, reverse=True)[:MAX_REPORTED]
    while len(newest) > 1 and len(encode_reported(tuple(newest))) > MAX_REPORTED_BYTES:
        newest.pop()
    return tuple(newest)


def environment_from_entity(entity: dict, decode_serial) -> Environment:
    return from_entity(
        Environment,
        entity,
        serial_number=decode_serial(entity["PartitionKey"]),
        tenant=entity["RowKey"],
        customer_id=entity.get("customer_id") or None,
        reported=decode_reported(entity.get("reported_blob")),
        etag=etag_of(entity),
    )
