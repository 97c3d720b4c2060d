"""Dependencies routes declare: settings, a database session, the caller's key, Temporal."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from temporalio.client import Client

from api.errors import Problem
from api.temporal import TemporalConnection
from nurture.crud.api_keys import verify_api_key
from nurture.db.models import ApiKey
from nurture.settings import Settings


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request; routes commit, anything uncommitted is rolled back."""
    with request.app.state.sessions() as session:
        yield session


_bearer = HTTPBearer(auto_error=False, description="An API key from `nurture api-keys create`")


def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's live API key, or a 401."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise Problem(401, "Unauthorized", "Authorization: Bearer <api key> is required", headers=challenge)
    with request.app.state.sessions() as session:
        key = verify_api_key(session, key=credentials.credentials)
        if key is None:
            raise Problem(401, "Unauthorized", "The API key is unknown or revoked", headers=challenge)
        session.commit()
        return key


async def get_temporal(request: Request) -> Client:
    """The Temporal client, or a 503 naming Temporal if it cannot be reached."""
    connection: TemporalConnection = request.app.state.temporal
    try:
        return await connection.client()
    except Exception as exc:
        raise Problem(503, "Temporal unavailable", f"Cannot reach Temporal: {exc}") from exc


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
CurrentKey = Annotated[ApiKey, Depends(require_api_key)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
