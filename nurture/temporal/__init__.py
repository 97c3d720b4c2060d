"""Temporal plumbing shared by the API, the workers and the workflows."""
