"""What the send pipeline's tests share: a pipeline on the local Postmark server, and reading back
what arrived there and what the ledger holds."""

from dataclasses import dataclass

from sqlalchemy import select

from nurture.db.models import Message
from nurture.db.session import session_factory
from nurture.email.pipeline import SendPipeline
from nurture.email.postmark import PostmarkProvider
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY, Content, SendRequest
from nurture.settings import Settings
from tests.isolated import isolated


def sending_settings(settings: Settings, postmark_server: RunningServer) -> Settings:
    """Settings sending through the local server; its search is never behind (tests of the lag
    set their own delay)."""
    return isolated(settings, postmark_server, public_url="https://nurture.example.com", reconcile_delay=0.0)


def receipts(prefix: str, count: int) -> list[SendRequest]:
    """`count` transactional emails written out, to addresses of their own: keys `prefix:0`..."""
    return [
        SendRequest(
            key=f"{prefix}:{n}",
            to_email=f"buyer{n}@example.com",
            content=Content(subject="Your receipt", html="<p>Thanks</p>"),
        )
        for n in range(count)
    ]


def pipeline_for(settings: Settings, *, timeout: float = 10) -> SendPipeline:
    """A send pipeline through Postmark (here, the local server) with this timeout per call."""
    provider = PostmarkProvider(
        server_token=settings.postmark_server_token, api_url=settings.postmark_api_url, timeout=timeout
    )
    return SendPipeline(
        sessions=session_factory(settings.resolved_database_url), settings=settings, provider=provider
    )


@dataclass
class Sending:
    """A pipeline, its settings and the local Postmark server it sends through."""

    settings: Settings
    pipeline: SendPipeline
    postmark: RunningServer

    def arrived(self, key: str) -> list[dict]:
        """The emails the server holds for a message key."""
        return self.postmark.messages(**{f"metadata_{METADATA_KEY}": key})

    def message(self, key: str) -> Message:
        """The ledger's row for a message key."""
        with session_factory(self.settings.resolved_database_url)() as session:
            row = session.scalar(select(Message).where(Message.key == key))
            assert row is not None
            return row
