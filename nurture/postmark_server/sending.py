"""The send endpoints: `/email`, `/email/batch`, `/email/withTemplate`, `/email/batchWithTemplates`."""

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nurture.postmark_server.clock import api_time, now
from nurture.postmark_server.errors import (
    INACTIVE_RECIPIENT,
    INCOMPATIBLE_JSON,
    INVALID_JSON,
    INVALID_REQUEST,
    JSON_REQUIRED,
    TOO_MANY_BATCH_MESSAGES,
    PostmarkError,
)
from nurture.postmark_server.state import ServerState
from nurture.postmark_server.store import StoredMessage
from nurture.postmark_server.templates import not_found, render, template_fields
from nurture.postmark_server.validation import Email, validate_email

MAX_BATCH = 500
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_BATCH_BYTES = 50 * 1024 * 1024


def state_of(request: Request) -> ServerState:
    """The server state the app was built with."""
    state: ServerState = request.app.state.postmark
    return state


async def read_json(request: Request, *, limit: int = MAX_MESSAGE_BYTES) -> Any:
    """The request's JSON body, or the error Postmark answers for a missing, oversized or broken one."""
    body = await request.body()
    if len(body) > limit:
        raise PostmarkError(413, f"Request body too large: at most {limit} bytes.", status=413)
    if not body.strip():
        raise PostmarkError(JSON_REQUIRED, "A JSON request body is required.")
    try:
        return json.loads(body)
    except ValueError:
        raise PostmarkError(INVALID_JSON, "Received invalid JSON input.") from None


def _check_active(state: ServerState, email: Email) -> None:
    inactive = state.store.inactive(email.message_stream, [a.email for a in email.recipients])
    if inactive:
        raise PostmarkError(
            INACTIVE_RECIPIENT,
            "You tried to send to recipient(s) that have been marked as inactive. "
            f"Found inactive addresses: {', '.join(inactive)}. Inactive recipients are ones that have "
            "generated a hard bounce, a spam complaint, or a manual suppression.",
        )


def _answer(to: str, message: StoredMessage | None) -> dict[str, Any]:
    if message is None:
        # POSTMARK_API_TEST validates and answers without keeping anything.
        result = {
            "MessageID": str(uuid.uuid4()),
            "SubmittedAt": api_time(now()),
            "Message": "Test job accepted",
        }
    else:
        result = {
            "MessageID": message.message_id,
            "SubmittedAt": api_time(message.received_at),
            "Message": "OK",
        }
    return {"To": to, **result, "ErrorCode": 0}


def _accept(
    state: ServerState, email: Email, *, to: str, test: bool
) -> tuple[dict[str, Any], StoredMessage | None]:
    _check_active(state, email)
    message = None if test else state.store.add(email)
    return _answer(to, message), message


def _with_template(state: ServerState, data: Any) -> Email:
    if not isinstance(data, dict):
        raise PostmarkError(INVALID_REQUEST, "Invalid message: expected a JSON object.")
    template_id, alias, model = template_fields(data)
    template = state.store.template(template_id=template_id, alias=alias)
    if template is None:
        raise not_found()
    rendered = {
        **data,
        "Subject": render(template.subject, model, escape=False),
        "HtmlBody": render(template.html_body, model, escape=True),
        "TextBody": render(template.text_body, model, escape=False),
    }
    email = validate_email(rendered, streams=state.config.message_streams)
    email.template = {
        "TemplateId": template.template_id,
        "TemplateAlias": template.alias,
        "TemplateModel": model,
    }
    return email


def _to(data: Any) -> str:
    value = data.get("To") if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) else ""


def _batch(state: ServerState, items: list[Any], *, templated: bool, test: bool) -> JSONResponse:
    if len(items) > MAX_BATCH:
        raise PostmarkError(
            TOO_MANY_BATCH_MESSAGES,
            f"Too many batch messages ({len(items)}). You may send at most {MAX_BATCH} messages in a batch.",
        )
    # Postmark answers 200 for a batch and reports each message in order, failed ones included.
    answers: list[dict[str, Any] | None] = []
    valid: list[tuple[int, Email]] = []
    for item in items:
        try:
            streams = state.config.message_streams
            email = _with_template(state, item) if templated else validate_email(item, streams=streams)
            _check_active(state, email)
        except PostmarkError as exc:
            answers.append(exc.body())
            continue
        valid.append((len(answers), email))
        answers.append(None)
    # Kept together: one save of the store for the whole batch.
    accepted = [] if test else state.store.add_many([email for _, email in valid])
    for n, (index, _) in enumerate(valid):
        answers[index] = _answer(_to(items[index]), None if test else accepted[n])
    state.after_accept(accepted)
    return JSONResponse(answers)


