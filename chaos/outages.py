"""Ways to take the database away for a while: restart the PostgreSQL cluster, cut one database off,
or hold SQLite's write lock past the busy timeout."""

import asyncio
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL

CONFIG = Path("/etc/postgresql")
# How long the cluster restart may wait for other clients of the server (other test runs) to leave.
QUIET_WAIT = 60.0


def cluster_command() -> list[str] | None:
    """`pg_ctlcluster --skip-systemctl-redirect <version> main restart`, when the test server is a
    local Debian cluster this process may restart (as root); None otherwise."""
    host = make_url(POSTGRES_URL).host or "localhost"
    if (
        host not in ("127.0.0.1", "localhost", "::1")
        or not shutil.which("pg_ctlcluster")
        or not CONFIG.is_dir()
    ):
        return None
    versions = sorted(p.name for p in CONFIG.iterdir() if (p / "main").is_dir())
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


def other_clients(admin_url: str, *, ours: str) -> list[str]:
    """Client connections to databases not named `ours...` (another test run's), described."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT datname, application_name, count(*) FROM pg_stat_activity "
            "WHERE datname IS NOT NULL AND datname NOT LIKE %s AND pid <> pg_backend_pid() "
            "GROUP BY datname, application_name",
            (f"{ours}%",),
        ).fetchall()
    return [f"{n} on {database}" + (f" ({app})" if app else "") for database, app, n in rows]


async def wait_until_alone(admin_url: str, *, ours: str, timeout: float = QUIET_WAIT) -> list[str]:
    """Wait for other clients to leave the server; those still there after `timeout` (none: alone)."""
    deadline = time.monotonic() + timeout
    while True:
        others = await asyncio.to_thread(other_clients, admin_url, ours=ours)
        if not others or time.monotonic() > deadline:
            return others
        await asyncio.sleep(1)


def restart_cluster(command: list[str]) -> float:
    """Restart the cluster (every connection to it dies); the seconds it took.

    Raises:
        RuntimeError: pg_ctlcluster failed, with what it said.
    """
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr or done.stdout}")
    return time.monotonic() - began


def cut_database(admin_url: str, database: str, *, seconds: float) -> int:
    """Cut one PostgreSQL database off as a restart would, leaving the server's other databases be:
    refuse new connections, end every open one, wait `seconds`, let connections in again.

    Returns:
        How many connections were ended.
    """
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        try:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
            time.sleep(seconds)
        finally:
            admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
    return int(ended[0]) if ended else 0


def hold_sqlite(path: str, *, seconds: float) -> None:
    """Hold an SQLite file's write lock for `seconds`: writers wait, and past their busy timeout
    (30 s, nurture.db.session) fail with "database is locked". Readers go on (WAL)."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        connection.execute("ROLLBACK")
    finally:
        connection.close()
