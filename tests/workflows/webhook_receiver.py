"""A real HTTP server on a free port that webhook steps call: it records each call and answers as scripted."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Call:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """Calls received, by path; each path answers its scripted statuses in turn, then the last one
    again (200 when none is scripted). A path in `slow` answers after that many seconds."""

    url: str
    answers: dict[str, list[int]] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, *statuses: int) -> str:
        """Script the statuses `path` answers with; returns the path's full URL."""
        self.answers[path] = list(statuses)
        return self.url + path

    def calls_to(self, path: str) -> list[Call]:
        """The calls made to `path`, oldest first."""
        with self._lock:
            return [call for call in self.calls if call.path == path]

    def _status(self, path: str) -> int:
        with self._lock:
            scripted = self.answers.get(path) or [200]
            return scripted.pop(0) if len(scripted) > 1 else scripted[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A caller that timed out has hung up before a slow answer: expected, not worth a traceback.
        pass


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver serving on 127.0.0.1 until the block ends."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            receiver = box[0]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            call = Call(self.command, self.path, dict(self.headers), json.loads(raw) if raw else None)
            with receiver._lock:
                receiver.calls.append(call)
            if self.path in receiver.slow:
                time.sleep(receiver.slow[self.path])
            self.send_response(receiver._status(self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = _any  # noqa: N815 (the http.server API)

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
