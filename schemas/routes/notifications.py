"""The routes of `notifications`: the caller's in-app notifications."""

from __future__ import annotations

from schemas.api import ListQuery, NotificationList
from schemas.routing import RateClass, Route, RouteTable

__all__ = ["LIST_NOTIFICATIONS", "ROUTES"]

LIST_NOTIFICATIONS = Route(
    method="GET",
    path="/v1/notifications",
    operation_id="listNotifications",
    summary="The caller's in-app notifications, newest first",
    response_model=NotificationList,
    query_model=ListQuery,
    rate_class=RateClass.READ,
)

ROUTES = RouteTable("notifications", (LIST_NOTIFICATIONS,))
