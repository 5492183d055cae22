"""Validation telemetry: events, their dimensions, privacy, failure isolation, configuration.

In-process tests send events to OpenTelemetry's in-memory exporter. Tests of the real
Azure Monitor exporter run a separate Python process, because OpenTelemetry accepts its
global providers once per process. That process sends to an ingestion server that the
test starts on 127.0.0.1, and nothing leaves the machine: the resource detectors,
statsbeat, SDK stats and the OneSettings control plane are switched off.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)

from licensing import runtime, telemetry
from licensing.devhost import InvocationContext
from tests.fixtures import (
    FABRIKAM,
    NONCE,
    NORTHWIND,
    function,
    post_validate,
    product,
    request_body,
)

ROOT = Path(__file__).resolve().parent.parent

CONTOSO_SERIAL = "5KQ2-77XD-9WMA"
HOST_URL = "https://contoso-prod.operations.dynamics.com"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
INSTRUMENTATION_KEY = "00000000-0000-4000-8000-000000000001"

# Guards that keep a broken test from hanging. No test asserts on elapsed time.
WORKER_ANSWER_SECONDS = 120.0
EXPORT_WAIT_SECONDS = 60.0

WORKER_SETTINGS = ("PYTHON_ENABLE_OPENTELEMETRY", "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY")


def contoso_body(**overrides) -> dict:
    """A Contoso request with four products and four different decisions."""
    return request_body(
        CONTOSO_SERIAL,
        "contoso.com",
        product(FABRIKAM, "RentalManagement", modelVersion="10.0.43.202506241"),
        product(NORTHWIND, "WarehouseLabels", isEnabled=False, modelVersion="2.1.0.7"),
        product(FABRIKAM, "LegacyBridge", isInstalled=False, modelVersion="1.0"),
        product(FABRIKAM, "NoSuchProduct", modelVersion="3"),
        **overrides,
    )


def expected_event(name: str, status: str, version: str, enabled: str, installed: str) -> dict:
    return {
        "serialNumber": CONTOSO_SERIAL,
        "productName": name,
        "modelName": "ISV" + name,
        "modelVersion": version,
        "hostUrl": HOST_URL,
        "isEnabled": enabled,
        "isInstalled": installed,
        "isProductionEnvironment": "true",
        "status": status,
    }


CONTOSO_EVENTS = [
    expected_event("RentalManagement", "VALID", "10.0.43.202506241", "true", "true"),
    expected_event("WarehouseLabels", "EXPIRED", "2.1.0.7", "false", "true"),
    expected_event("LegacyBridge", "PRODUCT_INACTIVE", "1.0", "true", "false"),
    expected_event("NoSuchProduct", "UNKNOWN_PRODUCT", "3", "true", "true"),
]


@pytest.fixture(autouse=True)
def fresh_telemetry(monkeypatch) -> Iterator[None]:
    """Start each test without a sink and without any telemetry setting.

    Afterwards, also forget the span type that configuring telemetry gives the Azure SDK.
    """
    from azure.core.settings import settings

    for name in (telemetry.CONNECTION_STRING_SETTING, *WORKER_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    telemetry.reset()
    yield
    telemetry.reset()
    settings.tracing_implementation.unset_value()


@pytest.fixture
def exported() -> InMemoryLogRecordExporter:
    """Send events to an in-memory exporter, synchronously."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    telemetry.use_logger_provider(provider)
    return exporter


def event_attributes(exporter: InMemoryLogRecordExporter) -> list[dict]:
    return [dict(record.log_record.attributes) for record in exporter.get_finished_logs()]


def dimensions_of(attributes: dict) -> dict:
    return {k: v for k, v in attributes.items() if k != telemetry.CUSTOM_EVENT_ATTRIBUTE}


def token_of(response) -> str:
    assert response.status_code == 200, response.get_body()
    return json.loads(response.get_body())["token"]


def test_dimensions_listed_once_in_readme():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Telemetry and privacy", 1)[1].split("\n## ", 1)[0]

    listed = [name for name in telemetry.DIMENSIONS if f"`{name}`" in section]
    assert listed == list(telemetry.DIMENSIONS)


