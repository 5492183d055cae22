"""Abuse limits, request ids, CORS and response hygiene."""

import json
import logging

import pytest

from licensing import runtime
from licensing.limits import RateLimiter, client_address
from tests.fixtures import FABRIKAM, call, error_of, post_validate, product, request_body


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_bucket_allows_capacity_then_waits():
    clock = Clock()
    limiter = RateLimiter(3, 60, clock)
    waits = [limiter.wait_time("serial") for _ in range(4)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3] == pytest.approx(20)


def test_bucket_refills_over_period():
    clock = Clock()
    limiter = RateLimiter(3, 60, clock)
    for _ in range(3):
        limiter.wait_time("serial")
    clock.now += 20
    assert limiter.wait_time("serial") == 0


def test_buckets_are_per_key():
    limiter = RateLimiter(1, 60, Clock())
    assert limiter.wait_time("a") == 0
    assert limiter.wait_time("b") == 0
    assert limiter.wait_time("a") > 0


def test_zero_capacity_turns_limit_off():
    limiter = RateLimiter(0, 60, Clock())
    assert all(limiter.wait_time("a") == 0 for _ in range(1000))


def test_bucket_memory_bounded():
    limiter = RateLimiter(1, 60, Clock(), max_keys=10)
    for index in range(100):
        limiter.wait_time(f"serial-{index}")
    assert len(limiter._buckets) == 10


@pytest.mark.parametrize(
    ("header", "address"),
    [
        ("203.0.113.7:51234", "203.0.113.7"),
        ("203.0.113.7", "203.0.113.7"),
        ("[2001:db8::1]:443, 10.0.0.1", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        (None, "unknown"),
    ],
)
def test_client_address_from_forwarded_for(header, address):
    assert client_address(header) == address


@pytest.fixture
def limited(demo, monkeypatch):
    monkeypatch.setenv("LICENSING_RATE_LIMIT_SERIAL_PER_HOUR", "2")
    monkeypatch.setenv("LICENSING_RATE_LIMIT_CLIENT_PER_MINUTE", "3")
    runtime.reset()


def body(serial: str) -> dict:
    return request_body(serial, "contoso.com", product(FABRIKAM, "RentalManagement"))


def test_serial_limit_answers_429(limited):
    statuses = [post_validate(body("5KQ2-77XD-9WMA")).status_code for _ in range(3)]
    response = post_validate(body("5KQ2-77XD-9WMA"), {"X-Forwarded-For": "198.51.100.9"})

    assert statuses[:2] == [200, 200]
    assert statuses[2] == 429
    assert response.status_code == 429
    assert error_of(response)["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1


def test_client_limit_answers_429(limited):
    forwarded = {"X-Forwarded-For": "203.0.113.50:4000"}
    serials = ["LIMIT-A", "LIMIT-B", "LIMIT-C", "LIMIT-D"]
    statuses = [post_validate(body(serial), forwarded).status_code for serial in serials]
    other = post_validate(body("LIMIT-E"), {"X-Forwarded-For": "203.0.113.51"})

    assert statuses == [200, 200, 200, 429]
    assert other.status_code == 200


def test_rejected_by_limit_writes_nothing(limited, demo):
    for _ in range(3):
        post_validate(body("LIMIT-NEW-1"), {"X-Forwarded-For": "192.0.2.1"})
    for _ in range(3):
        response = post_validate(body("LIMIT-NEW-2"), {"X-Forwarded-For": "192.0.2.1"})

    assert response.status_code == 429
    assert demo.get_environment("LIMIT-NEW-2", "contoso.com") is None


def test_errors_carry_request_id(service_env):
    response = post_validate(b"{", {"x-request-id": "finops-1234"})
    assert error_of(response)["requestId"] == "finops-1234"
    assert response.headers["x-request-id"] == "finops-1234"


def test_request_id_made_when_missing_or_malformed(service_env):
    response = post_validate(b"{", {"x-request-id": "bad id with spaces"})
    made = response.headers["x-request-id"]
    assert made != "bad id with spaces"
    assert len(made) == 32
    assert error_of(response)["requestId"] == made


def test_log_lines_carry_request_id(service_env, monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("LICENSING_SIGNING_KEY_FILE", str(tmp_path / "missing.pem"))
    runtime.reset()
    with caplog.at_level(logging.INFO, logger="licensing"):
        post_validate(body("LOGGED-1"), {"x-request-id": "trace-77"})

    own = [r for r in caplog.records if r.name.startswith("licensing")]
    assert own
    assert all("[trace-77]" in r.getMessage() for r in own)


def test_successful_answers_not_cached(demo):
    response = post_validate(body("5KQ2-77XD-9WMA"))
    assert response.headers["Cache-Control"] == "no-store"
    assert "Server" not in response.headers
    assert "X-Powered-By" not in response.headers


def test_cors_only_for_configured_origins(service_env, monkeypatch):
    monkeypatch.setenv("LICENSING_CORS_ORIGINS", "https://make.powerapps.com")
    allowed = call("keys", headers={"Origin": "https://make.powerapps.com"})
    other = call("keys", headers={"Origin": "https://evil.example"})

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://make.powerapps.com"
    assert "Access-Control-Allow-Origin" not in other.headers


def test_unexpected_failure_is_500_without_detail(service_env, monkeypatch):
    from licensing.api import validation

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(validation, "parse_validation_request", broken)
    response = post_validate(body("ANY"))

    assert response.status_code == 500
    assert error_of(response)["code"] == "INTERNAL_ERROR"
    assert b"secret internal detail" not in response.get_body()
    assert json.loads(response.get_body())["error"]["requestId"]
