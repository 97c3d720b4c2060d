"""The control API under `/__local` (a prefix Postmark never uses): messages, events, faults, settings."""

import json
import uuid
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from nurture.postmark_server.clock import now
from nurture.postmark_server.errors import PostmarkError
from nurture.postmark_server.faults import parse_fault
from nurture.postmark_server.inbound import INBOUND_TIMEOUT, inbound_payload, postmark_would_retry
from nurture.postmark_server.search import message_filter
from nurture.postmark_server.sending import state_of
from nurture.postmark_server.state import check_search_lag, inbound_config, webhook_config
from nurture.postmark_server.webhooks import EVENT_TYPES, post_webhook

PREFIX = "/__local"
SETTINGS = ("search_lag",)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ValueError("body: invalid JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body: expected a JSON object")
    return data


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/")
    )


async def list_messages(request: Request) -> Response:
    """`GET /__local/messages`: every message in full, newest first; search filters apply."""
    try:
        where = message_filter(request.query_params)
    except PostmarkError as exc:
        return _problem(422, exc.message)
    return JSONResponse([m.full() for m in state_of(request).store.messages(where)])


async def get_message(request: Request) -> Response:
    """`GET /__local/messages/{id}`: one message in full."""
    message = state_of(request).store.get(request.path_params["message_id"])
    if message is None:
        return _problem(404, "message_id: no message with this MessageID")
    return JSONResponse(message.full())


async def clear_messages(request: Request) -> Response:
    """`DELETE /__local/messages` (or a form POST to `/__local/messages/clear`): forget every message."""
    state_of(request).store.clear_messages()
    if request.method == "POST":
        return RedirectResponse("/", status_code=303)
    return JSONResponse({"cleared": True})


async def fire_event(request: Request) -> Response:
    """`POST /__local/messages/{id}/events` `{"type", "link"?, "recipient"?}`: post that webhook.

    Answers `{"posted": <payload>, "url", "status", "error"}`; a form post (the inbox buttons)
    is redirected back to the message's page with the outcome.
    """
    state = state_of(request)
    message_id = request.path_params["message_id"]
    message = state.store.get(message_id)
    if message is None:
        return _problem(404, "message_id: no message with this MessageID")
    if _is_form(request):
        data: dict[str, Any] = dict(await request.form())
    else:
        try:
            data = await _json_object(request)
        except ValueError as exc:
            return _problem(422, str(exc))
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        return _problem(422, f"type: must be one of {', '.join(EVENT_TYPES)}")
    recipients = [a.email for a in message.email.recipients]
    recipient = data.get("recipient") or recipients[0]
    if not isinstance(recipient, str) or recipient.lower() not in (r.lower() for r in recipients):
        return _problem(422, f"recipient: not a recipient of this message ({', '.join(recipients)})")
    link = data.get("link") or None
    if link is not None and not isinstance(link, str):
        return _problem(422, "link: must be a string")
    payload, delivery = await state.fire(kind, message, recipient=recipient, link=link)
    if _is_form(request):
        outcome = {"fired": kind, "status": delivery.status or "", "error": delivery.error or ""}
        return RedirectResponse(f"{PREFIX}/inbox/{message_id}?{urlencode(outcome)}", status_code=303)
    return JSONResponse({"posted": payload, **delivery.as_json()})


async def faults(request: Request) -> Response:
    """`GET`, `POST` `{"kind", "count"?, "path"?, "seconds"?}` and `DELETE /__local/faults`."""
    queue = state_of(request).faults
    if request.method == "POST":
        try:
            queue.add(parse_fault(await _json_object(request)))
        except ValueError as exc:
            return _problem(422, str(exc))
        status = 201
    elif request.method == "DELETE":
        queue.clear()
        status = 200
    else:
        status = 200
    return JSONResponse({"faults": [f.as_json() for f in queue.pending()]}, status_code=status)


