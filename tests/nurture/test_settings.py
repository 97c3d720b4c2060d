"""Settings: working defaults for development, and production refusing the built-in secret."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from nurture.settings import Settings


def test_defaults_run_on_sqlite_in_the_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("NURTURE_DATABASE_URL", "NURTURE_DATA_DIR", "NURTURE_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / '.nurture' / 'nurture.db'}"
    assert settings.temporal_port == 7233


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NURTURE_DATABASE_URL", "postgresql+psycopg://u@db/nurture")
    monkeypatch.setenv("NURTURE_TEMPORAL_ADDRESS", "temporal:7000")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+psycopg://u@db/nurture"
    assert settings.temporal_port == 7000


PRODUCTION_SECRETS = {
    "secret_key": "s3cret-from-the-operator",
    "postmark_server_token": "a-real-server-token",
    "webhook_password": "a-real-webhook-password",
}


@pytest.mark.parametrize(
    ("left_out", "variable"),
    [
        ("secret_key", "NURTURE_SECRET_KEY"),
        ("postmark_server_token", "NURTURE_POSTMARK_SERVER_TOKEN"),
        ("webhook_password", "NURTURE_WEBHOOK_PASSWORD"),
    ],
)
def test_production_refuses_each_dev_secret(
    monkeypatch: pytest.MonkeyPatch, left_out: str, variable: str
) -> None:
    monkeypatch.delenv(variable, raising=False)
    given = {k: v for k, v in PRODUCTION_SECRETS.items() if k != left_out}
    with pytest.raises(ValidationError, match=f"{variable} must be set in production"):
        Settings(env="production", **given)
    assert Settings(env="production", **PRODUCTION_SECRETS).env == "production"


def test_malformed_tracking_keys_stop_the_process_at_start() -> None:
    with pytest.raises(ValidationError, match="NURTURE_TRACKING_KEYS entry 2 must be 'kid:secret'"):
        Settings(tracking_keys="2026a:first-secret,no-colon-here")
    assert Settings(tracking_keys="2026b:new,2026a:old").tracking_keys == "2026b:new,2026a:old"
