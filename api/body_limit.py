"""Request body limits, answered as problem details: size, and what a JSON body's text may hold.

The framework's own size limit answers in plain text, and its parser accepts JSON that later
layers cannot handle (see `api.json_body`); both are refused here, before anything parses the body.
"""

from collections import deque
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem_response
from api.json_body import MAX_DEPTH, nested_too_deeply, unstorable_value

# Form bodies are parsed by the framework into flat fields and files; everything else may be JSON.
_FORMS = (b"multipart/form-data", b"application/x-www-form-urlencoded")


def _too_large(limit: int) -> HTTPException:
    # An HTTPException passes through FastAPI's body parsing (anything else becomes a 400).
    return HTTPException(413, f"The request body is over {limit:,} bytes")


class BodyLimit:
    """Refuses bodies over `default` bytes, or over the limit given for a path; and JSON nested
    too deeply, or holding NaN, Infinity or a lone surrogate (see `api.json_body`)."""

    def __init__(self, app: ASGIApp, *, default: int, per_path: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(413, _too_large(limit).detail, scope, receive, send)
            return
        if not headers.get(b"content-type", b"").lower().startswith(_FORMS):
            await self._checked(limit, scope, receive, send)
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

    async def _checked(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole body (it is within the limit), check its text, then replay it to the app."""
        messages: deque[Message] = deque()
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the app hears it after what came before
            size += len(message.get("body", b""))
            if size > limit:
                await _refuse(413, _too_large(limit).detail, scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if nested_too_deeply(body):
            detail = f"The request body nests arrays and objects more than {MAX_DEPTH} levels deep"
            await _refuse(400, detail, scope, receive, send)
            return
        unstorable = unstorable_value(body)
        if unstorable is not None:
            field, problem = unstorable
            errors = [{"field": field, "message": problem}]
            await _refuse(
                422, f"{field}: {problem}", scope, receive, send, errors=errors, title="Validation failed"
            )
            return

        async def replay() -> Message:
            return messages.popleft() if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(
    status: int,
    detail: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    errors: list[dict[str, str]] | None = None,
    title: str | None = None,
) -> None:
    response = problem_response(status, title or HTTPStatus(status).phrase, detail, errors=errors)
    await response(scope, receive, send)
