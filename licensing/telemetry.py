"""Validation telemetry: one Application Insights custom event per requested product.

Every validation sends one ``LicenseValidation`` event per requested product, with
exactly the custom dimensions in DIMENSIONS and nothing else about the customer's
environment. Without APPLICATIONINSIGHTS_CONNECTION_STRING each event is written as
one JSON log line instead, and no OpenTelemetry package is imported.

With a connection string, the first use configures the Azure Monitor OpenTelemetry
distro (``configure_azure_monitor``) once per process, in code. The Functions worker
can configure the same distro itself when PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY
is true. This module then uses the worker's configuration instead of configuring the
distro again, so that nothing is recorded twice. README.md ("Telemetry and privacy")
explains the choice.

Telemetry never fails a validation. Events go to the distro's batch processor, which
exports from a background thread, and every error here is logged and dropped.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import azure.functions as func

    from .decisions import Decision
    from .protocol import ValidationRequest

_LOGGER = logging.getLogger(__name__)

EVENT_NAME = "LicenseValidation"

# The custom dimensions of a LicenseValidation event, in the order validation_events
# fills them. No tenant, customer, nonce or token is sent. The README's privacy
# section lists the same names.
DIMENSIONS = (
    "serialNumber",
    "productName",
    "modelName",
    "modelVersion",
    "hostUrl",
    "isEnabled",
    "isInstalled",
    "isProductionEnvironment",
    "status",
)

# Longer dimension values are cut to this many characters. The request parser
# already limits each field, to at most 512 characters for hostUrl.
MAX_DIMENSION_LENGTH = 256

# The Azure Monitor exporter sends a log record with this attribute as a custom
# event of that name (azure-monitor-opentelemetry-exporter 1.0.0b35 and later).
CUSTOM_EVENT_ATTRIBUTE = "microsoft.custom_event.name"

# How long the worker waits at exit for pending telemetry to be exported.
FLUSH_TIMEOUT_SECONDS = 5.0

CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
WORKER_TELEMETRY_SETTING = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"

# The span attributes from which the Azure Monitor exporter takes a dependency's URL.
_URL_ATTRIBUTES = ("http.url", "url.full")

# The values the Functions Python worker reads as true in its own settings.
_WORKER_TRUE_VALUES = ("1", "true", "t", "yes", "y")

# The distro attaches its logging handler to this logger, which nothing writes to.
# The Functions host already sends the worker's log output to Application Insights
# as traces, so a handler on the root or "licensing" logger would record each line
# twice.
_DISTRO_LOGGER = "licensing.telemetry.distro"

# Only the Azure SDK instrumentation is wanted: Table Storage, Key Vault and Entra ID
# calls become dependencies. The service makes no other outgoing calls.
_INSTRUMENTATIONS = {
    "azure_sdk": {"enabled": True},
    **{
        name: {"enabled": False}
        for name in (
            "django",
            "fastapi",
            "flask",
            "httpx",
            "httpx2",
            "psycopg2",
            "requests",
            "urllib",
            "urllib3",
        )
    },
}


def validation_events(
    request: ValidationRequest, decisions: Sequence[Decision]
) -> list[dict[str, str]]:
    """Return the dimensions of one event per requested product, in request order.

    Booleans become "true" or "false", and every value is cut to MAX_DIMENSION_LENGTH.
    """
    events = []
    for item, decision in zip(request.products, decisions, strict=True):
        values = (
            request.serial_number,
            item.product_name,
            item.model_name,
            item.model_version,
            request.host_url,
            item.is_enabled,
            item.is_installed,
            request.is_production,
            decision.status,
        )
        events.append(dict(zip(DIMENSIONS, map(_dimension_value, values), strict=True)))

    return events


def redact_url(url: str) -> str:
    """Return ``url`` without its query and without the entity key of a Table Storage path.

    ``https://a.table.core.windows.net/Environments(PartitionKey='S',RowKey='t')?$top=1``
    becomes ``https://a.table.core.windows.net/Environments()``. The keys are a serial
    number and a tenant, and a dependency must not carry them.
    """
    parts = urlsplit(url)
    path = parts.path
    if "(" in path:
        path = path.split("(", 1)[0] + "()"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _dimension_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"

    return str(value)[:MAX_DIMENSION_LENGTH]


@contextmanager
def invocation(context: func.Context | None) -> Iterator[None]:
    """Configure telemetry on first use and make the invocation's trace context current.

    Inside the block, the Azure SDK calls (dependencies) and the events are children
    of the request that the Functions host records for this invocation. ``context``
    is None for callers without an invocation, such as tests.
    """
    with _current_sink().trace_context(context):
        yield


def record_validation(request: ValidationRequest, decisions: Sequence[Decision]) -> None:
    """Send one LicenseValidation event per requested product. Never raises."""
    try:
        sink = _current_sink()
        for dimensions in validation_events(request, decisions):
            sink.emit(dimensions)
    except Exception:
        _failures.record(request.serial_number)


def use_logger_provider(logger_provider: Any) -> None:
    """Send events to this OpenTelemetry ``LoggerProvider`` instead of configuring the distro.

    Tests use it with an in-memory exporter.
    """
    global _sink
    with _lock:
        _sink = _OpenTelemetrySink(logger_provider)


def reset() -> None:
    """Forget the sink, so that the next use reads the settings again.

    OpenTelemetry accepts its global providers once per process, so a distro that
    was configured stays configured.
    """
    global _sink
    with _lock:
        _sink = None


def flush(timeout_seconds: float = FLUSH_TIMEOUT_SECONDS) -> bool:
    """Export pending telemetry and shut the global providers down.

    Waits at most ``timeout_seconds`` and returns False when that was not enough. The
    SDK's own flush ignores its timeout while an export hangs, so the shutdown runs
    in a daemon thread that is abandoned when the time is up.
    """
    from opentelemetry import metrics, trace
    from opentelemetry._logs import get_logger_provider

    providers = (trace.get_tracer_provider(), get_logger_provider(), metrics.get_meter_provider())
    for provider in providers:
        # The SDK registers each provider's shutdown to run at exit as well, after this
        # flush. On a hanging endpoint each of those could wait 30 s per processor.
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            atexit.unregister(shutdown)

    worker = threading.Thread(
        target=_shut_down, args=(providers,), name="telemetry-flush", daemon=True
    )
    worker.start()
    worker.join(timeout_seconds)
    if worker.is_alive():
        _LOGGER.warning(
            "Pending telemetry was not exported within %.1f s and is dropped", timeout_seconds
        )
        return False

    return True


def _shut_down(providers: Sequence[Any]) -> None:
    for provider in providers:
        # The API's default providers (no telemetry configured) have no shutdown.
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()


class _LogLineSink:
    """Event sink that writes each event as one JSON log line, used without a connection string."""

    def emit(self, dimensions: Mapping[str, str]) -> None:
        _LOGGER.info("%s %s", EVENT_NAME, json.dumps(dimensions, ensure_ascii=False))

    @contextmanager
    def trace_context(self, context: func.Context | None) -> Iterator[None]:
        yield


class _OpenTelemetrySink:
    """Event sink that emits OpenTelemetry log records, which Azure Monitor sends as custom events."""

    def __init__(self, logger_provider: Any) -> None:
        self._logger = logger_provider.get_logger(__name__)

    def emit(self, dimensions: Mapping[str, str]) -> None:
        from opentelemetry._logs import LogRecord, SeverityNumber

        record = LogRecord(
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            event_name=EVENT_NAME,
            attributes={CUSTOM_EVENT_ATTRIBUTE: EVENT_NAME, **dimensions},
        )
        self._logger.emit(record)

    @contextmanager
    def trace_context(self, context: func.Context | None) -> Iterator[None]:
        from opentelemetry import context as otel_context

        token = _attach_trace_context(context)
        try:
            yield
        finally:
            if token is not None:
                otel_context.detach(token)


def _attach_trace_context(context: func.Context | None) -> object | None:
    """Attach the W3C trace context of the invocation and return the detach token, or None."""
    trace_context = getattr(context, "trace_context", None)
    traceparent = getattr(trace_context, "trace_parent", None)
    if not traceparent:
        return None

    try:
        from opentelemetry import context as otel_context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier = {"traceparent": traceparent}
        tracestate = getattr(trace_context, "trace_state", None)
        if tracestate:
            carrier["tracestate"] = tracestate
        return otel_context.attach(TraceContextTextMapPropagator().extract(carrier))
    except Exception:
        _LOGGER.warning("The invocation's trace context could not be attached", exc_info=True)
        return None


_lock = threading.Lock()
_sink: _LogLineSink | _OpenTelemetrySink | None = None
_flush_registered = False


def _current_sink() -> _LogLineSink | _OpenTelemetrySink:
    global _sink
    with _lock:
        if _sink is None:
            _sink = _build_sink(os.environ)
        return _sink


def _build_sink(env: Mapping[str, str]) -> _LogLineSink | _OpenTelemetrySink:
    connection_string = env.get(CONNECTION_STRING_SETTING, "").strip()
    if not connection_string:
        _LOGGER.info(
            "%s is not set: validation events are written to the log", CONNECTION_STRING_SETTING
        )
        return _LogLineSink()

    try:
        if _worker_configures_distro(env):
            _LOGGER.info(
                "%s is true: the Functions worker configured Azure Monitor",
                WORKER_TELEMETRY_SETTING,
            )
        else:
            _configure_distro(connection_string)
        _use_key_free_azure_spans()
        _register_flush_at_exit()

        from opentelemetry._logs import get_logger_provider

        return _OpenTelemetrySink(get_logger_provider())
    except Exception as exc:
        # Only the exception type is logged, because its message may quote the
        # connection string.
        _LOGGER.error(
            "Configuring Azure Monitor failed (%s); check %s. Validation events are "
            "written to the log instead",
            type(exc).__name__,
            CONNECTION_STRING_SETTING,
        )
        return _LogLineSink()


def _worker_configures_distro(env: Mapping[str, str]) -> bool:
    return env.get(WORKER_TELEMETRY_SETTING, "").strip().lower() in _WORKER_TRUE_VALUES


def _configure_distro(connection_string: str) -> None:
    # Configured here in code, not by the Functions worker: the worker setting
    # PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY stays unset. With the distro's
    # defaults the worker would hook the root logger, whose lines the Functions host
    # already sends to Application Insights, so each line would be recorded twice.
    from azure.monitor.opentelemetry import configure_azure_monitor

    # The distro's default detectors include azure_vm, which probes the instance
    # metadata endpoint. The Functions detector names the telemetry after the app,
    # as the worker does when it configures the distro. Tests set "otel".
    os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "azure_functions")
    configure_azure_monitor(
        connection_string=connection_string,
        logger_name=_DISTRO_LOGGER,
        log_record_processors=[_event_scope_remover()],
        instrumentation_options=_INSTRUMENTATIONS,
        # The host's samplingSettings keep every request, so keep every dependency too.
        sampling_ratio=1.0,
        # The Functions host sends live metrics and performance counters already.
        enable_live_metrics=False,
        enable_performance_counters=False,
    )
    _LOGGER.info("Azure Monitor OpenTelemetry configured")


def _use_key_free_azure_spans() -> None:
    """Make the Azure SDK record dependency URLs through redact_url.

    The distro sets azure-core's tracing implementation to OpenTelemetrySpan, and
    azure-core passes each request URL to the span's add_attribute. The Azure Monitor
    exporter sends that URL as the dependency's name and data, which for Table Storage
    would contain the serial number and the tenant.
    """
    from azure.core.settings import settings
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan

    class KeyFreeSpan(OpenTelemetrySpan):
        def add_attribute(self, key: str, value: str | int) -> None:
            if key in _URL_ATTRIBUTES and isinstance(value, str):
                value = redact_url(value)
            super().add_attribute(key, value)

    settings.tracing_implementation = KeyFreeSpan


def _event_scope_remover() -> Any:
    """Return a processor that clears the instrumentation scope of validation events.

    The Azure Monitor log exporter adds the scope name as a ``logger_name`` custom
    dimension. Without a scope, an event carries exactly DIMENSIONS. The processor
    must run before the distro's batch processor, which copies each record.
    """
    from opentelemetry.sdk._logs import LogRecordProcessor

    class EventScopeRemover(LogRecordProcessor):
        def on_emit(self, log_record: Any) -> None:
            attributes = log_record.log_record.attributes or {}
            if attributes.get(CUSTOM_EVENT_ATTRIBUTE) == EVENT_NAME:
                log_record.instrumentation_scope = None

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return EventScopeRemover()


def _register_flush_at_exit() -> None:
    # atexit runs the newest handler first, so this flush runs before the SDK
    # providers' own shutdown handlers, and removes them.
    global _flush_registered
    if not _flush_registered:
        atexit.register(flush, FLUSH_TIMEOUT_SECONDS)
        _flush_registered = True


class _FailureLog:
    """Counter of failed events that logs the first failure and then every 100th."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def record(self, serial_number: str) -> None:
        with self._lock:
            self._count += 1
            count = self._count
        if count == 1 or count % 100 == 0:
            _LOGGER.warning(
                "Validation telemetry for serial %s failed (%d failures so far)",
                serial_number,
                count,
                exc_info=True,
            )


_failures = _FailureLog()
