"""Per-request metrics and access log lines, named by route template, never by the raw path.

A raw path holds ids and signed tokens (`/u/{token}` opens a page showing the recipient's
address) and its query string may hold an address (`/contacts?email=`): neither belongs in a
metric label or a log line. uvicorn's own access log prints both, so the served API turns it off
(nurture.observability.logs.uvicorn_log_config) and logs through this middleware instead.
"""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nurture.observability.metrics import HTTP_DURATION, HTTP_REQUESTS, UNMATCHED

log = logging.getLogger("nurture.http")

# Any other method (a client may send any token) is counted as "other", so it adds no series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The path template of the route that served this request, as the router left it in the
    scope; UNMATCHED when none did (an unknown path, or a body refused before routing)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    """Counts each HTTP request by route template, method and status, times it, and logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before it answers

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            HTTP_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
            HTTP_DURATION.labels(route=route, method=method).observe(elapsed)
            log.info(
                "%s %s %s %.1f ms",
                method,
                route,
                status,
                elapsed * 1000,
                extra={"http_method": method, "http_route": route, "http_status": status},
            )
