"""The `nurture` command as an operator uses it: migrate, and create, list and revoke API keys."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from api.main import create_app
from nurture.settings import Settings


def _nurture(*args: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(NURTURE_DATABASE_URL=database_url, NURTURE_DATA_DIR=str(tmp_path), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "nurture", *args], env=env, capture_output=True, text=True, timeout=60
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

        revoked = _nurture("api-keys", "revoke", prefix, database_url=url, tmp_path=tmp_path)
        assert revoked.returncode == 0
        assert client.get("/contacts", headers=headers).status_code == httpx.codes.UNAUTHORIZED

    unknown = _nurture("api-keys", "revoke", "nosuchkey", database_url=url, tmp_path=tmp_path)
    assert unknown.returncode == 1 and "No API key with prefix nosuchkey" in unknown.stdout
