"""GET /metrics: the API's Prometheus metrics; public, or behind NURTURE_METRICS_TOKEN when set.

Not behind an API key: a scraper needs to read metrics, not contacts. The token, when set, is
what Prometheus sends with `authorization: {credentials: ...}` in its scrape config.
"""

import secrets

from fastapi import APIRouter, Request, Response

from api.deps import SettingsDep
from api.errors import Problem
from nurture.observability.metrics import exposition

router = APIRouter(tags=["metrics"])

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


def _check_token(request: Request, token: str) -> None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Compared in full every time, so the response time tells nothing about the token.
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
        detail = "Authorization: Bearer <NURTURE_METRICS_TOKEN> is required"
        raise Problem(401, "Unauthorized", detail, headers=CHALLENGE)


# Out of the OpenAPI document: Prometheus is no client of the API, and generated clients need no
# metrics call. docs/operations.md documents it; tests/api/test_metrics.py covers its token.
@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(request: Request, settings: SettingsDep) -> Response:
    """Request, send and email-event counters and latencies, in Prometheus's text format."""
    if settings.metrics_token:
        _check_token(request, settings.metrics_token)
    body, content_type = exposition()
    return Response(body, media_type=content_type)
