"""The OpenAPI 2.0 definition: valid, complete, in sync, and true to the service."""

import json
import re
import threading
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV2SpecValidator

from function_app import app
from licensing import openapi, runtime
from licensing.__main__ import CONNECTOR_HOST, main
from licensing.devhost import make_server
from tests.fixtures import REGISTERED

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = ROOT / "connector" / "apiDefinition.swagger.json"
METHODS = {"get", "post", "put", "delete", "patch"}


def described() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in openapi.build()["paths"].items()
        for method in item
        if method in METHODS
    }


def registered() -> set[tuple[str, str]]:
    routes = set()
    for function in REGISTERED.values():
        trigger = function.get_trigger()
        for method in trigger.methods:
            routes.add(("/" + trigger.route, str(getattr(method, "value", method))))
    return routes


def test_definition_is_valid_swagger_2():
    validate(openapi.build(), cls=OpenAPIV2SpecValidator)


def test_every_route_described_and_every_description_routed():
    assert described() == registered()


def test_connector_file_matches_command(tmp_path):
    out = tmp_path / "api.json"
    assert main(["openapi", "--out", str(out)]) == 0
    assert out.read_text() == CONNECTOR.read_text()
    assert json.loads(CONNECTOR.read_text())["host"] == CONNECTOR_HOST


def test_operations_named_and_summarized():
    ids = []
    for item in openapi.build()["paths"].values():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            assert operation["summary"], method
    assert len(ids) == len(set(ids))


def test_parameters_and_properties_have_labels():
    document = openapi.build()
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation["parameters"]:
                assert parameter.get("x-ms-summary"), parameter["name"]
    for name, schema in document["definitions"].items():
        for prop_name, prop in schema.get("properties", {}).items():
            if "$ref" not in prop:
                assert prop.get("x-ms-summary"), f"{name}.{prop_name}"


def test_dates_declare_formats():
    properties = openapi.build()["definitions"]["CustomerProduct"]["properties"]
    assert properties["expirationDate"]["format"] == "date"
    environment = openapi.build()["definitions"]["Environment"]["properties"]
    assert environment["lastSeen"]["format"] == "date-time"


def test_lists_are_pageable():
    operation = openapi.build()["paths"]["/v1/customers"]["get"]
    assert operation["x-ms-pageable"] == {"nextLinkName": "nextLink"}


def test_served_definition_names_request_host(service_env):
    import azure.functions as func

    request = func.HttpRequest("GET", "https://licensing.example/api/v1/openapi.json", body=b"")
    response = REGISTERED["openapi_definition"].get_user_function()(request)
    assert response.status_code == 200
    assert json.loads(response.get_body())["host"] == "licensing.example"


def test_connector_properties_use_entra_id():
    properties = json.loads((ROOT / "connector" / "apiProperties.json").read_text())
    oauth = properties["properties"]["connectionParameters"]["token"]["oAuthSettings"]
    assert oauth["identityProvider"] == "aad"
    assert re.match(r"^https://", oauth["redirectUrl"])


# Schemathesis against the development host on loopback


@pytest.fixture
def api_schema(demo, monkeypatch):
    monkeypatch.setenv("LICENSING_AUTH_DISABLED", "true")
    for name in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "LICENSING_AUTH_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    runtime.reset()

    server = make_server(app, "127.0.0.1", 0, "api")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    # The definition's host, basePath and scheme point schemathesis at the server.
    yield schemathesis.openapi.from_dict(openapi.build(host, "http"))
    server.shutdown()
    server.server_close()


def test_api_never_fails_or_breaks_its_schema(api_schema):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    checks = [not_a_server_error, response_schema_conformance]
    base_url = api_schema.declared_base_url
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == len(described())

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(base_url=base_url, checks=checks)

        check()
