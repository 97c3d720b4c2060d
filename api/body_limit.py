"""Request body limits, answered as problem details (the framework's own limit answers in plain text)."""

from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem_response


def _too_large(limit: int) -> HTTPException:
    # An HTTPException passes through FastAPI's body parsing (anything else becomes a 400).
    return HTTPException(413, f"The request body is over {limit:,} bytes")


class BodyLimit:
    """Refuses bodies over `default` bytes, or over the limit given for a path."""

    def __init__(self, app: ASGIApp, *, default: int, per_path: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            too_large = _too_large(limit)
            response = problem_response(413, HTTPStatus(413).phrase, too_large.detail)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            # A chunked body declares no length; count it as it arrives.
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
            return message

        await self.app(scope, counted, send)
