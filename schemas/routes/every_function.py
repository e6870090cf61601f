"""The routes every HTTP function answers: liveness, readiness and the OpenAPI document."""

from __future__ import annotations

from schemas.api import HealthResponse
from schemas.routing import EVERY_HTTP_FUNCTION, Route, RouteTable

__all__ = ["DOCUMENT", "LIVENESS", "READINESS", "ROUTES"]

LIVENESS = Route(
    method="GET",
    path="/healthz",
    operation_id="getLiveness",
    summary="Liveness: the process answers",
    response_model=HealthResponse,
    bearer_auth=False,
)
READINESS = Route(
    method="GET",
    path="/readyz",
    operation_id="getReadiness",
    summary="Readiness: every dependency is reachable",
    response_model=HealthResponse,
    error_statuses=(503,),
    error_body_overrides=((503, HealthResponse),),
    bearer_auth=False,
)
DOCUMENT = Route(
    method="GET",
    path="/openapi.json",
    operation_id="getOpenApiDocument",
    summary="This document",
    response_model=None,
    bearer_auth=False,
)

ROUTES = RouteTable(EVERY_HTTP_FUNCTION, (LIVENESS, READINESS, DOCUMENT))
