"""Applying a PATCH to a row: plain fields are set, custom fields merge (None removes a key)."""

from collections.abc import Iterable
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


def apply_changes(row: Any, fields: Iterable[str], changes: dict[str, Any]) -> list[str]:
    """Set each of `fields` present in `changes` on `row`; returns the names that changed."""
    changed = []
    for name in fields:
        if name not in changes:
            continue
        value = changes[name]
        if name == "custom_fields":
            if value is None:  # nothing to merge (the API refuses a null here anyway)
                continue
            value = merge_custom_fields(row.custom_fields, value)
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed
