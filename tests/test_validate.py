"""POST /api/v1/validate against Azurite, with tokens checked by PyJWT."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from licensing import runtime
from licensing.models import License
from licensing.settings import Settings
from licensing.signing import public_jwk
from tests.fixtures import (
    FABRIKAM,
    NONCE,
    NORTHWIND,
    error_of,
    post_validate,
    product,
    request_body,
)

CONTOSO_SERIAL = "5KQ2-77XD-9WMA"
ADVENTURE_SERIAL = "9HTR-41KD-8QWE"
TAILSPIN_SERIAL = "3MNB-66PO-1LKJ"


def public_key(key_file):
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    return private.public_key()


def claims_of(response, key_file, **options) -> dict:
    assert response.status_code == 200, response.get_body()
    token = json.loads(response.get_body())["token"]
    return jwt.decode(
        token,
        public_key(key_file),
        algorithms=["RS256"],
        issuer="https://licensing.test",
        options={"require": ["exp", "iat", "sub", "jti"], **options},
    )


def statuses(claims: dict) -> dict[str, str]:
    return {item["productName"]: item["status"] for item in claims["products"]}


def validate(key_file, serial, tenant, *products, **options) -> dict:
    return claims_of(post_validate(request_body(serial, tenant, *products)), key_file, **options)


def test_registered_environment_statuses(demo, key_file):
    claims = validate(
        key_file,
        CONTOSO_SERIAL,
        "contoso.com",
        product(FABRIKAM, "RentalManagement"),
        product(FABRIKAM, "ServiceContracts"),
        product(NORTHWIND, "WarehouseLabels"),
        product(NORTHWIND, "AdvancedPricing"),
        product(FABRIKAM, "LegacyBridge"),
        product(FABRIKAM, "NoSuchProduct"),
    )

    assert statuses(claims) == {
        "RentalManagement": "VALID",
        "ServiceContracts": "VALID",
        "WarehouseLabels": "EXPIRED",
        "AdvancedPricing": "VALID",
        "LegacyBridge": "PRODUCT_INACTIVE",
        "NoSuchProduct": "UNKNOWN_PRODUCT",
    }


def test_decisions_keep_request_order(demo, key_file):
    names = ["WarehouseLabels", "AdvancedPricing"]
    claims = validate(
        key_file, CONTOSO_SERIAL, "contoso.com", *(product(NORTHWIND, n) for n in names)
    )
    assert [item["productName"] for item in claims["products"]] == names


def test_valid_per_user_license_fields(demo, key_file):
    claims = validate(
        key_file, CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement")
    )
    decision = claims["products"][0]

    assert decision["licensed"] is True
    assert decision["licenseType"] == "Annual"
    assert decision["siteLicense"] is False
    assert decision["numberOfUsers"] == 25
    assert decision["expirationDate"] == "2030-12-31"
    assert decision["featureDisableDate"] == "2031-03-31"
    assert decision["publisherName"] == "Fabrikam Software"
    assert decision["termsUrl"] == "https://fabrikam.example/rental/terms"
    assert decision["disableFeature"] is False


def test_valid_site_license_has_no_user_count(demo, key_file):
    claims = validate(
        key_file, CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "ServiceContracts")
    )
    decision = claims["products"][0]
    assert decision["siteLicense"] is True
    assert "numberOfUsers" not in decision


def test_temp_license_valid(demo, key_file):
    claims = validate(
        key_file, CONTOSO_SERIAL, "contoso.com", product(NORTHWIND, "AdvancedPricing")
    )
    assert claims["products"][0]["licenseType"] == "Temp"
    assert claims["products"][0]["status"] == "VALID"


def test_expired_license_past_feature_disable_date(demo, key_file):
    claims = validate(
        key_file, ADVENTURE_SERIAL, "adventure-works.com", product(FABRIKAM, "RentalManagement")
    )
    decision = claims["products"][0]
    assert decision["status"] == "EXPIRED"
    assert decision["disableFeature"] is True


def test_expired_license_before_feature_disable_date(demo, key_file):
    claims = validate(
        key_file, CONTOSO_SERIAL, "contoso.com", product(NORTHWIND, "WarehouseLabels")
    )
    assert claims["products"][0]["disableFeature"] is False


def test_disabled_license(demo, key_file):
    claims = validate(
        key_file, ADVENTURE_SERIAL, "adventure-works.com", product(FABRIKAM, "ServiceContracts")
    )
    assert statuses(claims) == {"ServiceContracts": "DISABLED"}
    assert claims["products"][0]["licensed"] is False


def test_product_without_license_not_licensed(demo, key_file):
    claims = validate(
        key_file, TAILSPIN_SERIAL, "tailspintoys.com", product(FABRIKAM, "RentalManagement")
    )
    assert statuses(claims) == {"RentalManagement": "NOT_LICENSED"}


def test_inactive_environment(demo, key_file):
    claims = validate(
        key_file, "7PLM-22QA-3XZT", "contoso.com", product(FABRIKAM, "RentalManagement")
    )
    assert statuses(claims) == {"RentalManagement": "ENVIRONMENT_INACTIVE"}
    assert claims["environment"]["registered"] is True
    assert claims["environment"]["active"] is False


def test_serial_under_second_tenant_validates(demo, key_file):
    claims = validate(
        key_file, CONTOSO_SERIAL, "contoso.onmicrosoft.com", product(FABRIKAM, "RentalManagement")
    )
    assert statuses(claims) == {"RentalManagement": "VALID"}
    assert claims["environment"]["customerName"] == "Contoso Ltd"
    assert claims["environment"]["customerNumber"] == "C-1001"


def test_tenant_matched_case_insensitively(demo, key_file):
    claims = validate(
        key_file, CONTOSO_SERIAL, "Contoso.COM", product(FABRIKAM, "RentalManagement")
    )
    assert claims["tenant"] == "contoso.com"
    assert statuses(claims) == {"RentalManagement": "VALID"}


def test_disable_license_control_creates_perpetual_license(demo, key_file):
    claims = validate(
        key_file, ADVENTURE_SERIAL, "adventure-works.com", product(FABRIKAM, "FleetTelematics")
    )
    assert statuses(claims) == {"FleetTelematics": "VALID"}
    assert claims["products"][0]["licenseType"] == "Perpetual"

    environment = demo.get_environment(ADVENTURE_SERIAL, "adventure-works.com")
    _, licenses = demo.get_customer(environment.customer_id)
    created = licenses[f"{FABRIKAM}|fleettelematics"]
    assert created.license_type == "Perpetual"
    assert created.site_license is True
    assert created.created_by == "system"


def test_disable_license_control_license_created_once(demo, key_file):
    for _ in range(2):
        validate(
            key_file, ADVENTURE_SERIAL, "adventure-works.com", product(FABRIKAM, "FleetTelematics")
        )

    environment = demo.get_environment(ADVENTURE_SERIAL, "adventure-works.com")
    _, licenses = demo.get_customer(environment.customer_id)
    assert sum(1 for key in licenses if key.endswith("|fleettelematics")) == 1


def test_unknown_serial_signed_and_recorded(demo, key_file, clock):
    moment = datetime.now(UTC).replace(microsecond=0)
    clock(moment)
    body = request_body(
        "NEW-SERIAL-0001",
        "fabrikam-customer.com",
        product(FABRIKAM, "RentalManagement"),
        hostUrl="https://fabrikam-uat.sandbox.operations.dynamics.com",
        isProductionEnvironment=False,
    )
    claims = claims_of(post_validate(body), key_file)

    assert statuses(claims) == {"RentalManagement": "ENVIRONMENT_NOT_REGISTERED"}
    assert claims["environment"] == {"registered": False, "active": False}

    stored = demo.get_environment("NEW-SERIAL-0001", "fabrikam-customer.com")
    assert stored is not None
    assert stored.registered is False
    assert stored.host_url == "https://fabrikam-uat.sandbox.operations.dynamics.com"
    assert stored.is_production is False
    assert stored.first_seen == moment
    assert stored.last_seen == moment
    assert [(r.product_name, r.model_name) for r in stored.reported] == [
        ("RentalManagement", "ISVRentalManagement")
    ]


def test_unregistered_environment_keeps_first_seen(demo, key_file, clock):
    first = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    later = first + timedelta(days=1)
    body = request_body(
        "NEW-SERIAL-0002", "fabrikam-customer.com", product(FABRIKAM, "RentalManagement")
    )
    clock(first)
    post_validate(body)
    clock(later)
    post_validate(body)

    stored = demo.get_environment("NEW-SERIAL-0002", "fabrikam-customer.com")
    assert stored.first_seen == first
    assert stored.last_seen == later


def test_registered_environment_keeps_reported_products(demo, key_file):
    validate(
        key_file,
        CONTOSO_SERIAL,
        "contoso.com",
        product(FABRIKAM, "RentalManagement", modelVersion="10.0.40.1", isEnabled=False),
    )
    validate(key_file, CONTOSO_SERIAL, "contoso.com", product(NORTHWIND, "WarehouseLabels"))

    stored = demo.get_environment(CONTOSO_SERIAL, "contoso.com")
    reported = {r.product_name: r for r in stored.reported}
    assert set(reported) == {"RentalManagement", "WarehouseLabels"}
    assert reported["RentalManagement"].model_version == "10.0.40.1"
    assert reported["RentalManagement"].is_enabled is False
    assert reported["WarehouseLabels"].is_installed is True
    assert stored.customer_id is not None


def test_token_header_and_claims(demo, key_file):
    response = post_validate(
        request_body(CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"))
    )
    token = json.loads(response.get_body())["token"]
    header = jwt.get_unverified_header(token)
    claims = claims_of(response, key_file)
    settings = Settings.from_env()

    assert header["alg"] == "RS256"
    assert header["kid"] == public_jwk(public_key(key_file))["kid"]
    assert claims["sub"] == CONTOSO_SERIAL
    assert claims["tenant"] == "contoso.com"
    assert claims["nonce"] == NONCE
    assert claims["exp"] - claims["iat"] == settings.token_lifetime_hours * 3600
    assert claims["recheckAfter"] - claims["iat"] == settings.recheck_hours * 3600
    assert response.headers["Cache-Control"] == "no-store"


def test_every_token_has_fresh_jti(demo, key_file):
    body = request_body(CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"))
    ids = {claims_of(post_validate(body), key_file)["jti"] for _ in range(3)}
    assert len(ids) == 3


def test_token_fails_pyjwt_with_other_key(demo, key_file, tmp_path):
    from licensing.signing import generate_key

    other = tmp_path / "other.pem"
    generate_key(other, 2048)
    response = post_validate(
        request_body(CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"))
    )
    with pytest.raises(jwt.InvalidSignatureError):
        claims_of(response, other)


def test_serial_with_key_characters_round_trips(demo, key_file):
    serial = "AB/CD\\EF#12?34%5"
    claims = validate(key_file, serial, "contoso.com", product(FABRIKAM, "RentalManagement"))
    assert claims["sub"] == serial
    assert demo.get_environment(serial, "contoso.com").serial_number == serial


def test_non_ascii_customer_name_signed(store, key_file):
    from licensing.models import Customer, Environment, Product, Publisher

    store.put_publisher(Publisher(FABRIKAM, "Fabrikam"))
    store.put_product(Product(FABRIKAM, "RentalManagement"))
    store.put_customer(Customer("c-1", 'Société Générale <Ltd> & "Co"', "Ø-7"))
    store.put_environment(Environment("SER-UNI", "societe.example", customer_id="c-1"))
    store.put_license(License("c-1", FABRIKAM, "RentalManagement", "Perpetual", site_license=True))

    claims = validate(key_file, "SER-UNI", "societe.example", product(FABRIKAM, "RentalManagement"))
    assert claims["environment"]["customerName"] == 'Société Générale <Ltd> & "Co"'
    assert statuses(claims) == {"RentalManagement": "VALID"}


class RoundTrips:
    def __init__(self):
        self.count = 0

    def __call__(self, request):
        self.count += 1


@pytest.mark.parametrize("count", [1, 10, 100])
def test_round_trips_constant(demo, key_file, monkeypatch, count):
    trips = RoundTrips()
    services = runtime.build(Settings.from_env(), raw_request_hook=trips)
    monkeypatch.setattr(runtime, "_services", services)
    services.store.ensure_tables()
    products = [product(FABRIKAM, "RentalManagement")] + [
        product(FABRIKAM, f"Extra{i}") for i in range(count - 1)
    ]
    body = request_body(CONTOSO_SERIAL, "contoso.com", *products)

    post_validate(body)  # fills the catalog cache
    trips.count = 0
    response = post_validate(body)

    assert response.status_code == 200
    assert trips.count == 3


def _license_ending(store, day: date) -> None:
    from licensing.models import Customer, Environment, Product, Publisher

    store.put_publisher(Publisher(FABRIKAM, "Fabrikam"))
    store.put_product(Product(FABRIKAM, "RentalManagement"))
    store.put_customer(Customer("c-tz", "Zone Ltd"))
    store.put_environment(Environment("SER-TZ", "zone.example", customer_id="c-tz"))
    store.put_license(
        License(
            "c-tz", FABRIKAM, "RentalManagement", "Annual", site_license=True, expiration_date=day
        )
    )


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
@pytest.mark.parametrize("last_day", [date(2027, 6, 30), date(2028, 2, 29)])
def test_expiration_day_inclusive(store, key_file, clock, monkeypatch, zone, last_day):
    monkeypatch.setenv("LICENSING_TIME_ZONE", zone)
    runtime.reset()
    _license_ending(store, last_day)
    next_day = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), ZoneInfo(zone))
    no_exp = {"verify_exp": False, "verify_iat": False}

    clock((next_day - timedelta(seconds=1)).astimezone(UTC))
    last_second = validate(
        key_file, "SER-TZ", "zone.example", product(FABRIKAM, "RentalManagement"), **no_exp
    )
    clock(next_day.astimezone(UTC))
    first_expired = validate(
        key_file, "SER-TZ", "zone.example", product(FABRIKAM, "RentalManagement"), **no_exp
    )

    assert statuses(last_second) == {"RentalManagement": "VALID"}
    assert statuses(first_expired) == {"RentalManagement": "EXPIRED"}


def test_storage_down_answers_503(service_env, monkeypatch):
    monkeypatch.setenv(
        "LICENSING_TABLES_CONNECTION",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
    )
    runtime.reset()
    response = post_validate(
        request_body(CONTOSO_SERIAL, "contoso.com", product(FABRIKAM, "RentalManagement"))
    )

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert error_of(response)["code"] == "STORAGE_UNAVAILABLE"


def test_missing_key_answers_503_and_writes_nothing(store, monkeypatch, tmp_path):
    monkeypatch.setenv("LICENSING_SIGNING_KEY_FILE", str(tmp_path / "absent.pem"))
    runtime.reset()
    response = post_validate(
        request_body("NEW-SERIAL-0003", "contoso.com", product(FABRIKAM, "RentalManagement"))
    )

    assert response.status_code == 503
    assert error_of(response)["code"] == "SIGNER_UNAVAILABLE"
    assert store.get_environment("NEW-SERIAL-0003", "contoso.com") is None