def test_one_event_per_product_with_exact_dimensions(demo, exported):
    token_of(post_validate(contoso_body()))

    records = exported.get_finished_logs()
    assert len(records) == 4
    for record in records:
        assert record.log_record.event_name == telemetry.EVENT_NAME
        attributes = dict(record.log_record.attributes)
        assert attributes[telemetry.CUSTOM_EVENT_ATTRIBUTE] == "LicenseValidation"
        assert set(dimensions_of(attributes)) == set(telemetry.DIMENSIONS)


def test_event_values_follow_request_order(demo, exported):
    token_of(post_validate(contoso_body()))

    assert [dimensions_of(a) for a in event_attributes(exported)] == CONTOSO_EVENTS


def test_events_neither_lost_nor_doubled(demo, exported):
    serials = [f"EVENTS-{index:04d}" for index in range(5)]
    for serial in serials:
        body = request_body(
            serial, "contoso.com", product(FABRIKAM, "RentalManagement"), product(NORTHWIND, "X")
        )
        token_of(post_validate(body))

    seen = [(a["serialNumber"], a["productName"]) for a in event_attributes(exported)]
    expected = [(s, name) for s in serials for name in ("RentalManagement", "X")]
    assert seen == expected


def test_rejected_request_sends_no_event(demo, exported):
    body = request_body(CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"))
    body["nonce"] = "short"

    response = post_validate(body)

    assert response.status_code == 400
    assert exported.get_finished_logs() == ()


def test_dimension_values_capped(demo, exported):
    long_url = "https://contoso-prod.operations.dynamics.com/" + "a" * 400
    body = request_body(
        CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"), hostUrl=long_url
    )
    token_of(post_validate(body))

    (attributes,) = event_attributes(exported)
    assert len(attributes["hostUrl"]) == telemetry.MAX_DIMENSION_LENGTH
    assert long_url.startswith(attributes["hostUrl"])
    assert attributes["serialNumber"] == CONTOSO_SERIAL


def test_events_carry_invocation_trace_context(demo, exported):
    context = InvocationContext("validate", traceparent=TRACEPARENT)
    span_id = context.trace_context.trace_parent.split("-")[2]
    request = validate_request(contoso_body())

    token_of(function("validate")(request, context))

    records = exported.get_finished_logs()
    assert len(records) == 4
    for record in records:
        assert record.log_record.trace_id == int(TRACE_ID, 16)
        assert record.log_record.span_id == int(span_id, 16)


def test_spans_in_invocation_are_its_children(exported):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    context = InvocationContext("validate", traceparent=TRACEPARENT)
    span_id = context.trace_context.trace_parent.split("-")[2]

    with telemetry.invocation(context):
        with provider.get_tracer("tests").start_as_current_span("TableClient.get_entity"):
            pass

    (span,) = spans.get_finished_spans()
    assert span.context.trace_id == int(TRACE_ID, 16)
    assert span.parent.span_id == int(span_id, 16)
    provider.shutdown()


def test_trace_context_detached_after_invocation(demo, exported):
    from opentelemetry import trace

    context = InvocationContext("validate", traceparent=TRACEPARENT)
    token_of(function("validate")(validate_request(contoso_body()), context))

    assert not trace.get_current_span().get_span_context().is_valid


def validate_request(body: dict):
    import azure.functions as func

    return func.HttpRequest(
        "POST",
        "http://localhost/api/v1/validate",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )


def secrets_of(token: str, key_file: Path) -> list[str]:
    """Return the strings that no log record may contain: token, signature, nonce, key."""
    signature = token.rsplit(".", 1)[1]
    key_lines = [line for line in key_file.read_text().splitlines() if "-----" not in line]
    return [token, signature, NONCE, *key_lines]


@pytest.mark.parametrize("sink", ["log line", "in-memory exporter"])
def test_no_token_nonce_or_key_in_log_records(demo, key_file, caplog, sink):
    exporter = InMemoryLogRecordExporter()
    if sink == "in-memory exporter":
        provider = LoggerProvider(shutdown_on_exit=False)
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        telemetry.use_logger_provider(provider)
    caplog.set_level(logging.DEBUG)

    token = token_of(post_validate(contoso_body()))

    assert caplog.records, "the validation wrote no log record"
    texts = [f"{r.getMessage()} {vars(r)!r}" for r in caplog.records]
    texts += [repr(a) for a in event_attributes(exporter)]
    for secret in secrets_of(token, key_file):
        assert [text for text in texts if secret in text] == []


def test_local_events_written_as_json_lines(demo, caplog):
    caplog.set_level(logging.INFO, logger="licensing.telemetry")

    token_of(post_validate(contoso_body()))

    # Log lines of the service may start with the request id, such as "[0f3c...] ".
    lines = [r.getMessage() for r in caplog.records if r.name == "licensing.telemetry"]
    marker = "LicenseValidation "
    events = [json.loads(line.split(marker, 1)[1]) for line in lines if marker in line]
    assert events == CONTOSO_EVENTS


class RaisingExporter(LogRecordExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, batch) -> LogRecordExportResult:
        self.calls += 1
        raise ConnectionError("ingestion endpoint unreachable")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class RaisingProcessor(LogRecordProcessor):
    def on_emit(self, log_record) -> None:
        raise RuntimeError("processor failed")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_validation_answers_when_exporter_raises(demo):
    exporter = RaisingExporter()
    processor = BatchLogRecordProcessor(exporter)
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(processor)
    telemetry.use_logger_provider(provider)

    token = token_of(post_validate(contoso_body()))
    processor.force_flush()

    assert token.count(".") == 2
    assert exporter.calls == 1
    provider.shutdown()


def test_validation_answers_when_emitting_raises(demo, caplog):
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(RaisingProcessor())
    telemetry.use_logger_provider(provider)
    caplog.set_level(logging.WARNING, logger="licensing.telemetry")

    token = token_of(post_validate(contoso_body()))

    assert token.count(".") == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "licensing.telemetry"]
    assert len(warnings) == 1
    assert warnings[0].endswith(
        f"Validation telemetry for serial {CONTOSO_SERIAL} failed (1 failures so far)"
    )


