"""Freezing a process's startup objects: the collector no longer scans them, later ones it does."""

import gc
import weakref

from nurture.heap import freeze_startup_objects


class Node:
    """Something that can sit in a reference cycle and be watched by a weak reference."""

    def __init__(self) -> None:
        self.partner: Node | None = None


def _cycle() -> tuple[Node, weakref.ref[Node]]:
    first, second = Node(), Node()
    first.partner, second.partner = second, first
    return first, weakref.ref(first)


def test_objects_held_at_startup_leave_the_scans_and_later_ones_stay() -> None:
    startup, startup_ref = _cycle()
    try:
        assert freeze_startup_objects() >= 2
        later, later_ref = _cycle()
        del startup, later  # both cycles are garbage now
        gc.collect()
        assert later_ref() is None  # made after startup: collected as before
        assert startup_ref() is not None  # frozen: the collector no longer looks at it
    finally:
        gc.unfreeze()
    gc.collect()
    assert startup_ref() is None
