"""Metrics, traces and logs: what an operator reads to see the API and the worker at work."""