def worker_is_true(value: str | None) -> bool:
    """Read a setting the way the Functions Python worker does."""
    return value is not None and value.lower().strip() in ("1", "true", "t", "yes", "y")


@pytest.mark.parametrize(
    "worker_settings",
    [
        {},
        {"PYTHON_ENABLE_OPENTELEMETRY": "true"},
        {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"},
        {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "1"},
        {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "false"},
        {
            "PYTHON_ENABLE_OPENTELEMETRY": "true",
            "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true",
        },
    ],
    ids=["none", "context only", "worker", "worker as 1", "worker off", "both"],
)
def test_distro_configured_once(demo, monkeypatch, worker_settings):
    import azure.monitor.opentelemetry as distro
    from azure.core.settings import settings

    calls: list[dict] = []
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **options: calls.append(options))
    monkeypatch.setenv(
        telemetry.CONNECTION_STRING_SETTING,
        f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=http://127.0.0.1:9/",
    )
    for name, value in worker_settings.items():
        monkeypatch.setenv(name, value)

    # The worker configures the distro at its start when this setting is true.
    if worker_is_true(os.environ.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY")):
        distro.configure_azure_monitor()

    for _ in range(3):
        runtime.reset()
        token_of(post_validate(contoso_body()))

    assert len(calls) == 1
    assert settings.tracing_implementation().__name__ == "KeyFreeSpan"


# A Python process that serves validations like a Functions worker. It reads one JSON
# command per line on stdin, writes one JSON result per line on stdout, and logs on stderr.
WORKER_SCRIPT = """
import json
import logging
import sys

import azure.functions as func

from function_app import app
from licensing.devhost import InvocationContext
from licensing.registry import functions_of

logging.basicConfig(level=logging.INFO)
functions = {f.get_function_name(): f for f in functions_of(app)}
validate = functions["validate"].get_user_function()

for line in sys.stdin:
    command = json.loads(line)
    if "modules" in command:
        prefixes = tuple(command["modules"])
        loaded = sorted(name for name in sys.modules if name.startswith(prefixes))
        print(json.dumps({"modules": loaded}), flush=True)
        continue

    context = InvocationContext("validate", traceparent=command["traceparent"])
    request = func.HttpRequest(
        "POST",
        "http://localhost/api/v1/validate",
        headers={"Content-Type": "application/json"},
        body=json.dumps(command["body"]).encode(),
    )
    response = validate(request, context)
    answer = {
        "status": response.status_code,
        "body": response.get_body().decode(),
        "traceparent": context.trace_context.trace_parent,
    }
    print(json.dumps(answer), flush=True)
"""


class Worker:
    """The worker process; ``close`` ends it the way the Functions host does, by its input."""

    def __init__(self, env: dict[str, str], log_file: Path) -> None:
        self.log_file = log_file
        # Logs go to a file, because a pipe that is never read would fill up and block
        # the process.
        with log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WORKER_SCRIPT],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self.answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_answers, daemon=True).start()

    def _read_answers(self) -> None:
        for line in self.process.stdout:
            self.answers.put(line)

    def send(self, command: dict) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        try:
            return json.loads(self.answers.get(timeout=WORKER_ANSWER_SECONDS))
        except queue.Empty:
            pytest.fail(
                f"The worker sent no result within {WORKER_ANSWER_SECONDS:.0f} s. "
                f"Its log:\n{self.log()}",
                pytrace=False,
            )

    def validate(self, body: dict) -> dict:
        return self.send({"body": body, "traceparent": TRACEPARENT})

    def close(self) -> int:
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=WORKER_ANSWER_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(
                f"The worker did not exit within {WORKER_ANSWER_SECONDS:.0f} s. "
                f"Its log:\n{self.log()}",
                pytrace=False,
            )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


