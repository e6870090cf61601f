"""The index of Paystream's functions: name, kind, target, source, and the paths each serves.

The name is the folder under `functions/`, the Knative Service, the queue and the rule; the
target is the same name with underscores (a Python identifier). The paths come from the routes
each HTTP function declares (schemas.routes), read without importing the functions themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from schemas.routes import ROUTE_TABLES
from schemas.routing import EVERY_HTTP_FUNCTION

__all__ = [
    "FUNCTIONS",
    "FUNCTIONS_DIR",
    "HTTP_ROUTE_PREFIXES",
    "FunctionInfo",
    "function_info",
    "load_app",
    "load_module",
]

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    # functions-framework's signature: a CloudEvent function, or an HTTP one (every client
    # function, and `audit`, which also takes CloudEvents in batches: see shared.topology).
    signature_type: Literal["http", "cloudevent"]

    @property
    def target(self) -> str:
        return self.name.replace("-", "_")

    @property
    def serves_clients(self) -> bool:
        """Whether clients reach it through the API gateway (it owns a path prefix)."""
        return self.name in HTTP_ROUTE_PREFIXES.values()

    @property
    def source(self) -> Path:
        return FUNCTIONS_DIR / self.name / "main.py"


FUNCTIONS: tuple[FunctionInfo, ...] = (
    FunctionInfo("users", "http"),
    FunctionInfo("accounts", "http"),
    FunctionInfo("wallets", "http"),
    FunctionInfo("payments", "http"),
    FunctionInfo("transactions", "http"),
    FunctionInfo("notifications", "http"),
    FunctionInfo("admin", "http"),
    FunctionInfo("score-fraud", "cloudevent"),
    FunctionInfo("debit-wallet", "cloudevent"),
    FunctionInfo("settle", "cloudevent"),
    FunctionInfo("payout", "cloudevent"),
    FunctionInfo("notify", "cloudevent"),
    FunctionInfo("audit", "http"),
    FunctionInfo("relay-outbox", "cloudevent"),
    FunctionInfo("sweep-sagas", "cloudevent"),
    FunctionInfo("verify-kyc", "cloudevent"),
    FunctionInfo("archive-audit", "cloudevent"),
    FunctionInfo("reconcile", "cloudevent"),
)


def _route_prefixes() -> dict[str, str]:
    """Each declared route's gateway prefix → the function serving it. The paths every client
    function answers (health, the document) go to the first one."""
    first_http_function = next(info.name for info in FUNCTIONS if info.signature_type == "http")
    prefixes: dict[str, str] = {}
    for table in ROUTE_TABLES:
        function = first_http_function if table.function == EVERY_HTTP_FUNCTION else table.function
        for route in table.routes:
            owner = prefixes.setdefault(route.gateway_prefix, function)
            if owner != function:
                raise ValueError(f"{route.gateway_prefix} is declared by {owner} and {function}")
    return prefixes


# The API gateway's table (locally the gateway, on Kubernetes the Ingress): path prefix → function.
HTTP_ROUTE_PREFIXES: dict[str, str] = _route_prefixes()


def function_info(name: str) -> FunctionInfo:
    for info in FUNCTIONS:
        if info.name == name:
            return info
    raise KeyError(f"no function named {name!r}")


def load_module(name: str):
    """The function's main.py as a module of its own (its router, its ACCEPTED_TYPES), without
    functions-framework: for checks that read what a function declares."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"paystream_function_{name.replace('-', '_')}", function_info(name).source
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load function {name!r} from {function_info(name).source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_app(name: str):
    """The function's functions-framework app: the same binding it has in its own container."""
    import functions_framework

    info = function_info(name)
    return functions_framework.create_app(info.target, str(info.source), info.signature_type)
