"""Email templates written by users: a sandboxed Jinja environment, validation on save, rendering."""
