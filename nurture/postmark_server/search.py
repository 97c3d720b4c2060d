"""The Messages API: `GET /messages/outbound` (search) and `GET /messages/outbound/{id}/details`."""

from collections.abc import Callable, Mapping
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nurture.postmark_server.clock import now, parse_search_date
from nurture.postmark_server.errors import INVALID_REQUEST, MESSAGE_NOT_FOUND, PostmarkError
from nurture.postmark_server.sending import state_of
from nurture.postmark_server.store import StoredMessage

MAX_COUNT = 500
MAX_WINDOW = 10000
METADATA_PREFIX = "metadata_"


def _integer(params: Mapping[str, str], name: str) -> int:
    value = params.get(name)
    if value is None:
        raise PostmarkError(INVALID_REQUEST, f"The '{name}' query parameter is required.")
    try:
        number = int(value)
    except ValueError:
        raise PostmarkError(INVALID_REQUEST, f"The '{name}' query parameter must be an integer.") from None
    if number < 0:
        raise PostmarkError(INVALID_REQUEST, f"The '{name}' query parameter must not be negative.")
    return number


def indexed(lag: float) -> Callable[[StoredMessage], bool]:
    """The predicate for messages the Messages API shows: those accepted at least `lag` seconds ago.

    Postmark indexes accepted messages for search after a while; until then search misses them and
    their details answer 701, though they were received (the local inbox shows them at once).
    """
    if lag <= 0:
        # Not a comparison with now(): a wall clock stepped back must not hide anything.
        return lambda _: True
    cutoff = now() - timedelta(seconds=lag)
    return lambda message: message.received_at <= cutoff


def message_filter(params: Mapping[str, str]) -> Callable[[StoredMessage], bool]:
    """The predicate for Postmark's outbound search filters.

    Supports recipient, fromemail, tag, status, subject, messagestream, fromdate, todate and one
    `metadata_<key>=<value>`; absent or empty parameters do not filter.

    Raises:
        PostmarkError: more than one metadata filter, or a date that does not parse.
    """
    metadata = [
        (k[len(METADATA_PREFIX) :], v) for k, v in params.items() if k.lower().startswith(METADATA_PREFIX)
    ]
    if len(metadata) > 1:
        raise PostmarkError(
            INVALID_REQUEST, "Only one metadata filter ('metadata_<key>') is allowed per search."
        )
    try:
        after = parse_search_date(params["fromdate"], end_of_day=False) if params.get("fromdate") else None
        before = parse_search_date(params["todate"], end_of_day=True) if params.get("todate") else None
    except ValueError:
        raise PostmarkError(
            INVALID_REQUEST, "'fromdate' and 'todate' must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS."
        ) from None
    recipient = (params.get("recipient") or "").lower()
    sender = (params.get("fromemail") or "").lower()
    tag, stream = params.get("tag"), params.get("messagestream")
    status, subject = (params.get("status") or "").lower(), (params.get("subject") or "").lower()

    def matches(message: StoredMessage) -> bool:
        email = message.email
        if recipient and recipient not in (a.email.lower() for a in email.recipients):
            return False
        if sender and sender not in email.from_.lower():
            return False
        if tag and email.tag != tag:
            return False
        if stream and email.message_stream != stream:
            return False
        # Every stored message has been sent; "queued" and the other statuses match nothing.
        if status and status != "sent":
            return False
        if subject and subject not in email.subject.lower():
            return False
        if after and message.received_at < after or before and message.received_at > before:
            return False
        if metadata:
            key, value = metadata[0]
            found = {k.lower(): v for k, v in email.metadata.items()}
            if found.get(key.lower()) != value:
                return False
        return True

    return matches


def metadata_of(params: Mapping[str, str]) -> tuple[str, str] | None:
    """The search's `metadata_<key>=<value>` filter as (key, value), or None."""
    for name, value in params.items():
        if name.lower().startswith(METADATA_PREFIX):
            return name[len(METADATA_PREFIX) :], value
    return None


async def outbound(request: Request) -> JSONResponse:
    """`GET /messages/outbound`: `{"TotalCount", "Messages"}`, newest first, indexed messages only."""
    params = request.query_params
    count, offset = _integer(params, "count"), _integer(params, "offset")
    if count > MAX_COUNT:
        raise PostmarkError(INVALID_REQUEST, f"The 'count' query parameter must be at most {MAX_COUNT}.")
    if count + offset > MAX_WINDOW:
        raise PostmarkError(INVALID_REQUEST, f"'count' plus 'offset' must be at most {MAX_WINDOW}.")
    where, state = message_filter(params), state_of(request)
    visible = indexed(state.search_lag)
    found = state.store.messages(lambda m: visible(m) and where(m), metadata=metadata_of(params))
    page = found[offset : offset + count]
    return JSONResponse({"TotalCount": len(found), "Messages": [m.summary() for m in page]})


async def details(request: Request) -> JSONResponse:
    """`GET /messages/outbound/{id}/details`: the message with bodies and events.

    Answers 701 for an unknown MessageID and for a message not yet indexed (see `indexed`).
    """
    state = state_of(request)
    message = state.store.get(request.path_params["message_id"])
    if message is None or not indexed(state.search_lag)(message):
        raise PostmarkError(MESSAGE_NOT_FOUND, "This message was not found.")
    return JSONResponse(message.details())


routes = [
    Route("/messages/outbound", outbound, methods=["GET"]),
    Route("/messages/outbound/", outbound, methods=["GET"]),
    Route("/messages/outbound/{message_id}/details", details, methods=["GET"]),
    Route("/messages/outbound/{message_id}/details/", details, methods=["GET"]),
]
