"""The functions registered on a FunctionApp, read once per app.

``FunctionApp.get_functions()`` records each function name it returns and
fails with "does not have a unique function name" when called a second time,
so every reader in this process shares one result.
"""

from __future__ import annotations

import threading

import azure.functions as func

_lock = threading.Lock()
_functions: dict[int, tuple[func.FunctionApp, list]] = {}


def functions_of(app: func.FunctionApp) -> list:
    with _lock:
        cached = _functions.get(id(app))
        if cached is None or cached[0] is not app:
            cached = (app, app.get_functions())
            _functions[id(app)] = cached
        return cached[1]