def worker_env(tmp_path: Path, connection_string: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in (telemetry.CONNECTION_STRING_SETTING, *WORKER_SETTINGS):
        env.pop(name, None)
    env.update(
        {
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            # The exporter would otherwise fetch settings from settings.sdk.monitor.azure.com.
            "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
            "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
            # The exporter keeps telemetry it failed to send under the temporary directory.
            "TMPDIR": str(tmp_path),
        }
    )
    if connection_string:
        env[telemetry.CONNECTION_STRING_SETTING] = connection_string
    return env


class IngestionServer(ThreadingHTTPServer):
    """Application Insights ingestion on 127.0.0.1: records every batch it is sent.

    ``answer`` is "accept" (200), "fail" (500) or "hang": hold every request unanswered
    until ``release`` is set.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, answer: str) -> None:
        super().__init__(("127.0.0.1", 0), IngestionHandler)
        self.answer = answer
        self.bodies: list[bytes] = []
        self.answered = 0
        self.received = threading.Event()
        self.release = threading.Event()

    @property
    def connection_string(self) -> str:
        port = self.server_address[1]
        return (
            f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
        )

    def envelopes(self) -> list[dict]:
        return [envelope for body in self.bodies for envelope in json.loads(body)]

    def events(self) -> list[dict]:
        return [e for e in self.envelopes() if e["data"]["baseType"] == "EventData"]


class IngestionHandler(BaseHTTPRequestHandler):
    server: IngestionServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.bodies.append(body)
        self.server.received.set()

        if self.server.answer == "hang":
            self.server.release.wait()
        status = 500 if self.server.answer == "fail" else 200
        count = len(json.loads(body))
        accepted = 0 if status == 500 else count
        reply = json.dumps({"itemsReceived": count, "itemsAccepted": accepted, "errors": []})
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply.encode())
        except OSError:
            # A worker that stopped waiting has closed the connection.
            return
        self.server.answered += 1

    def log_message(self, format: str, *args) -> None:
        pass


@contextmanager
def ingestion(answer: str) -> Iterator[IngestionServer]:
    server = IngestionServer(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_event_sent_through_azure_monitor_exporter(demo, tmp_path):
    with ingestion("accept") as server:
        worker = Worker(worker_env(tmp_path, server.connection_string), tmp_path / "worker.log")
        answer = worker.validate(contoso_body())
        assert worker.close() == 0, worker.log()

    assert answer["status"] == 200, answer
    token = json.loads(answer["body"])["token"]
    decisions = [item["status"] for item in claims_of(token)["products"]]
    events = server.events()
    assert [e["data"]["baseData"]["name"] for e in events] == ["LicenseValidation"] * 4
    properties = [e["data"]["baseData"]["properties"] for e in events]
    assert [p["status"] for p in properties] == decisions
    assert properties == CONTOSO_EVENTS


def test_exported_telemetry_shares_invocation_operation(demo, tmp_path):
    with ingestion("accept") as server:
        worker = Worker(worker_env(tmp_path, server.connection_string), tmp_path / "worker.log")
        answer = worker.validate(contoso_body())
        assert worker.close() == 0, worker.log()

    span_id = answer["traceparent"].split("-")[2]
    envelopes = server.envelopes()
    dependencies = [e for e in envelopes if e["data"]["baseType"] == "RemoteDependencyData"]
    traced = dependencies + server.events()
    assert len(dependencies) >= 3
    assert {e["tags"]["ai.operation.id"] for e in traced} == {TRACE_ID}
    assert {e["tags"]["ai.operation.parentId"] for e in server.events()} == {span_id}
    assert span_id in {e["tags"]["ai.operation.parentId"] for e in dependencies}


def test_exported_telemetry_has_no_log_or_secret(demo, tmp_path, key_file):
    with ingestion("accept") as server:
        worker = Worker(worker_env(tmp_path, server.connection_string), tmp_path / "worker.log")
        answer = worker.validate(contoso_body())
        assert worker.close() == 0, worker.log()

    token = json.loads(answer["body"])["token"]
    kinds = {e["data"]["baseType"] for e in server.envelopes()}
    assert "MessageData" not in kinds
    sent = b"".join(server.bodies).decode()
    for secret in [*secrets_of(token, key_file), "contoso.com", "Contoso Ltd", "C-1001"]:
        assert secret not in sent
    others = [e for e in server.envelopes() if e["data"]["baseType"] != "EventData"]
    assert others
    assert CONTOSO_SERIAL not in json.dumps(others)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "https://acct.table.core.windows.net/Environments(PartitionKey='5KQ2',RowKey='contoso.com')",
            "https://acct.table.core.windows.net/Environments()",
        ),
        (
            "http://127.0.0.1:10002/devstoreaccount1/tCustomers()?$filter=REDACTED",
            "http://127.0.0.1:10002/devstoreaccount1/tCustomers()",
        ),
        (
            "https://vault.vault.azure.net/secrets/signing-key/1a2b?api-version=7.5",
            "https://vault.vault.azure.net/secrets/signing-key/1a2b",
        ),
        (
            "https://acct.table.core.windows.net/Tables",
            "https://acct.table.core.windows.net/Tables",
        ),
    ],
)
def test_dependency_url_redacted(url, redacted):
    assert telemetry.redact_url(url) == redacted


def test_hanging_ingestion_does_not_hold_validation(demo, tmp_path):
    with ingestion("hang") as server:
        worker = Worker(worker_env(tmp_path, server.connection_string), tmp_path / "worker.log")
        first = worker.validate(contoso_body())
        # The batch processor exports from its own thread within a second or so.
        assert server.received.wait(EXPORT_WAIT_SECONDS), worker.log()

        second = worker.validate(contoso_body())
        unanswered_exports = len(server.bodies) - server.answered

        exit_code = worker.close()

    assert first["status"] == 200
    assert second["status"] == 200
    assert unanswered_exports >= 1
    assert exit_code == 0, worker.log()
    assert "Pending telemetry was not exported within 5.0 s" in worker.log()


def test_failing_ingestion_keeps_validation_ok(demo, tmp_path):
    with ingestion("fail") as server:
        worker = Worker(worker_env(tmp_path, server.connection_string), tmp_path / "worker.log")
        answer = worker.validate(contoso_body())
        exit_code = worker.close()

    assert answer["status"] == 200
    assert exit_code == 0, worker.log()
    assert len(server.events()) >= 4


def test_invalid_connection_string_falls_back_to_log(demo, tmp_path):
    connection_string = "InstrumentationKey=not-a-key;IngestionEndpoint=http://127.0.0.1:9/"
    worker = Worker(worker_env(tmp_path, connection_string), tmp_path / "worker.log")
    answer = worker.validate(contoso_body())
    exit_code = worker.close()

    log = worker.log()
    assert answer["status"] == 200
    assert exit_code == 0, log
    assert "Configuring Azure Monitor failed (ValueError)" in log
    assert "not-a-key" not in log
    assert log.count("LicenseValidation {") == 4


def test_local_run_imports_no_opentelemetry(demo, tmp_path):
    worker = Worker(worker_env(tmp_path, None), tmp_path / "worker.log")
    answer = worker.validate(contoso_body())
    loaded = worker.send({"modules": ["opentelemetry", "azure.monitor"]})["modules"]
    exit_code = worker.close()

    assert answer["status"] == 200
    assert loaded == []
    assert exit_code == 0, worker.log()
    assert worker.log().count("LicenseValidation {") == 4
