"""The running server's state: configuration, store, faults, webhook settings, and firing events."""

import asyncio
import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nurture.postmark_server.clock import api_time, now
from nurture.postmark_server.faults import Faults
from nurture.postmark_server.store import Store, StoredMessage
from nurture.postmark_server.webhooks import MESSAGE_EVENT, Delivery, build_payload, post_webhook

# Postmark's test address: accepted, then it bounces (postmarkapp.com/developer, "sandbox").
HARD_BOUNCE_ADDRESS = "hardbounce@bounce-testing.postmarkapp.com"
# What each event that deactivates a recipient records as the suppression reason.
SUPPRESSION_REASON = {
    "Bounce": "HardBounce",
    "SpamComplaint": "SpamComplaint",
    "SubscriptionChange": "ManualSuppression",
}


@dataclass(frozen=True)
class WebhookConfig:
    """Where webhooks go and whether a Delivery webhook follows every accepted send.

    `delay` is the seconds between acceptance and the automatic Delivery (or test-address Bounce)
    webhook, so that the sender has recorded the MessageID before the webhook arrives.
    """

    url: str | None = None
    auth: tuple[str, str] | None = None
    auto_delivery: bool = False
    delay: float = 0.5

    def as_json(self) -> dict[str, Any]:
        """The configuration as the control API shows it (the password is not shown)."""
        return {
            "url": self.url,
            "username": self.auth[0] if self.auth else None,
            "auto_delivery": self.auto_delivery,
            "delay": self.delay,
        }


@dataclass(frozen=True)
class InboundConfig:
    """Where received email is posted: Postmark's one inbound webhook URL per server (InboundHookUrl).

    Postmark takes its credentials as userinfo in that URL; here they are kept apart in `auth`, so that
    the URL can be shown and reported without the password.
    """

    url: str | None = None
    auth: tuple[str, str] | None = None

    @classmethod
    def at(cls, url: str | None, auth: tuple[str, str] | None = None) -> "InboundConfig":
        """Post to `url`, with the credentials in it (`https://user:pass@host/path`) or in `auth`.

        Raises:
            ValueError: not an http(s) URL, or credentials both in the URL and in `auth`.
        """
        url = _url(url)
        if url is None:
            return cls(None, auth)
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"url: {exc}") from None
        if not parsed.userinfo:
            return cls(url, auth)
        if auth is not None:
            raise ValueError("url, username: give the credentials in the URL or apart, not both")
        return cls(str(parsed.copy_with(userinfo=b"")), (parsed.username, parsed.password))

    def as_json(self) -> dict[str, Any]:
        """The configuration as the control API shows it (the password is not shown)."""
        return {"url": self.url, "username": self.auth[0] if self.auth else None}


@dataclass(frozen=True)
class ServerConfig:
    """How the server starts.

    Args:
        server_token: the X-Postmark-Server-Token it accepts.
        webhooks: where it posts webhooks.
        inbound: where it posts the inbound webhook for email it is told it received.
        message_streams: the stream IDs that exist; None accepts any.
        server_id: the ServerID in webhooks.
        data_file: a JSON file that keeps messages, suppressions and templates across restarts.
        webhook_transport: an httpx transport for webhooks (e.g. ASGITransport to an app in a test).
        search_lag: seconds an accepted message stays out of the Messages API, as Postmark's indexing lag.
    """

    server_token: str
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
    message_streams: frozenset[str] | None = frozenset({"outbound", "broadcast"})
    server_id: int = 1
    data_file: Path | None = None
    webhook_transport: httpx.AsyncBaseTransport | None = None
    search_lag: float = 0.0


