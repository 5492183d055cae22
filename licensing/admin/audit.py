"""The audit log: who changed what, when, with the values before and after.

Rows live in one partition, ``audit``, with a RowKey that sorts newest first:
the milliseconds left until the year 10000, zero-padded, then a random suffix
so that two changes in the same millisecond keep both rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.data.tables import TableClient, UpdateMode

from ..storage import translated_errors

_LOGGER = logging.getLogger(__name__)

PARTITION = "audit"
_END = datetime(9999, 12, 31, tzinfo=UTC)
ACTIONS = ("create", "update", "delete", "import", "assign", "dismiss")
PENDING = "pending"
DONE = "done"


@dataclass(frozen=True)
class Author:
    """The author of a change: the signed-in user or application, or a command."""

    object_id: str
    name: str


def row_key(at: datetime) -> str:
    remaining = int((_END - at).total_seconds() * 1000)
    return f"{remaining:014d}-{uuid.uuid4().hex[:8]}"


def _entry(author, action, entity_type, entity_id, before, after, at, state) -> dict:
    return {
        "PartitionKey": PARTITION,
        "RowKey": row_key(at),
        "at": at,
        "state": state,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "author_id": author.object_id,
        "author_name": author.name,
        "before_json": json.dumps(before, ensure_ascii=False) if before is not None else "",
        "after_json": json.dumps(after, ensure_ascii=False) if after is not None else "",
    }


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
    """Append the entry of a change already made (import, system). Views are API views."""
    with translated_errors():
        table.create_entity(_entry(author, action, entity_type, entity_id, before, after, at, DONE))

    _LOGGER.info("Audit: %s %s %s by %s", action, entity_type, entity_id, author.object_id)


@contextlib.contextmanager
def change(
    table: TableClient,
    author: Author,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict | None,
    after: dict | None,
    at: datetime,
) -> Iterator[None]:
    """Write the entry first, as pending; then run the change; then mark it done.

    No change is made without its entry: when the entry cannot be written,
    the change is not tried. When the change fails, the entry is removed (as
    far as storage allows). When marking it done fails, it stays ``pending``:
    the change may have been made, and the API shows the entry as pending.
    """
    entry = _entry(author, action, entity_type, entity_id, before, after, at, PENDING)
    with translated_errors():
        table.create_entity(entry)

    try:
        yield
    except BaseException:
        _quietly(lambda: table.delete_entity(PARTITION, entry["RowKey"]), "remove")
        raise

    done = {"PartitionKey": PARTITION, "RowKey": entry["RowKey"], "state": DONE}
    _quietly(lambda: table.update_entity(done, mode=UpdateMode.MERGE), "complete")
    _LOGGER.info("Audit: %s %s %s by %s", action, entity_type, entity_id, author.object_id)


def _quietly(step: Callable[[], object], what: str) -> None:
    try:
        step()
    except Exception as exc:  # storage is failing; the caller gets the original outcome
        _LOGGER.error("Could not %s an audit entry: %s", what, type(exc).__name__)


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
        "state": row.get("state", DONE),
    }
    for name, column in (("before", "before_json"), ("after", "after_json")):
        if row.get(column):
            entry[name] = json.loads(row[column])

    return entry
