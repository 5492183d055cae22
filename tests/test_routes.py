"""The route table of function_app.py matches the design."""

from azure.functions import AuthLevel

from tests.fixtures import REGISTERED

EXPECTED = {
    "validate": ("v1/validate", ["POST"], AuthLevel.FUNCTION),
    "keys": ("v1/keys", ["GET"], AuthLevel.ANONYMOUS),
    "health": ("v1/health", ["GET"], AuthLevel.ANONYMOUS),
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
    routes = [route for route, _, _ in route_table().values()]
    assert len(routes) == len(set(routes))


def test_host_route_prefix_is_api():
    import json
    from pathlib import Path

    host = json.loads((Path(__file__).parent.parent / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == "api"
