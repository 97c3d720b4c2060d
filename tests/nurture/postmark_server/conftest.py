"""A postmarker client pointed at the local server, and a small HTTP server that receives webhooks."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from postmarker.core import PostmarkClient

from nurture.postmark_server import RunningServer


@pytest.fixture
def client(postmark_server: RunningServer) -> PostmarkClient:
    """postmarker's client exactly as Nurture builds it, aimed at the local server."""
    return PostmarkClient(
        server_token=postmark_server.server_token, root_api_url=postmark_server.url + "/", timeout=5
    )


@dataclass
class Receiver:
    """Webhooks received: (path, Authorization header, JSON body); answers `status`."""

    url: str
    status: int = 200
    received: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on a free port standing in for Nurture's webhook endpoint."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            box[0].received.append((self.path, self.headers.get("Authorization"), body))
            box[0].arrived.set()
            self.send_response(box[0].status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/webhooks/postmark"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield box[0]
    server.shutdown()
    server.server_close()