def check_search_lag(seconds: Any) -> float:
    """A valid `search_lag` as a float.

    Raises:
        ValueError: not a non-negative number, with a message naming `search_lag`.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < float("inf"):
        raise ValueError("search_lag: must be a non-negative number of seconds")
    return float(seconds)


class ServerState:
    """What the app's handlers share; safe to use from the server's loop and from other threads."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = Store(config.data_file)
        self.faults = Faults()
        self._lock = threading.Lock()
        self._token = config.server_token
        self._webhooks = config.webhooks
        self._inbound = config.inbound
        self._search_lag = check_search_lag(config.search_lag)
        # Bumped by reset(): events scheduled before it are dropped instead of leaking into what follows.
        self._generation = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def server_token(self) -> str:
        """The server token requests must carry."""
        with self._lock:
            return self._token

    @property
    def webhooks(self) -> WebhookConfig:
        """The current webhook configuration."""
        with self._lock:
            return self._webhooks

    def configure_webhooks(self, config: WebhookConfig) -> None:
        """Replace the webhook configuration."""
        with self._lock:
            self._webhooks = config

    @property
    def inbound(self) -> InboundConfig:
        """The current inbound webhook configuration."""
        with self._lock:
            return self._inbound

    def configure_inbound(self, config: InboundConfig) -> None:
        """Replace the inbound webhook configuration."""
        with self._lock:
            self._inbound = config

    @property
    def search_lag(self) -> float:
        """Seconds after acceptance before a message shows in `GET /messages/outbound` and its details."""
        with self._lock:
            return self._search_lag

    def set_search_lag(self, seconds: float) -> None:
        """Change the search lag; it applies at once to every message, already accepted or not.

        Raises:
            ValueError: `seconds` is not a non-negative number.
        """
        lag = check_search_lag(seconds)
        with self._lock:
            self._search_lag = lag

    def reset(self, *, server_token: str | None = None) -> None:
        """Back to a fresh start: no messages, suppressions, templates or faults; webhooks, lag as started."""
        with self._lock:
            self._generation += 1
            self._webhooks = self.config.webhooks
            self._inbound = self.config.inbound
            self._search_lag = self.config.search_lag
            if server_token is not None:
                self._token = server_token
        self.store.clear()
        self.faults.clear()

    async def fire(
        self, kind: str, message: StoredMessage, *, recipient: str, link: str | None = None
    ) -> tuple[dict[str, Any], Delivery]:
        """Apply an event to the message and its recipient, post its webhook; return both."""
        at = now()
        first_open = not any(
            e["Type"] == "Opened" and e["Recipient"].lower() == recipient.lower() for e in message.events
        )
        payload = build_payload(
            kind,
            message,
            recipient=recipient,
            at=at,
            server_id=self.config.server_id,
            link=link,
            first_open=first_open,
        )
        details: dict[str, Any] = {"Summary": f"{kind} event from the local Postmark-compatible server"}
        if link:
            details["Link"] = link
        if "ID" in payload:
            details["BounceID"] = str(payload["ID"])
        event = {
            "Recipient": recipient,
            "Type": MESSAGE_EVENT[kind],
            "ReceivedAt": api_time(at),
            "Details": details,
        }
        self.store.add_event(message.message_id, event)
        if kind in SUPPRESSION_REASON:
            self.store.suppress(
                message.email.message_stream, recipient, reason=SUPPRESSION_REASON[kind], origin="Recipient"
            )
        webhooks = self.webhooks
        delivery = await post_webhook(
            payload, url=webhooks.url, auth=webhooks.auth, transport=self.config.webhook_transport
        )
        return payload, delivery

    def after_accept(self, messages: list[StoredMessage]) -> None:
        """Schedule what follows acceptance: test-address bounces, and Delivery webhooks if enabled."""
        webhooks = self.webhooks
        bounces = any(r.email.lower() == HARD_BOUNCE_ADDRESS for m in messages for r in m.email.recipients)
        if not messages or not (bounces or webhooks.auto_delivery):
            return
        with self._lock:
            generation = self._generation
        task = asyncio.get_running_loop().create_task(self._deliver(messages, generation, webhooks))
        # The loop keeps only weak references to tasks.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, messages: list[StoredMessage], generation: int, webhooks: WebhookConfig) -> None:
        await asyncio.sleep(webhooks.delay)
        for message in messages:
            for recipient in message.email.recipients:
                with self._lock:
                    if generation != self._generation:
                        return
                if recipient.email.lower() == HARD_BOUNCE_ADDRESS:
                    await self.fire("Bounce", message, recipient=recipient.email)
                elif webhooks.auto_delivery:
                    await self.fire("Delivery", message, recipient=recipient.email)


def webhook_config(data: dict[str, Any], current: WebhookConfig) -> WebhookConfig:
    """The configuration after applying a control-API update `{"url", "username", "password", ...}`.

    Raises:
        ValueError: with a message naming the bad field.
    """
    changes: dict[str, Any] = {}
    if "url" in data:
        changes["url"] = _url(data["url"])
    if "username" in data or "password" in data:
        changes["auth"] = _auth(data)
    if "auto_delivery" in data:
        if not isinstance(data["auto_delivery"], bool):
            raise ValueError("auto_delivery: must be true or false")
        changes["auto_delivery"] = data["auto_delivery"]
    if "delay" in data:
        delay = data["delay"]
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError("delay: must be a non-negative number")
        changes["delay"] = float(delay)
    return dataclasses.replace(current, **changes)


def inbound_config(data: dict[str, Any], current: InboundConfig) -> InboundConfig:
    """The inbound configuration after a control-API update `{"url", "username", "password"}`.

    Credentials may also come as userinfo in the URL (`https://user:pass@host/path`), the form
    Postmark's InboundHookUrl takes; they are moved into `auth`.

    Raises:
        ValueError: with a message naming the bad or unknown field.
    """
    unknown = sorted(set(data) - {"url", "username", "password"})
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: unknown field (known: url, username, password)")
    url = data.get("url", current.url)
    if "username" in data or "password" in data:
        return InboundConfig.at(url, _auth(data))
    with_credentials = InboundConfig.at(url)
    return with_credentials if with_credentials.auth else InboundConfig(with_credentials.url, current.auth)


def _url(url: Any) -> str | None:
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise ValueError("url: must be an http(s) URL or null")
    return url


def _auth(data: dict[str, Any]) -> tuple[str, str] | None:
    username, password = data.get("username"), data.get("password")
    if username is None:
        return None
    if isinstance(username, str) and isinstance(password, str):
        return (username, password)
    raise ValueError("username, password: must both be strings (or username null for no auth)")
