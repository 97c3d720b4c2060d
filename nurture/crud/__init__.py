"""Data access: keyword-only functions over an explicit session, returning rows or None."""
