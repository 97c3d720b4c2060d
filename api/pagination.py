"""Cursor pagination: opaque cursors over ascending (or descending) ids."""

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import Problem

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    """One page of results; pass `next_cursor` back as `cursor` for the next page."""

    data: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    """Where a page starts and how long it is."""

    limit: int
    after_id: int | None


def encode_cursor(last_id: int) -> str:
    """An opaque cursor after the row with this id."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Problem(400, "Bad cursor", "cursor: not a cursor this API returned", field="cursor") from exc
    if not isinstance(value, int):
        raise Problem(400, "Bad cursor", "cursor: not a cursor this API returned", field="cursor")
    return value


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> PageParams:
    """The `limit` and `cursor` query parameters."""
    return PageParams(limit=limit, after_id=_decode_cursor(cursor) if cursor else None)


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
    return rows, encode_cursor(rows[-1].id) if more and rows else None
