"""One cold start, run in a fresh interpreter by bench/cold_start.py.

``python -m bench.cold_child service BODY_FILE`` imports function_app and processes one
validation request through the registered function. ``python -m bench.cold_child floor PARTITION_KEY
ROW_KEY SIGNED_BYTES`` imports only azure.functions, azure.data.tables and
cryptography's RSA, makes the storage calls of a registered environment's first
validation (environment, catalog, customer partition, environment update), loads the
signing key and makes one signature over that many bytes. Both print one JSON line
with the seconds from the first statement to the response and the HTTP traffic they
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


def service(body_file: str) -> tuple[float, int, int]:
    """Import the app and process one validation request.

    Returns the import time, the status and the length of the signed part of the token.
    """
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
    response = validate(request)
    token = json.loads(response.get_body())["token"] if response.status_code == 200 else ""
    return imported - STARTED, response.status_code, len(token.rsplit(".", 1)[0])


def floor(partition_key: str, row_key: str, signed_bytes: int) -> tuple[float, int]:
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
    entity = environments.get_entity(partition_key, row_key)
    catalog = list(service.get_table_client(prefix + "Catalog").list_entities())
    licenses = list(
        service.get_table_client(prefix + "Customers").query_entities(
            "PartitionKey eq @pk", parameters={"pk": entity["customer_id"]}
        )
    )
    if not catalog or not licenses:
        raise RuntimeError("the benchmark data is missing: no catalog or no customer rows")

    with open(os.environ["LICENSING_SIGNING_KEY_FILE"], "rb") as file:
        key = serialization.load_pem_private_key(file.read(), password=None)
    signature = key.sign(b"." * signed_bytes, padding.PKCS1v15(), hashes.SHA256())

    # The fields that a validation merges into the environment row, with their sizes.
    changes = {"PartitionKey": partition_key, "RowKey": row_key}
    for name in ("host_url", "is_production", "first_seen", "last_seen", "reported_blob"):
        changes[name] = entity[name]
    environments.update_entity(
        changes,
        mode=UpdateMode.MERGE,
        etag=entity.metadata["etag"],
        match_condition=MatchConditions.IfNotModified,
    )
    response = func.HttpResponse(json.dumps({"token": signature.hex()}), status_code=200)
    return imported - STARTED, response.status_code


def main() -> None:
    traffic = _count_traffic()
    mode, *arguments = sys.argv[1:]
    signed_bytes = 0
    if mode == "service":
        imports, status, signed_bytes = service(*arguments)
    else:
        imports, status = floor(arguments[0], arguments[1], int(arguments[2]))
    elapsed = time.perf_counter() - STARTED

    heavy = sorted(name for name in sys.modules if name.startswith(HEAVY_PREFIXES))
    result = {
        "mode": mode,
        "seconds": elapsed,
        "import_seconds": imports,
        "status": status,
        "signed_bytes": signed_bytes,
        "requests": traffic.requests,
        "connections": traffic.connections,
        "heavy_modules": heavy,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
