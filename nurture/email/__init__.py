"""Sending email: providers (Postmark, SMTP), composing a message, delivering engagement events."""
