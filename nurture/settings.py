"""One Settings class, read once from NURTURE_* environment variables."""

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import NonNegativeInt, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nurture.temporal import task_queues

# Only for `make dev`: production refuses to start with it (see the validator).
DEV_SECRET_KEY = "dev-only-secret-key-change-me"
DEV_POSTMARK_TOKEN = "dev-postmark-server-token"
DEV_WEBHOOK_PASSWORD = "dev-webhook-password"


class Settings(BaseSettings):
    """Every setting has a working default for `make dev`."""

    model_config = SettingsConfigDict(env_prefix="NURTURE_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".nurture")
    # Empty means the SQLite file `nurture.db` inside data_dir.
    database_url: str = ""
    # PostgreSQL connections each process keeps open, and how many more it may open when busy
    # (SQLAlchemy's pool_size and max_overflow); a thread wanting one beyond waits up to 30 s.
    # SQLite ignores them: one writer and four readers per process (nurture/db/session.py).
    database_pool_size: PositiveInt = 10
    database_max_overflow: NonNegativeInt = 20
    secret_key: str = DEV_SECRET_KEY

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://localhost:8233"
    temporal_ui_port: int = 8233
    # A frontend with TLS (Temporal Cloud, a secured cluster): an API key (TLS follows), or a
    # client certificate and its key (mTLS; paths to PEM files), and the server's root CA when it
    # is no public one. `temporal_tls` alone uses TLS with the system's roots.
    temporal_api_key: str = ""
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    # Task queues the worker polls and the API starts runs on (tests give each run its own).
    task_queue: str = task_queues.MAIN
    email_task_queue: str = task_queues.EMAIL
    # Campaign batches a campaign run hands out at once. Each worker process takes at most
    # CAMPAIGN_BATCHES_PER_WORKER of them: set this to that many times the worker processes.
    campaign_batches_in_flight: PositiveInt = 4

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Public base URL of the API, used in links the API hands out and in tracking links in email.
    public_url: str = "http://localhost:8000"

    # Email. The defaults point at the local Postmark-compatible server that `make dev` starts;
    # production sets https://api.postmarkapp.com/ and a real server token.
    postmark_api_url: str = "http://127.0.0.1:8025/"
    postmark_server_token: str = DEV_POSTMARK_TOKEN
    postmark_transactional_stream: str = "outbound"
    # Replies to platform 1:1 email go to `<local>+<token>@<domain>` of this address: Postmark's
    # inbound address (`<hash>@inbound.postmarkapp.com`) or a domain forwarding to it. Empty:
    # no Reply-To is set, replies reach the sender's own mailbox and are not recorded.
    postmark_inbound_address: str = "reply@inbound.nurture.localhost"
    # How often a connected mailbox is read for replies.
    mailbox_sync_seconds: float = 60.0
    postmark_broadcast_stream: str = "broadcast"
    # Seconds for one Postmark HTTP call; postmarker has none by default and would hang forever.
    postmark_timeout: float = 10.0
    email_from: str = "Nurture <hello@example.com>"
    # After a send whose outcome is unknown (a 500, a timeout), wait this long before searching
    # Postmark for it: its search shows a new message only once indexed, and that lag is not
    # documented. Searching too early would find nothing and send a duplicate.
    reconcile_delay: float = 60.0
    # The local Postmark-compatible server's port (started by `make dev`).
    postmark_local_port: int = 8025
    # Postmark posts webhooks with HTTP basic auth; these are the credentials it must send.
    webhook_username: str = "postmark"
    webhook_password: str = DEV_WEBHOOK_PASSWORD
    # Signing keys for tracking and unsubscribe links, "kid:secret,kid:secret": the first signs,
    # all verify, so a key can be rotated without breaking links already in inboxes.
    # Empty means one key derived from secret_key.
    tracking_keys: str = ""

    # Observability (docs/operations.md). Log lines as "text" for people or "json" for a collector.
    log_format: Literal["text", "json"] = "text"
    # "host:port" where the worker serves the Temporal SDK's Prometheus metrics at /metrics.
    # Off when empty: a fixed port would stop a second worker on the same host from starting.
    worker_metrics_address: str = ""
    # Serve the API's Prometheus metrics at GET /metrics on the API's own port.
    api_metrics: bool = True
    # When set, GET /metrics wants `Authorization: Bearer <this>` (Prometheus's `authorization`
    # scrape option); when empty it is public, like /health. Not an API key: it reads metrics only.
    metrics_token: str = ""

    @field_validator("worker_metrics_address")
    @classmethod
    def _ip_and_port(cls, value: str) -> str:
        # Checked here so that a typo stops the worker (and `make dev`) at start with its name.
        # The SDK binds an IP address, not a host name: `localhost:9464` would fail in the worker.
        if not value:
            return value
        host, _, port = value.rpartition(":")
        try:
            ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        except ValueError:
            host = ""
        if not (host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"give an IP address and port, such as 0.0.0.0:9464, not {value!r}")
        return value

    @model_validator(mode="after")
    def _temporal_client_certificate(self) -> "Settings":
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("NURTURE_TEMPORAL_TLS_CERT and NURTURE_TEMPORAL_TLS_KEY go together")
        return self

    @model_validator(mode="after")
    def _tracking_keys(self) -> "Settings":
        # A malformed key list must stop the process at start, not break links at the first click.
        from nurture.tracking.tokens import parse_keys

        parse_keys(self.tracking_keys, secret_key=self.secret_key)
        return self

    @model_validator(mode="after")
    def _production_secrets(self) -> "Settings":
        if self.env != "production":
            return self
        for name, value, default in [
            ("NURTURE_SECRET_KEY", self.secret_key, DEV_SECRET_KEY),
            ("NURTURE_POSTMARK_SERVER_TOKEN", self.postmark_server_token, DEV_POSTMARK_TOKEN),
            ("NURTURE_WEBHOOK_PASSWORD", self.webhook_password, DEV_WEBHOOK_PASSWORD),
        ]:
            if value == default:
                raise ValueError(f"{name} must be set in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nurture.db').resolve()}"

    @property
    def campaign_task_queue(self) -> str:
        """Campaign batches' queue, named after the email queue (tests give each run its own)."""
        return task_queues.campaign_batches(self.email_task_queue)

    @property
    def temporal_port(self) -> int:
        """The port of temporal_address (the dev runner starts its server there)."""
        return int(self.temporal_address.rsplit(":", 1)[1])


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
