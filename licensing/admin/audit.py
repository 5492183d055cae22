"""The audit log: who changed what, when, with the values before and after.

Rows live in one partition, ``audit``, with a RowKey that sorts newest first:
the milliseconds left until the year 10000, zero-padded, then a random suffix
so that two changes in the same millisecond keep both rows.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.data.tables import TableClient

from ..storage import translated_errors

_LOGGER = logging.getLogger(__name__)

PARTITION = "audit"
_END = datetime(9999, 12, 31, tzinfo=UTC)
ACTIONS = ("create", "update", "delete", "import", "assign", "dismiss")


@dataclass(frozen=True)
class Author:
    """The author of a change: the signed-in user or application, or a command."""

    object_id: str
    name: str


def row_key(at: datetime) -> str:
    remaining = int((_END - at).total_seconds() * 1000)
    return f"{remaining:014d}-{uuid.uuid4().hex[:8]}"


def record(
    table: TableClient,
    author: Author,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict | None,
    after: dict | None,
    at: datetime,
) -> None:
    """Append one entry. ``before`` and ``after`` are the API views of the record."""
    entity = {
        "PartitionKey": PARTITION,
        "RowKey": row_key(at),
        "at": at,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "author_id": author.object_id,
        "author_name": author.name,
        "before_json": json.dumps(before, ensure_ascii=False) if before is not None else "",
        "after_json": json.dumps(after, ensure_ascii=False) if after is not None else "",
    }
    with translated_errors():
        table.create_entity(entity)

    _LOGGER.info("Audit: %s %s %s by %s", action, entity_type, entity_id, author.object_id)


def view(row: dict) -> dict:
    """Render one audit row for the API."""
    entry = {
        "id": row["RowKey"],
        "at": row["at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "action": row["action"],
        "entityType": row["entity_type"],
        "entityId": row["entity_id"],
        "authorId": row["author_id"],
        "authorName": row["author_name"],
    }
    for name, column in (("before", "before_json"), ("after", "after_json")):
        if row.get(column):
            entry[name] = json.loads(row[column])

    return entry
