"""Custom fields change by merging: given keys are set, a None value removes its key."""

from typing import Any


def merge_custom_fields(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The custom fields after applying `changes` to `current` (neither is modified)."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
