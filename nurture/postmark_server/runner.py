"""Run the server: in a background thread (tests) or in the foreground (`nurture postmark-server`)."""

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from nurture.postmark_server.app import create_app
from nurture.postmark_server.faults import Fault, FaultKind
from nurture.postmark_server.state import InboundConfig, ServerConfig, ServerState, WebhookConfig

DEFAULT_STREAMS = frozenset({"outbound", "broadcast"})


@dataclass
class RunningServer:
    """A server running in a background thread; `url` has no trailing slash."""

    url: str
    state: ServerState
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def server_token(self) -> str:
        """The token requests must carry in X-Postmark-Server-Token."""
        return self.state.server_token

    def messages(self, **filters: str) -> list[dict[str, Any]]:
        """Every message in full, newest first, as `GET /__local/messages` answers; search filters apply."""
        from nurture.postmark_server.search import message_filter

        return [m.full() for m in self.state.store.messages(message_filter(filters))]

    def add_fault(
        self, kind: FaultKind, *, count: int = 1, path: str | None = None, seconds: float = 0.0
    ) -> None:
        """Queue a fault for the next `count` send requests (or requests to `path`)."""
        self.state.faults.add(Fault(kind, count, path, seconds))

    def configure_webhooks(
        self,
        *,
        url: str | None,
        auth: tuple[str, str] | None = None,
        auto_delivery: bool = False,
        delay: float = 0.5,
    ) -> None:
        """Send webhooks to `url` from now on (until the next reset)."""
        self.state.configure_webhooks(WebhookConfig(url, auth, auto_delivery, delay))

    def configure_inbound_webhook(self, *, url: str | None, auth: tuple[str, str] | None = None) -> None:
        """Post the inbound webhook of each email received (`POST /__local/inbound`) to `url` from now on.

        The credentials may be in the URL (`http://user:pass@host/path`), as Postmark takes them.
        """
        self.state.configure_inbound(InboundConfig.at(url, auth))

    def set_search_lag(self, seconds: float) -> None:
        """Keep messages out of search and details until `seconds` after acceptance (until the next reset).

        Raises:
            ValueError: `seconds` is not a non-negative number.
        """
        self.state.set_search_lag(seconds)

    def reset(self, *, server_token: str | None = None) -> None:
        """Forget messages, suppressions, templates, faults; webhooks, lag as started; maybe a new token."""
        self.state.reset(server_token=server_token)

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _config(
    *,
    server_token: str,
    webhook_url: str | None,
    webhook_auth: tuple[str, str] | None,
    auto_delivery: bool,
    delivery_delay: float,
    message_streams: frozenset[str] | None,
    server_id: int,
    data_file: Path | None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    search_lag: float = 0.0,
    inbound_webhook_url: str | None = None,
    inbound_webhook_auth: tuple[str, str] | None = None,
) -> ServerConfig:
    return ServerConfig(
        server_token=server_token,
        webhooks=WebhookConfig(webhook_url, webhook_auth, auto_delivery, delivery_delay),
        inbound=InboundConfig.at(inbound_webhook_url, inbound_webhook_auth),
        message_streams=message_streams,
        server_id=server_id,
        data_file=data_file,
        webhook_transport=webhook_transport,
        search_lag=search_lag,
    )


def run_in_thread(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    server_token: str,
    webhook_url: str | None = None,
    webhook_auth: tuple[str, str] | None = None,
    auto_delivery: bool = False,
    delivery_delay: float = 0.5,
    message_streams: frozenset[str] | None = DEFAULT_STREAMS,
    server_id: int = 1,
    data_file: Path | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    search_lag: float = 0.0,
    inbound_webhook_url: str | None = None,
    inbound_webhook_auth: tuple[str, str] | None = None,
    startup_timeout: float = 10.0,
) -> RunningServer:
    """Start the server in a daemon thread and return once it accepts connections.

    Args:
        host: the interface to listen on.
        port: the port; 0 picks a free one (read it from `.url`).
        server_token: the X-Postmark-Server-Token requests must carry.
        webhook_url: where webhooks are posted; None posts none.
        webhook_auth: HTTP basic credentials for webhooks.
        auto_delivery: post a Delivery webhook for every recipient after each accepted send.
        delivery_delay: seconds between acceptance and that Delivery webhook.
        message_streams: the stream IDs that exist; None accepts any.
        server_id: the ServerID in webhooks.
        data_file: keep state in this JSON file across restarts; None keeps it in memory only.
        webhook_transport: an httpx transport for webhooks, e.g. `httpx.ASGITransport(app=...)`.
        search_lag: seconds after acceptance before a message shows in `GET /messages/outbound` and
            its details (Postmark's indexing lag); 0 shows it at once.
        inbound_webhook_url: where the inbound webhook of each email received through
            `POST /__local/inbound` is posted (Postmark's InboundHookUrl); None posts none.
        inbound_webhook_auth: HTTP basic credentials for the inbound webhook.
        startup_timeout: seconds to wait for the server to come up.

    Raises:
        RuntimeError: the server did not come up in time.
        ValueError: `search_lag` is not a non-negative number.
    """
    config = _config(
        server_token=server_token,
        webhook_url=webhook_url,
        webhook_auth=webhook_auth,
        auto_delivery=auto_delivery,
        delivery_delay=delivery_delay,
        message_streams=message_streams,
        server_id=server_id,
        data_file=data_file,
        webhook_transport=webhook_transport,
        search_lag=search_lag,
        inbound_webhook_url=inbound_webhook_url,
        inbound_webhook_auth=inbound_webhook_auth,
    )
    state = ServerState(config)
    # Bound here so that port 0 resolves before the thread starts and the URL is known.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="postmark-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the local Postmark server did not start on {host}:{bound_port}")
        time.sleep(0.01)
    return RunningServer(f"http://{host}:{bound_port}", state, server, thread)


def serve(
    *,
    host: str,
    port: int,
    server_token: str,
    webhook_url: str | None = None,
    webhook_auth: tuple[str, str] | None = None,
    auto_delivery: bool = False,
    delivery_delay: float = 0.5,
    message_streams: frozenset[str] | None = DEFAULT_STREAMS,
    data_file: Path | None = None,
    search_lag: float = 0.0,
    inbound_webhook_url: str | None = None,
    inbound_webhook_auth: tuple[str, str] | None = None,
) -> None:
    """Serve in the foreground until interrupted (arguments as for `run_in_thread`)."""
    config = _config(
        server_token=server_token,
        webhook_url=webhook_url,
        webhook_auth=webhook_auth,
        auto_delivery=auto_delivery,
        delivery_delay=delivery_delay,
        message_streams=message_streams,
        server_id=1,
        data_file=data_file,
        search_lag=search_lag,
        inbound_webhook_url=inbound_webhook_url,
        inbound_webhook_auth=inbound_webhook_auth,
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", timeout_graceful_shutdown=2)
