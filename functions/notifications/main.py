"""notifications: the caller's in-app notifications, newest first."""

from __future__ import annotations

import flask
import functions_framework

from schemas.api import NotificationList, NotificationResponse
from schemas.routes import notifications as routes
from shared.bootstrap import platform
from shared.entrypoint import client_router
from shared.http import ApiError, Principal
from shared.services.notifications import list_notifications, render_notifications

router = client_router(routes.ROUTES)


@router.handles(routes.LIST_NOTIFICATIONS)
def list_for_caller(request: flask.Request, principal: Principal, query):
    if query.starting_after or query.ending_before:
        raise ApiError.invalid("cursor_unsupported", "notifications are listed newest first, without cursors")
    runtime = platform()
    with runtime.reader.connect() as conn:
        rows = list_notifications(conn, principal.user_id, limit=query.limit + 1)
        rendered = render_notifications(conn, rows[: query.limit], privacy=runtime.privacy)
    data = [NotificationResponse.model_validate(row) for row in rendered]
    return 200, NotificationList(data=data, has_more=len(rows) > query.limit)


@functions_framework.http
def notifications(request: flask.Request) -> flask.Response:
    return router.dispatch(request)
