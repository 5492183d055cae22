"""One cold start, run in a fresh interpreter by bench/cold_start.py.

``python -m bench.cold_child service BODY_FILE`` imports function_app and answers one
validation through the registered function. ``python -m bench.cold_child floor SERIAL
TENANT SIGNED_BYTES`` imports only azure.functions, azure.data.tables and
cryptography's RSA, makes the storage calls of a registered environment's first
validation (environment, catalog, customer partition, environment update), loads the
signing key and makes one signature over that many bytes. Both print one JSON line
with the seconds from the first statement to the answer and the HTTP traffic they
made. Nothing but ``time`` is imported before the clock starts.
"""

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

# The packages that the service must load only when a feature needs them.
HEAVY_PREFIXES = ("azure.identity", "azure.keyvault", "azure.monitor", "opentelemetry", "msal")


class _Traffic(logging.Handler):
    """Counts urllib3's records of responses and new connections (see bench/traffic.py)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.requests = 0
        self.connections = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        if message.startswith("Starting new"):
            self.connections += 1
        elif message.startswith('%s://%s:%s "%s %s %s"'):
            self.requests += 1


def _count_traffic() -> _Traffic:
    traffic = _Traffic()
    logger = logging.getLogger("urllib3.connectionpool")
    logger.addHandler(traffic)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return traffic


def service(body_file: str) -> tuple[float, int]:
    """Import the app and answer one validation; return the import time and the status."""
    import function_app

    imported = time.perf_counter()
    import azure.functions as func

    from licensing.registry import functions_of

    validate = next(
        f.get_user_function()
        for f in functions_of(function_app.app)
        if f.get_function_name() == "validate"
    )
    with open(body_file, "rb") as file:
        body = file.read()
    request = func.HttpRequest(
        "POST",
        "http://localhost/api/v1/validate",
        headers={"Content-Type": "application/json"},
        body=body,
    )
    return imported - STARTED, validate(request).status_code


def floor(serial_number: str, tenant: str, signed_bytes: int) -> tuple[float, int]:
    """Do only what a first validation cannot avoid; return the import time and a status."""
    import azure.functions as func
    from azure.core import MatchConditions
    from azure.data.tables import TableServiceClient, UpdateMode
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    imported = time.perf_counter()
    prefix = os.environ["LICENSING_TABLE_PREFIX"]
    service = TableServiceClient.from_connection_string(os.environ["LICENSING_TABLES_CONNECTION"])
    environments = service.get_table_client(prefix + "Environments")
    entity = environments.get_entity(serial_number, tenant)
    catalog = list(service.get_table_client(prefix + "Catalog").list_entities())
    customer = list(
        service.get_table_client(prefix + "Customers").query_entities(
            "PartitionKey eq @pk", parameters={"pk": entity["customer_id"]}
        )
    )
    with open(os.environ["LICENSING_SIGNING_KEY_FILE"], "rb") as file:
        key = serialization.load_pem_private_key(file.read(), password=None)
    signature = key.sign(b"." * signed_bytes, padding.PKCS1v15(), hashes.SHA256())
    environments.update_entity(
        {"PartitionKey": serial_number, "RowKey": tenant, "last_seen": entity["last_seen"]},
        mode=UpdateMode.MERGE,
        etag=entity.metadata["etag"],
        match_condition=MatchConditions.IfNotModified,
    )
    response = func.HttpResponse(json.dumps({"token": signature.hex()}), status_code=200)
    assert catalog and customer
    return imported - STARTED, response.status_code


def main() -> None:
    traffic = _count_traffic()
    mode, *arguments = sys.argv[1:]
    if mode == "service":
        imports, status = service(*arguments)
    else:
        imports, status = floor(arguments[0], arguments[1], int(arguments[2]))
    elapsed = time.perf_counter() - STARTED

    heavy = sorted(name for name in sys.modules if name.startswith(HEAVY_PREFIXES))
    result = {
        "mode": mode,
        "seconds": elapsed,
        "import_seconds": imports,
        "status": status,
        "requests": traffic.requests,
        "connections": traffic.connections,
        "heavy_modules": heavy,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
