"""The packages that a fresh worker process loads to process its first validation.

Azure Identity, Key Vault, Azure Monitor and the OpenTelemetry SDK take hundreds of
milliseconds to import, and a validation with a key file, the function key alone and
no Application Insights connection string needs none of them, nor PyJWT. Each cold
start of a Functions worker pays for what function_app imports, so the check runs in a
new interpreter. bench/cold_start.py measures the time.
"""

import json
import os
import subprocess
import sys

from tests.fixtures import FABRIKAM, ROOT, product, request_body

HEAVY_PACKAGES = ("azure.identity", "azure.keyvault", "azure.monitor", "opentelemetry", "msal")

# Imports the app, sends one validation request through the registered function, and
# prints the status and the loaded modules as JSON.
FIRST_VALIDATION = """
import json, sys
import azure.functions as func
import function_app
from licensing.registry import functions_of

validate = next(
    f.get_user_function() for f in functions_of(function_app.app)
    if f.get_function_name() == "validate"
)
request = func.HttpRequest(
    "POST", "http://localhost/api/v1/validate",
    headers={"Content-Type": "application/json"}, body=sys.stdin.buffer.read(),
)
response = validate(request)
print(json.dumps({"status": response.status_code, "modules": sorted(sys.modules)}))
"""


def first_validation(body: dict) -> dict:
    env = dict(os.environ)
    env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
    completed = subprocess.run(
        [sys.executable, "-c", FIRST_VALIDATION],
        input=json.dumps(body).encode("utf-8"),
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    return json.loads(completed.stdout.decode().strip().splitlines()[-1])


def test_first_validation_loads_no_heavy_package(demo):
    body = request_body("5KQ2-77XD-9WMA", "contoso.com", product(FABRIKAM, "RentalManagement"))

    result = first_validation(body)
    heavy = [name for name in result["modules"] if name.startswith(HEAVY_PACKAGES)]

    assert result["status"] == 200
    assert heavy == []
    assert "jwt" not in result["modules"]
