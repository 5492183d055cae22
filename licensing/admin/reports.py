"""The license expiry report: licenses that expire within a window from today.

Windows start today (the service's time zone) and end on an inclusive last
day: ``thisWeek`` on Sunday, ``thisMonth`` on the month's last day,
``next3Months`` and ``next6Months`` on the same day of the month three or six
months on (or that month's last day), ``thisYear`` on 31 December. With
``includeOverdue``, licenses whose expiration date has already passed are
listed too.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from ..entities import from_entity
from ..errors import InvalidInput
from ..models import License
from ..storage import CUSTOMER_ROW, LICENSE_PREFIX, Store, read_row, translated_errors

WINDOWS = ("thisWeek", "thisMonth", "next3Months", "next6Months", "thisYear")

# The report lists at most this many licenses, the soonest to expire, and says
# when it left some out.
MAX_ROWS = 5000


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window_end(window: str, today: date) -> date:
    if window == "thisWeek":
        return today + timedelta(days=6 - today.weekday())
    if window == "thisMonth":
        return date(today.year, today.month, calendar.monthrange(today.year, today.month)[1])
    if window == "next3Months":
        return add_months(today, 3)
    if window == "next6Months":
        return add_months(today, 6)
    if window == "thisYear":
        return date(today.year, 12, 31)

    raise InvalidInput(f"window must be one of {', '.join(WINDOWS)}.", "window")


def expiring(store: Store, window: str, include_overdue: bool, today: date) -> dict:
    """Return the report body: the window, its dates and the licenses, soonest first."""
    last = window_end(window, today)
    clauses = ["RowKey ge @low and RowKey lt @high", "expiration_date le @last"]
    parameters = {
        "low": LICENSE_PREFIX,
        "high": LICENSE_PREFIX[:-1] + "}",
        "last": last.isoformat(),
    }
    if not include_overdue:
        clauses.append("expiration_date ge @first")
        parameters["first"] = today.isoformat()

    with translated_errors():
        rows = store.table("Customers").query_entities(" and ".join(clauses), parameters=parameters)
        licenses = [from_entity(License, row, customer_id=row["PartitionKey"]) for row in rows]

    # Soonest first, then cut: the rows come in customer order, not by date.
    licenses.sort(key=lambda item: (item.expiration_date, item.customer_id))
    truncated = len(licenses) > MAX_ROWS
    licenses = licenses[:MAX_ROWS]
    customers = _customers(store, {item.customer_id for item in licenses})
    items = [_item(item, customers.get(item.customer_id, {}), today) for item in licenses]
    items.sort(key=lambda entry: (entry["expirationDate"], entry["customerName"]))
    return {
        "window": window,
        "from": today.isoformat(),
        "to": last.isoformat(),
        "includeOverdue": include_overdue,
        "truncated": truncated,
        "items": items,
    }


def _customers(store: Store, ids: set[str]) -> dict[str, dict]:
    # A license whose customer row is missing is listed without names.
    table = store.table("Customers")
    return {customer_id: read_row(table, customer_id, CUSTOMER_ROW) or {} for customer_id in ids}


def _item(license: License, customer: dict, today: date) -> dict:
    expiration = license.expiration_date
    item = {
        "customerId": license.customer_id,
        "customerName": customer.get("name", ""),
        "customerNumber": customer.get("customer_number", ""),
        "publisherId": license.publisher_id,
        "productName": license.product_name,
        "licenseType": license.license_type,
        "enabled": license.enabled,
        "expirationDate": expiration.isoformat(),
        "daysUntilExpiration": (expiration - today).days,
        "overdue": expiration < today,
    }
    if license.feature_disable_date:
        item["featureDisableDate"] = license.feature_disable_date.isoformat()
    return item