async def webhooks(request: Request) -> Response:
    """`GET` and `PUT /__local/webhooks` `{"url", "username", "password", "auto_delivery", "delay"}`."""
    state = state_of(request)
    if request.method == "PUT":
        try:
            state.configure_webhooks(webhook_config(await _json_object(request), state.webhooks))
        except ValueError as exc:
            return _problem(422, str(exc))
    return JSONResponse(state.webhooks.as_json())


async def receive_inbound(request: Request) -> Response:
    """`POST /__local/inbound` `{"from", "to", "cc"?, "subject"?, "text"?, "html"?, "headers"?}`.

    Acts as if Postmark received that email: posts its inbound webhook once (no retries; see the
    `inbound` module) and answers `{"posted": <payload>, "url", "status", "error",
    "postmark_would_retry"}`.
    """
    state = state_of(request)
    try:
        payload = inbound_payload(
            await _json_object(request), message_id=str(uuid.uuid4()), date=format_datetime(now())
        )
    except ValueError as exc:
        return _problem(422, str(exc))
    config = state.inbound
    if not config.url:
        return JSONResponse(
            {
                "posted": payload,
                "url": None,
                "status": None,
                "error": "no inbound webhook URL configured",
                "postmark_would_retry": False,
            }
        )
    delivery = await post_webhook(
        payload,
        url=config.url,
        auth=config.auth,
        transport=state.config.webhook_transport,
        timeout=INBOUND_TIMEOUT,
    )
    retry = postmark_would_retry(delivery.status)
    return JSONResponse({"posted": payload, **delivery.as_json(), "postmark_would_retry": retry})


async def inbound_webhook(request: Request) -> Response:
    """`GET` and `PUT /__local/webhooks/inbound` `{"url", "username", "password"}`: where email is posted.

    The URL may carry the credentials, as Postmark's InboundHookUrl does: `https://user:pass@host/path`.
    """
    state = state_of(request)
    if request.method == "PUT":
        try:
            state.configure_inbound(inbound_config(await _json_object(request), state.inbound))
        except ValueError as exc:
            return _problem(422, str(exc))
    return JSONResponse(state.inbound.as_json())


async def settings(request: Request) -> Response:
    """`GET` and `PUT /__local/settings` `{"search_lag"}`: server-wide behaviour; omitted keys stay."""
    state = state_of(request)
    if request.method == "PUT":
        try:
            data = await _json_object(request)
            unknown = sorted(set(data) - set(SETTINGS))
            if unknown:
                raise ValueError(f"{', '.join(unknown)}: unknown setting (known: {', '.join(SETTINGS)})")
            # Every value is checked before any is applied, so a bad body changes nothing.
            lag = check_search_lag(data["search_lag"]) if "search_lag" in data else state.search_lag
        except ValueError as exc:
            return _problem(422, str(exc))
        state.set_search_lag(lag)
    return JSONResponse({"search_lag": state.search_lag})


async def reset(request: Request) -> Response:
    """`POST /__local/reset`: no messages, suppressions, templates, faults; webhooks, settings as started."""
    state_of(request).reset()
    return JSONResponse({"reset": True})


routes = [
    Route(f"{PREFIX}/messages", list_messages, methods=["GET"]),
    Route(f"{PREFIX}/messages", clear_messages, methods=["DELETE"]),
    Route(f"{PREFIX}/messages/clear", clear_messages, methods=["POST"]),
    Route(f"{PREFIX}/messages/{{message_id}}", get_message, methods=["GET"]),
    Route(f"{PREFIX}/messages/{{message_id}}/events", fire_event, methods=["POST"]),
    Route(f"{PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route(f"{PREFIX}/webhooks", webhooks, methods=["GET", "PUT"]),
    Route(f"{PREFIX}/webhooks/inbound", inbound_webhook, methods=["GET", "PUT"]),
    Route(f"{PREFIX}/inbound", receive_inbound, methods=["POST"]),
    Route(f"{PREFIX}/settings", settings, methods=["GET", "PUT"]),
    Route(f"{PREFIX}/reset", reset, methods=["POST"]),
]
