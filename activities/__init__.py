"""Temporal activities: everything that touches the database, templates and providers."""
