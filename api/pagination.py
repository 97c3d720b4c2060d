"""Cursor pagination: opaque cursors over ascending (or descending) ids."""

import base64
import binascii
import hashlib
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import Problem
from nurture.schemas.fields import MAX_ID

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    """One page of results; pass `next_cursor` back as `cursor` for the next page."""

    data: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    """Where a page starts, how long it is, and which query it belongs to."""

    limit: int
    after_id: int | None
    scope: str


def _scope(request: Request) -> str:
    # A cursor only makes sense for the resource and filters it came from; tie it to them.
    filters = sorted((k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "limit"))
    return hashlib.sha256(json.dumps([request.url.path, filters]).encode()).hexdigest()[:16]


def encode_cursor(last_id: int, scope: str) -> str:
    """An opaque cursor after the row with this id, valid for one query."""
    raw = json.dumps({"after": last_id, "scope": scope}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor(detail: str) -> Problem:
    return Problem(400, "Bad cursor", f"cursor: {detail}", field="cursor")


def _decode_cursor(cursor: str, scope: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after, cursor_scope = value["after"], value["scope"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _bad_cursor("not a cursor this API returned") from exc
    # bool is an int in Python; a cursor only ever holds a real row id.
    if isinstance(after, bool) or not isinstance(after, int) or not 0 < after <= MAX_ID:
        raise _bad_cursor("not a cursor this API returned")
    if cursor_scope != scope:
        raise _bad_cursor("it belongs to another resource or other filters; start again without it")
    return after


def page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> PageParams:
    """The `limit` and `cursor` query parameters."""
    scope = _scope(request)
    return PageParams(limit=limit, after_id=_decode_cursor(cursor, scope) if cursor else None, scope=scope)


def paginate(
    session: Session,
    query: Select[Any],
    id_column: InstrumentedAttribute[int],
    params: PageParams,
    *,
    newest_first: bool = False,
) -> tuple[list[Any], str | None]:
    """Run `query` for one page ordered by id; returns the rows and the next cursor."""
    if params.after_id is not None:
        query = query.where(id_column < params.after_id if newest_first else id_column > params.after_id)
    query = query.order_by(id_column.desc() if newest_first else id_column).limit(params.limit + 1)
    rows = list(session.scalars(query).unique())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    return rows, encode_cursor(rows[-1].id, params.scope) if more and rows else None
