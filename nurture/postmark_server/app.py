"""The app factory: Postmark's endpoints at the root path, token auth, fault injection, the inbox."""

import asyncio
import hmac

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from nurture.postmark_server import control, inbox, search, sending, suppressions
from nurture.postmark_server.errors import INVALID_TOKEN, RATE_LIMITED, PostmarkError
from nurture.postmark_server.faults import SEND_PATHS, Fault, normalize
from nurture.postmark_server.state import ServerConfig, ServerState

TEST_TOKEN = "POSTMARK_API_TEST"
TOKEN_HEADER = "X-Postmark-Server-Token"
MISSING_TOKEN = (
    "No Account or Server API tokens were supplied in the HTTP headers. "
    "Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token."
)
INVALID_TOKEN_MESSAGE = (
    "The Server Token you provided in the X-Postmark-Server-Token header was invalid. "
    "Please verify that you are using a valid token."
)


def _public(path: str) -> bool:
    # The inbox and the control API are the local server's own; Postmark's API needs the token.
    return path in ("/", "/favicon.ico") or path.startswith(control.PREFIX)


async def _body(response: Response) -> bytes:
    chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    return b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)


async def _suffer(fault: Fault, request: Request, call_next: RequestResponseEndpoint) -> Response:
    if fault.kind == "429":
        body = {
            "ErrorCode": RATE_LIMITED,
            "Message": "Rate limit exceeded. Please retry with exponential backoff.",
        }
        return JSONResponse(body, status_code=429)
    if fault.kind == "500":
        return PlainTextResponse("Internal Server Error", status_code=500)
    if fault.kind == "503":
        return PlainTextResponse("Service Unavailable", status_code=503)
    if fault.kind == "403_html":
        # What a network-layer block in front of Postmark answers: HTML, no ErrorCode.
        return HTMLResponse("<html><body><h1>403 Forbidden</h1></body></html>", status_code=403)
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
        return await call_next(request)
    # accept_then_500 and accept_then_hang: the request is handled in full (the message is kept) first.
    response = await call_next(request)
    content = await _body(response)
    if fault.kind == "accept_then_500":
        return PlainTextResponse("Internal Server Error", status_code=500)
    await asyncio.sleep(fault.seconds)
    return Response(content, status_code=response.status_code, headers=dict(response.headers))


class PostmarkMiddleware(BaseHTTPMiddleware):
    """Checks the server token, then applies the next queued fault that matches the request."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Answer 401 without a valid token; otherwise handle the request, perhaps with a fault."""
        path = request.url.path
        if _public(path):
            return await call_next(request)
        state: ServerState = request.app.state.postmark
        token = request.headers.get(TOKEN_HEADER)
        # The test token only validates sends; it reads nothing.
        test = token == TEST_TOKEN and normalize(path) in {p.lower() for p in SEND_PATHS}
        if not token:
            return PostmarkError(INVALID_TOKEN, MISSING_TOKEN, status=401).response()
        if not test and not hmac.compare_digest(token.encode(), state.server_token.encode()):
            return PostmarkError(INVALID_TOKEN, INVALID_TOKEN_MESSAGE, status=401).response()
        request.state.test_token = test
        fault = state.faults.take(path)
        if fault is None:
            return await call_next(request)
        return await _suffer(fault, request, call_next)


async def _postmark_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PostmarkError)
    return exc.response()


def create_app(config: ServerConfig | ServerState) -> Starlette:
    """The local Postmark-compatible server as an ASGI app, to be served at the root of its own port.

    Args:
        config: how to start, or an existing state to serve (the runner keeps it to reset it).
    """
    state = config if isinstance(config, ServerState) else ServerState(config)
    app = Starlette(
        routes=[*sending.routes, *search.routes, *suppressions.routes, *control.routes, *inbox.routes],
        middleware=[Middleware(PostmarkMiddleware)],
        exception_handlers={PostmarkError: _postmark_error},
    )
    app.state.postmark = state
    return app
