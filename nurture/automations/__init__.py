"""Automations: the definition language, its validation, and what runs and triggers share."""
