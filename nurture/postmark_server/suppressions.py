"""The Suppressions API, per message stream: create, delete and dump."""

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nurture.postmark_server.errors import INVALID_REQUEST, STREAM_NOT_FOUND, PostmarkError
from nurture.postmark_server.sending import read_json, state_of


def _stream(request: Request) -> str:
    stream: str = request.path_params["stream"]
    streams = state_of(request).config.message_streams
    if streams is not None and stream not in streams:
        raise PostmarkError(
            STREAM_NOT_FOUND, f"The message stream for the provided 'ID' ({stream}) was not found."
        )
    return stream


async def _addresses(request: Request) -> list[Any]:
    data = await read_json(request)
    entries = data.get("Suppressions") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise PostmarkError(INVALID_REQUEST, 'Expected {"Suppressions": [{"EmailAddress": ...}]}.')
    return [e.get("EmailAddress") if isinstance(e, dict) else None for e in entries]


def _valid(address: Any) -> bool:
    return isinstance(address, str) and "@" in address.strip("@")


async def _each_address(request: Request, apply: Callable[[str, str], object], status: str) -> JSONResponse:
    # Postmark answers per address, in order: invalid ones fail, the others get `status`.
    stream = _stream(request)
    results = []
    for address in await _addresses(request):
        if not _valid(address):
            message = "An invalid email address was provided."
            results.append({"EmailAddress": address, "Status": "Failed", "Message": message})
            continue
        apply(stream, address)
        results.append({"EmailAddress": address, "Status": status, "Message": None})
    return JSONResponse({"Suppressions": results})


async def create(request: Request) -> JSONResponse:
    """`POST /message-streams/{stream}/suppressions`: suppress addresses manually."""
    store = state_of(request).store

    def suppress(stream: str, address: str) -> None:
        store.suppress(stream, address, reason="ManualSuppression", origin="Customer")

    return await _each_address(request, suppress, "Suppressed")


async def delete(request: Request) -> JSONResponse:
    """`POST /message-streams/{stream}/suppressions/delete`: reactivate addresses."""
    return await _each_address(request, state_of(request).store.unsuppress, "Deleted")


async def dump(request: Request) -> JSONResponse:
    """`GET /message-streams/{stream}/suppressions/dump`; filters: EmailAddress, SuppressionReason, Origin."""
    stream = _stream(request)
    params = {k.lower(): v for k, v in request.query_params.items()}
    entries = [s.as_json() for s in state_of(request).store.suppressions(stream)]
    for name, key in (
        ("EmailAddress", "emailaddress"),
        ("SuppressionReason", "suppressionreason"),
        ("Origin", "origin"),
    ):
        if params.get(key):
            entries = [e for e in entries if e[name].lower() == params[key].lower()]
    return JSONResponse({"Suppressions": entries})


routes = [
    Route("/message-streams/{stream}/suppressions", create, methods=["POST"]),
    Route("/message-streams/{stream}/suppressions/", create, methods=["POST"]),
    Route("/message-streams/{stream}/suppressions/delete", delete, methods=["POST"]),
    Route("/message-streams/{stream}/suppressions/delete/", delete, methods=["POST"]),
    Route("/message-streams/{stream}/suppressions/dump", dump, methods=["GET"]),
    Route("/message-streams/{stream}/suppressions/dump/", dump, methods=["GET"]),
]
