"""Validated input models and field types shared by the API, the importer and (later) automations."""
