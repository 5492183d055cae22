"""GET /api/v1/health: storage and signer readiness, no internals."""

import json

from licensing import runtime
from tests.fixtures import call

UNREACHABLE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


def body_of(response) -> dict:
    return json.loads(response.get_body())


def test_healthy_when_storage_and_key_work(service_env):
    response = call("health")
    assert response.status_code == 200
    assert body_of(response) == {"status": "healthy", "checks": {"storage": "ok", "signer": "ok"}}


def test_unhealthy_without_storage(service_env, monkeypatch):
    monkeypatch.setenv("LICENSING_TABLES_CONNECTION", UNREACHABLE)
    runtime.reset()
    response = call("health")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert body_of(response)["checks"] == {"storage": "unavailable", "signer": "ok"}


def test_unhealthy_without_key(service_env, monkeypatch, tmp_path):
    missing = tmp_path / "secret-folder" / "absent.pem"
    monkeypatch.setenv("LICENSING_SIGNING_KEY_FILE", str(missing))
    runtime.reset()
    response = call("health")

    assert response.status_code == 503
    assert body_of(response)["checks"] == {"storage": "ok", "signer": "unavailable"}
    assert b"secret-folder" not in response.get_body()


def test_unhealthy_when_not_configured(service_env, monkeypatch):
    monkeypatch.delenv("LICENSING_TABLES_CONNECTION")
    runtime.reset()
    response = call("health")

    assert response.status_code == 503
    assert body_of(response)["status"] == "unhealthy"
