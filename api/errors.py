"""RFC 9457 problem details for every error the API returns, naming the field at fault."""

import email.message
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One input at fault."""

    field: str
    message: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: what went wrong, and which fields were at fault."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


# Declared on every protected route so generated clients know the error shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetails, "description": description}
    for status, description in [
        (400, "Malformed JSON or cursor"),
        (401, "Missing, unknown or revoked API key"),
        (404, "Unknown id"),
        (409, "Duplicate of existing data"),
        (422, "Invalid value; `errors` names each field"),
    ]
}


class Problem(Exception):
    """An error to return as problem details; `field` names the input at fault."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.headers = headers


def not_found(resource: str, resource_id: object) -> Problem:
    """A 404 for a missing row."""
    return Problem(404, "Not found", f"{resource} {resource_id} does not exist")


def conflict(field: str, detail: str) -> Problem:
    """A 409 for a value that must be unique."""
    return Problem(409, "Conflict", detail, field=field)


def invalid(field: str, detail: str) -> Problem:
    """A 422 for a value that parsed but cannot be used (unknown reference, bad combination)."""
    return Problem(422, "Validation failed", f"{field}: {detail}", field=field)


def field_path(loc: Sequence[Any]) -> str:
    """`("body", "lists", 0, "list_id")` -> `lists[0].list_id`."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "form", "cookie"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    errors = [{"field": exc.field, "message": exc.detail or exc.title}] if exc.field else None
    return problem_response(exc.status, exc.title, exc.detail, errors=errors, headers=exc.headers)


def _is_json(content_type: str | None) -> bool:
    """Whether a Content-Type is one FastAPI parses as JSON (`application/json`, `*/*+json`)."""
    message = email.message.Message()
    message["content-type"] = content_type or ""
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in raw):
        return problem_response(400, "Malformed JSON", "The request body is not valid JSON")
    content_type = request.headers.get("content-type")
    # FastAPI parses JSON only when it is declared, and validates anything else as raw bytes:
    # "body: Input should be a valid dictionary" would hide that the body was never read as JSON.
    whole_body = any(tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing" for e in raw)
    if whole_body and not _is_json(content_type):
        detail = (
            f"Send the body as application/json (the request's Content-Type is {content_type or 'missing'})"
        )
        return problem_response(415, "Unsupported Media Type", detail)
    errors = []
    for error in raw:
        message = str(error.get("msg", "invalid value"))
        # pydantic prefixes validator messages with "Value error, "; the field says enough.
        message = message.removeprefix("Value error, ")
        errors.append({"field": field_path(error.get("loc", ())), "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(422, "Validation failed", detail, errors=errors)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    from http import HTTPStatus

    title = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    # FastAPI answers any failure to parse a JSON body with "There was an error parsing the body".
    if isinstance(exc.__cause__, UnicodeDecodeError):
        detail = "The request body is not valid UTF-8"
    elif isinstance(exc.__cause__, ValueError) and "integer string conversion" in str(exc.__cause__):
        detail = f"The request body holds a number of more than {sys.get_int_max_str_digits():,} digits"
    return problem_response(exc.status_code, title, detail, headers=exc.headers)


async def _integrity(_: Request, exc: Exception) -> JSONResponse:
    # Routes check uniqueness first and name the field; this catches the race where two
    # identical requests pass that check together and the database refuses the second.
    return problem_response(409, "Conflict", "The request conflicts with data written at the same time")


def _problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    default = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI files every response model under application/json; errors are problem+json.
        if app.openapi_schema is None:
            schema = default()
            for operations in schema["paths"].values():
                for operation in operations.values():
                    for response in operation.get("responses", {}).values():
                        content = response.get("content", {})
                        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                        if ref.endswith("/ProblemDetails"):
                            content[PROBLEM_JSON] = content.pop("application/json")
            for unused in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def install(app: FastAPI) -> None:
    """Make every error leave the app as problem details."""
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.openapi = _problem_openapi(app)  # type: ignore[method-assign]
