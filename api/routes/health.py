"""/health: whether the database and Temporal answer; the one route that needs no key."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.temporal import TemporalConnection

router = APIRouter(tags=["health"])


class Check(BaseModel):
    """One dependency's state."""

    status: Literal["ok", "error"]
    detail: str | None = None


class Health(BaseModel):
    """Overall state and each dependency's."""

    status: Literal["ok", "degraded"]
    database: Check
    temporal: Check


def _check_database(request: Request) -> Check:
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
        return Check(status="ok")
    except Exception as exc:
        return Check(status="error", detail=str(exc).splitlines()[0])


async def _check_temporal(request: Request) -> Check:
    connection: TemporalConnection = request.app.state.temporal
    try:
        await connection.check()
        return Check(status="ok")
    except Exception as exc:
        return Check(status="error", detail=str(exc) or type(exc).__name__)


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request) -> JSONResponse:
    """200 when the database and Temporal both answer, else 503 saying which does not."""
    database = await asyncio.to_thread(_check_database, request)
    temporal = await _check_temporal(request)
    ok = database.status == "ok" and temporal.status == "ok"
    body = Health(status="ok" if ok else "degraded", database=database, temporal=temporal)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
