"""Tracking and unsubscribe links: signed tokens, link rewriting, telling machines from people."""
