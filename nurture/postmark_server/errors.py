"""Postmark's error shape: `{"ErrorCode": n, "Message": "..."}`, with HTTP 422 unless noted."""

from starlette.responses import JSONResponse

# Postmark API error codes the server answers with (postmarkapp.com/developer/api/overview).
INVALID_TOKEN = 10
INVALID_REQUEST = 300
INVALID_JSON = 402
INCOMPATIBLE_JSON = 403
JSON_REQUIRED = 409
INACTIVE_RECIPIENT = 406
TOO_MANY_BATCH_MESSAGES = 410
RATE_LIMITED = 429
MESSAGE_NOT_FOUND = 701
TEMPLATE_NOT_FOUND = 1101
STREAM_NOT_FOUND = 1235


class PostmarkError(Exception):
    """A request Postmark would refuse; `status` is the HTTP status, `code` the body's ErrorCode."""

    def __init__(self, code: int, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, object]:
        """The JSON body Postmark sends for this error."""
        return {"ErrorCode": self.code, "Message": self.message}

    def response(self) -> JSONResponse:
        """The HTTP response Postmark sends for this error."""
        return JSONResponse(self.body(), status_code=self.status)
