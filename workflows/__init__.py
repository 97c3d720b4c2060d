"""Temporal workflows: deterministic, import-light, no I/O."""
