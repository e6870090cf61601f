"""Every client route, declared once, in one table per HTTP function (see schemas.routing).

A function's `main.py` binds a handler to each route of its table; the OpenAPI document, the
API gateway's path table and the Ingress are derived from :data:`ROUTE_TABLES`.
"""

from __future__ import annotations

from schemas.routes import (
    accounts,
    admin,
    every_function,
    notifications,
    payments,
    transactions,
    users,
    wallets,
)
from schemas.routing import RouteTable

__all__ = ["ROUTE_TABLES"]

# In the order the document lists its tags; the routes every function answers come last.
ROUTE_TABLES: tuple[RouteTable, ...] = (
    users.ROUTES,
    accounts.ROUTES,
    wallets.ROUTES,
    payments.ROUTES,
    transactions.ROUTES,
    notifications.ROUTES,
    admin.ROUTES,
    every_function.ROUTES,
)