def _test_mode(request: Request) -> bool:
    return bool(getattr(request.state, "test_token", False))


async def send(request: Request) -> JSONResponse:
    """`POST /email`: one message."""
    state = state_of(request)
    data = await read_json(request)
    email = validate_email(data, streams=state.config.message_streams)
    result, message = _accept(state, email, to=_to(data), test=_test_mode(request))
    state.after_accept([message] if message else [])
    return JSONResponse(result)


async def send_with_template(request: Request) -> JSONResponse:
    """`POST /email/withTemplate`: one message rendered from a stored template."""
    state = state_of(request)
    data = await read_json(request)
    result, message = _accept(state, _with_template(state, data), to=_to(data), test=_test_mode(request))
    state.after_accept([message] if message else [])
    return JSONResponse(result)


async def send_batch(request: Request) -> JSONResponse:
    """`POST /email/batch`: a JSON array of up to 500 messages."""
    data = await read_json(request, limit=MAX_BATCH_BYTES)
    if not isinstance(data, list):
        raise PostmarkError(
            INCOMPATIBLE_JSON, "Incompatible JSON input: /email/batch expects an array of messages."
        )
    return _batch(state_of(request), data, templated=False, test=_test_mode(request))


async def send_batch_with_templates(request: Request) -> JSONResponse:
    """`POST /email/batchWithTemplates`: `{"Messages": [...]}` of up to 500 templated messages."""
    data = await read_json(request, limit=MAX_BATCH_BYTES)
    messages = data.get("Messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        raise PostmarkError(INCOMPATIBLE_JSON, 'Incompatible JSON input: expected {"Messages": [...]}.')
    return _batch(state_of(request), messages, templated=True, test=_test_mode(request))


async def create_template(request: Request) -> JSONResponse:
    """`POST /templates`: a template with Name, Subject, HtmlBody and/or TextBody, and an optional Alias."""
    state = state_of(request)
    data = await read_json(request)
    if not isinstance(data, dict):
        raise PostmarkError(INVALID_REQUEST, "Invalid template: expected a JSON object.")
    fields = {}
    for name in ("Name", "Alias", "Subject", "HtmlBody", "TextBody"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise PostmarkError(INVALID_REQUEST, f"Invalid '{name}' value: expected a string.")
        fields[name] = value
    if not fields["Name"]:
        raise PostmarkError(INVALID_REQUEST, "The 'Name' field is required.")
    if fields["Subject"] is None:
        raise PostmarkError(INVALID_REQUEST, "The 'Subject' field is required.")
    if not fields["HtmlBody"] and not fields["TextBody"]:
        raise PostmarkError(INVALID_REQUEST, "Provide either template 'TextBody' or 'HtmlBody' or both.")
    if fields["Alias"] and state.store.alias_taken(fields["Alias"]):
        raise PostmarkError(INVALID_REQUEST, f"The 'Alias' {fields['Alias']!r} is already in use.")
    template = state.store.add_template(
        name=fields["Name"],
        alias=fields["Alias"] or None,
        subject=fields["Subject"],
        html_body=fields["HtmlBody"],
        text_body=fields["TextBody"],
    )
    return JSONResponse(template.as_json())


def _both(path: str, endpoint: Any) -> list[Route]:
    # postmarker posts some endpoints with a trailing slash and some without; Postmark takes both.
    return [Route(path, endpoint, methods=["POST"]), Route(path + "/", endpoint, methods=["POST"])]


routes = [
    *_both("/email", send),
    *_both("/email/batch", send_batch),
    *_both("/email/withTemplate", send_with_template),
    *_both("/email/batchWithTemplates", send_batch_with_templates),
    *_both("/templates", create_template),
]
