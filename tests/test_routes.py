"""The route table of function_app.py matches the design."""

from azure.functions import AuthLevel

from licensing.api.admin import OPERATIONS
from tests.fixtures import REGISTERED

# Validate needs the function key; the admin API is guarded by Entra ID
# tokens instead, which the Power Platform connector sends.
EXPECTED = {
    "validate": ("v1/validate", ["POST"], AuthLevel.FUNCTION),
    "keys": ("v1/keys", ["GET"], AuthLevel.ANONYMOUS),
    "health": ("v1/health", ["GET"], AuthLevel.ANONYMOUS),
    "openapi_definition": ("v1/openapi.json", ["GET"], AuthLevel.ANONYMOUS),
    **{op.function_name: (op.route, [op.method], AuthLevel.ANONYMOUS) for op in OPERATIONS},
}


def route_table() -> dict:
    table = {}
    for name, function in REGISTERED.items():
        trigger = function.get_trigger()
        methods = sorted(str(m.value) if hasattr(m, "value") else str(m) for m in trigger.methods)
        table[name] = (trigger.route, methods, trigger.auth_level)
    return table


def test_route_table_matches_design():
    assert route_table() == EXPECTED


def test_routes_are_unique():
    routes = [(route, tuple(methods)) for route, methods, _ in route_table().values()]
    assert len(routes) == len(set(routes))


def test_admin_api_has_operations():
    assert len(OPERATIONS) >= 25


def test_host_route_prefix_is_api():
    import json
    from pathlib import Path

    host = json.loads((Path(__file__).parent.parent / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == "api"
