"""Faults queued over HTTP that the next matching requests suffer: errors, delays, crashes after accepting."""

import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

FaultKind = Literal["429", "500", "503", "403_html", "delay", "accept_then_500", "accept_then_hang"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
# The paths a fault without a path applies to: the send endpoints.
SEND_PATHS = ("/email", "/email/batch", "/email/withTemplate", "/email/batchWithTemplates")
DEFAULT_SECONDS = {"delay": 5.0, "accept_then_hang": 60.0}


def normalize(path: str) -> str:
    """A path without its trailing slash, compared case-insensitively as Postmark routes are."""
    return path.rstrip("/").lower() or "/"


@dataclass
class Fault:
    """One queued fault: what happens, to how many more requests, on which path, for how long."""

    kind: FaultKind
    remaining: int = 1
    path: str | None = None
    seconds: float = 0.0

    def matches(self, path: str) -> bool:
        """Whether a request to `path` suffers this fault."""
        if self.path is None:
            return normalize(path) in {p.lower() for p in SEND_PATHS}
        return normalize(path) == normalize(self.path)

    def as_json(self) -> dict[str, Any]:
        """The fault as the control API shows it."""
        return asdict(self)


def parse_fault(data: Any) -> Fault:
    """A fault from the control API's JSON `{"kind", "count"?, "path"?, "seconds"?}`.

    Raises:
        ValueError: with a message naming the bad field.
    """
    if not isinstance(data, dict):
        raise ValueError("body: expected a JSON object")
    kind = data.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(FAULT_KINDS)}")
    count = data.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("count: must be a positive integer")
    path = data.get("path")
    if path is not None and not (isinstance(path, str) and path.startswith("/")):
        raise ValueError("path: must be a string starting with '/'")
    seconds = data.get("seconds", DEFAULT_SECONDS.get(kind, 0.0))
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError("seconds: must be a non-negative number")
    return Fault(kind, count, path, float(seconds))


class Faults:
    """The queue of faults, consumed in the order they were added; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault behind the ones already queued."""
        with self._lock:
            self._queue.append(fault)

    def take(self, path: str) -> Fault | None:
        """The first fault that applies to a request to `path`, counted as used once."""
        with self._lock:
            for fault in self._queue:
                if fault.matches(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return fault
            return None

    def pending(self) -> list[Fault]:
        """The faults still queued."""
        with self._lock:
            return list(self._queue)

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._queue.clear()
