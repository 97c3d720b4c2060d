"""The `nurture` command as an operator uses it: migrate, and create, list and revoke API keys."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nurture.settings import Settings


def _nurture(
    *args: str, tmp_path: Path, database_url: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `nurture` in a clean environment: no NURTURE_* variables but the ones given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    clean.update(NURTURE_DATA_DIR=str(tmp_path), COLUMNS="200")
    if database_url is not None:
        clean.update(NURTURE_DATABASE_URL=database_url)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "nurture", *args], env=clean, capture_output=True, text=True, timeout=60
    )


def test_migrate_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    result = _nurture("migrate", database_url=f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Database at revision" in result.stdout


def test_api_key_lifecycle(settings: Settings, tmp_path: Path) -> None:
    url = settings.resolved_database_url
    created = _nurture("api-keys", "create", "--name", "billing app", database_url=url, tmp_path=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    prefix = key.split("_")[1]

    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/contacts", headers=headers).status_code == 200

        listed = _nurture("api-keys", "list", database_url=url, tmp_path=tmp_path)
        assert prefix in listed.stdout and "billing app" in listed.stdout
        assert key.split("_", 2)[2] not in listed.stdout, "list must never show the secret"

        # The whole key, as an operator may paste it, revokes it too, without echoing the secret.
        revoked = _nurture("api-keys", "revoke", key, database_url=url, tmp_path=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        assert f"Revoked API key {prefix} (billing app)" in revoked.stdout
        assert key.split("_", 2)[2] not in revoked.stdout + revoked.stderr
        assert client.get("/contacts", headers=headers).status_code == httpx.codes.UNAUTHORIZED

    again = _nurture("api-keys", "revoke", prefix, database_url=url, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"API key {prefix} (billing app) was already revoked on" in again.stdout

    unknown = _nurture("api-keys", "revoke", "nosuchkey", database_url=url, tmp_path=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "No API key with prefix nosuchkey"


def test_create_prints_a_long_name_on_one_line_and_the_key_last(settings: Settings, tmp_path: Path) -> None:
    # Brackets would be rich markup if the name were not escaped.
    name = "nightly import from the [bold]warehouse[/bold] " + "x" * 120
    created = _nurture(
        "api-keys",
        "create",
        "--name",
        name,
        database_url=settings.resolved_database_url,
        tmp_path=tmp_path,
        COLUMNS="80",
    )
    assert created.returncode == 0, created.stderr
    first, key = created.stdout.splitlines()
    assert f"({name})" in first and first.startswith("Created API key ")
    assert key.startswith("nrt_") and " " not in key


@pytest.mark.parametrize(
    ("name", "problem"), [("", "must not be empty"), ("   ", "must not be empty"), ("x" * 201, "at most 200")]
)
def test_create_refuses_an_empty_or_too_long_name(
    settings: Settings, tmp_path: Path, name: str, problem: str
) -> None:
    url = settings.resolved_database_url
    refused = _nurture("api-keys", "create", "--name", name, database_url=url, tmp_path=tmp_path)
    assert refused.returncode == 2
    assert "Invalid value for '--name'" in refused.stderr and problem in refused.stderr
    listed = _nurture("api-keys", "list", database_url=url, tmp_path=tmp_path)
    assert "nrt" not in listed.stdout and listed.stdout.count("\n") < 6, "no key was created"


@pytest.mark.parametrize("command", [["create", "--name", "x"], ["list"], ["revoke", "abcd1234"]])
def test_key_commands_refuse_an_unmigrated_sqlite_database_without_creating_it(
    tmp_path: Path, command: list[str]
) -> None:
    data_dir = tmp_path / "missing" / "x"
    result = _nurture("api-keys", *command, tmp_path=data_dir)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"The database at sqlite:///{data_dir / 'nurture.db'} is not migrated; run `nurture migrate` first"
    )
    assert not (tmp_path / "missing").exists(), "the command created the data folder"


def test_key_commands_refuse_an_existing_but_unmigrated_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    result = _nurture("api-keys", "list", database_url=f"sqlite:///{path}", tmp_path=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"The database at sqlite:///{path} is not migrated; run `nurture migrate` first"
    )


def test_key_commands_name_an_unreachable_database_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:s3cret@127.0.0.1:1/none"
    result = _nurture("api-keys", "list", database_url=url, tmp_path=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Cannot reach the database at postgresql+psycopg://nobody:***@127.0.0.1:1/none: ")
    assert "Connection refused" in line and "s3cret" not in line
