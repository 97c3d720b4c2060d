"""Heartbeating a sync activity from a thread of its own, for as long as the activity runs."""

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity

log = logging.getLogger(__name__)
# Beats per heartbeat timeout: one late beat does not time a live attempt out.
BEATS_PER_TIMEOUT = 4


@contextmanager
def heartbeating() -> Iterator[None]:
    """Heartbeat while the block runs, when the activity was given a heartbeat timeout.

    The beats come from a thread of their own, not from the work's progress: a live worker keeps
    its attempt however long one step takes (rendering 500 emails, searching Postmark for 500
    keys, a slow provider call), and a killed worker's attempt is retried once the heartbeat
    timeout passes, not the much longer start-to-close timeout.
    """
    timeout = activity.info().heartbeat_timeout
    if not timeout:
        yield
        return
    # The activity's own context: activity.heartbeat() in the thread must know whose beat it is.
    context = contextvars.copy_context()
    interval = timeout.total_seconds() / BEATS_PER_TIMEOUT
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                context.run(activity.heartbeat)
            except Exception:  # the next beat tries again; the timeout tells if none gets through
                log.warning("Heartbeat failed", exc_info=True)

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
