"""Azure Functions entry point: registers the blueprints, nothing else."""

import azure.functions as func

from licensing.api import admin, discovery, health, validation

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(validation.bp)
app.register_functions(health.bp)
app.register_functions(admin.bp)
app.register_functions(discovery.bp)
