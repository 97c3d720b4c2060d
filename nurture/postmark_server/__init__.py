"""A local Postmark-compatible server: the email API, outbound search, webhooks and an HTML inbox."""

from nurture.postmark_server.app import create_app
from nurture.postmark_server.runner import RunningServer, run_in_thread, serve
from nurture.postmark_server.state import ServerConfig, ServerState, WebhookConfig

__all__ = [
    "RunningServer",
    "ServerConfig",
    "ServerState",
    "WebhookConfig",
    "create_app",
    "run_in_thread",
    "serve",
]
