"""Create, read, update, delete and list for every admin resource, audited."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from ..errors import LicensingError, NotFound
from ..storage import Store
from . import audit, rows
from .resources import Resource

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One record as the API shows it, with its ETag."""

    body: dict
    etag: str


@dataclass(frozen=True)
class Listing:
    items: list[dict]
    next_token: str | None


class AdminService:
    def __init__(self, store: Store, clock: Callable[[], datetime], today: Callable[[], date]):
        self.store = store
        self.clock = clock
        self.today = today

    def show(self, resource: Resource, record: Any, etag: str) -> Item:
        body = {**resource.render(record), **resource.derive(record, self.today())}
        return Item({**body, "etag": etag}, etag)

    def list(self, resource: Resource, path: dict, query: dict, top: int, token: str | None):
        condition, parameters = resource.listing(path, query)
        page = rows.page(self.store.table(resource.table), condition, parameters, top, token)
        items = [self.show(resource, resource.load(row), rows.etag(row)).body for row in page.rows]
        return Listing(items, page.next_token)

    def read(self, resource: Resource, path: dict) -> tuple[Any, dict]:
        """Return the record a URL names and its row; NotFound if it does not exist."""
        row = rows.get(self.store.table(resource.table), *resource.key(path))
        record = resource.load(row) if row is not None else None
        if record is None or not resource.belongs(record, path):
            raise NotFound(f"The {resource.kind} was not found.")

        return record, row

    def get(self, resource: Resource, path: dict) -> Item:
        record, row = self.read(resource, path)
        return self.show(resource, record, rows.etag(row))

    def create(self, resource: Resource, path: dict, body: dict, author: audit.Author) -> Item:
        record = _with_author(resource.parse(body, path), author)
        resource.check_create(self.store, record)

        table = self.store.table(resource.table)
        row = resource.save(record)
        after = self._plain(resource, record)
        with self._audited(author, "create", resource, record, None, after):
            etag = rows.create(table, row, resource.kind)
            self._check_again(
                resource.check_create,
                record,
                lambda: rows.undo_create(table, row["PartitionKey"], row["RowKey"]),
            )
        return self.show(resource, record, etag)

    def update(
        self, resource: Resource, path: dict, body: dict, etag: str, author: audit.Author
    ) -> Item:
        before, row = self.read(resource, path)
        record = resource.parse(body, path)
        resource.check_create(self.store, record)

        entity = resource.save(record)
        entity.update({name: row[name] for name in resource.preserve if name in row})
        table = self.store.table(resource.table)
        after = resource.load(entity)
        views = (self._plain(resource, before), self._plain(resource, after))
        with self._audited(author, "update", resource, after, *views):
            new_etag = rows.replace(table, entity, etag, resource.kind)
            self._check_again(resource.check_create, record, lambda: rows.restore(table, row))
        return self.show(resource, after, new_etag)

    def delete(self, resource: Resource, path: dict, etag: str, author: audit.Author) -> None:
        record, row = self.read(resource, path)
        resource.check_delete(self.store, record)

        table = self.store.table(resource.table)
        before = self._plain(resource, record)
        with self._audited(author, "delete", resource, record, before, None):
            rows.delete(table, row["PartitionKey"], row["RowKey"], etag, resource.kind)
            self._check_again(resource.check_delete, record, lambda: rows.restore(table, row))

    def _check_again(self, check, record: Any, undo: Callable[[], None]) -> None:
        """Run a rule again after the write, and undo the write if it now fails.

        A rule checked only before a write races a concurrent writer: a license
        created while its customer is deleted, two customers given one number.
        Both sides write first and check second, so at least one of them sees
        the other's write and undoes its own (sometimes both do, and both
        callers get the error).
        """
        try:
            check(self.store, record)
        except LicensingError:
            _LOGGER.info("A concurrent change broke a rule; undoing this write")
            undo()
            raise

    def _plain(self, resource: Resource, record: Any) -> dict:
        return {**resource.render(record), **resource.derive(record, self.today())}

    def _audited(self, author, action, resource, record, before, after):
        """Wrap a change in its audit entry: written before it, completed after it."""
        return audit.change(
            self.store.table("Audit"),
            author,
            action,
            resource.kind,
            resource.identify(record),
            _without_etag(before),
            _without_etag(after),
            self.clock(),
        )


def _without_etag(body: dict | None) -> dict | None:
    if body is None:
        return None

    return {key: value for key, value in body.items() if key != "etag"}


def _with_author(record: Any, author: audit.Author) -> Any:
    """Record who created a license; other records carry no author field."""
    if hasattr(record, "created_by") and not record.created_by:
        return replace(record, created_by=author.name)

    return record
