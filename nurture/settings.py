"""One Settings class, read once from NURTURE_* environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Only for `make dev`: production refuses to start with it (see the validator).
DEV_SECRET_KEY = "dev-only-secret-key-change-me"


class Settings(BaseSettings):
    """Every setting has a working default for `make dev`."""

    model_config = SettingsConfigDict(env_prefix="NURTURE_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".nurture")
    # Empty means the SQLite file `nurture.db` inside data_dir.
    database_url: str = ""
    secret_key: str = DEV_SECRET_KEY

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://localhost:8233"
    temporal_ui_port: int = 8233

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Public base URL of the API, used in links the API hands out.
    public_url: str = "http://localhost:8000"

    @model_validator(mode="after")
    def _production_secrets(self) -> "Settings":
        if self.env == "production" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError("NURTURE_SECRET_KEY must be set in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nurture.db').resolve()}"

    @property
    def temporal_port(self) -> int:
        """The port of temporal_address (the dev runner starts its server there)."""
        return int(self.temporal_address.rsplit(":", 1)[1])


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
