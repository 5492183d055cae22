"""Conditional reads and writes of table rows, and paged queries.

Writes carry the ETag the caller read: Table Storage rejects the write with 412
when the row changed since, so no update is lost to a concurrent writer. Filters are
always parameterized (``@name``), never built from values.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from .. import keys
from ..entities import etag_of
from ..errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from ..storage import missing_table, read_row, translated_errors

MAX_TOP = 1000
DEFAULT_TOP = 100
# Continuation tokens of real pages hold two keys of at most 1 KiB each.
MAX_TOKEN_CHARS = 4096

# Table Storage ETags: W/"datetime'<URL-encoded timestamp>'".
ETAG = re.compile(r"W/\"datetime'[0-9A-Za-z%.:_-]{1,64}'\"")


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    next_token: str | None


def get(table: TableClient, partition_key: str, row_key: str) -> dict | None:
    return read_row(table, partition_key, row_key)


def create(table: TableClient, entity: dict, what: str) -> str:
    """Insert a new row and return its ETag; an existing row is a 409 conflict."""
    with translated_errors():
        try:
            metadata = table.create_entity(entity)
        except ResourceExistsError:
            raise Conflict(f"{what} already exists.", code="ALREADY_EXISTS") from None

    return metadata["etag"]


def replace(table: TableClient, entity: dict, etag: str, what: str) -> str:
    """Replace a row if it still has ``etag``; return the new ETag."""
    _check_etag(etag, what)
    with translated_errors():
        try:
            metadata = table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceNotFoundError as exc:
            if missing_table(exc):
                raise
            raise NotFound(f"{what} was not found.") from None
        except ResourceModifiedError:
            raise _stale(what) from None

    return metadata["etag"]


def delete(table: TableClient, partition_key: str, row_key: str, etag: str, what: str) -> None:
    _check_etag(etag, what)
    # The SDK ignores a 404 on delete, so the status shows a second delete of one row.
    answered: dict = {}
    with translated_errors():
        try:
            table.delete_entity(
                partition_key,
                row_key,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
                raw_response_hook=lambda response: answered.update(
                    status=response.http_response.status_code
                ),
            )
        except ResourceModifiedError:
            raise _stale(what) from None

    if answered.get("status") == 404:
        raise NotFound(f"{what} was not found.")


def undo_create(table: TableClient, partition_key: str, row_key: str) -> None:
    """Delete a row this request just created, whatever its ETag."""
    with translated_errors():
        table.delete_entity(partition_key, row_key)


def restore(table: TableClient, row: dict) -> None:
    """Write back a row as it was read, after a change that had to be undone."""
    with translated_errors():
        table.upsert_entity(dict(row), mode=UpdateMode.REPLACE)


def _check_etag(etag: str, what: str) -> None:
    # Storage rejects a malformed ETag with 400; no record has one, so it is stale.
    if not ETAG.fullmatch(etag):
        raise _stale(what)


def _stale(what: str) -> PreconditionFailed:
    return PreconditionFailed(
        f"{what} was changed by someone else since you read it: read it again and retry.",
        "If-Match",
    )


def exists(table: TableClient, query: str, parameters: dict) -> dict | None:
    """Return the first row matching a filter, or None."""
    with translated_errors():
        pages = table.query_entities(query, parameters=parameters, results_per_page=1).by_page()
        for page in pages:
            for row in page:
                return row

    return None


def page(
    table: TableClient,
    query: str | None,
    parameters: dict,
    top: int,
    token: str | None,
) -> Page:
    """Read one page of at most ``top`` rows, continuing from an opaque token."""
    with translated_errors():
        if query:
            rows = table.query_entities(query, parameters=parameters, results_per_page=top)
        else:
            rows = table.list_entities(results_per_page=top)
        pages = rows.by_page(continuation_token=decode_token(token))
        items = list(next(pages, []))
        following = pages.continuation_token

    return Page(items, encode_token(following))


def encode_token(continuation: dict | None) -> str | None:
    if not continuation:
        return None

    raw = json.dumps(continuation, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_token(token: str | None) -> dict | None:
    if not token:
        return None

    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidInput(
            "pageToken is too long: use the nextLink of the previous page.", "pageToken"
        )

    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        value = None

    valid = isinstance(value, dict) and set(value) <= {"PartitionKey", "RowKey"}
    if valid:
        texts = [v for v in value.values() if v is not None]
        valid = all(
            isinstance(v, str) and keys.printable(v) and keys.is_valid_key(v) for v in texts
        )
    if not valid:
        raise InvalidInput(
            "pageToken is invalid: use the nextLink of the previous page.", "pageToken"
        )
    return value


def etag(row: dict) -> str:
    return etag_of(row) or ""
