"""Postmark templates, kept small: `{{var}}` and `{{{raw}}}` substitution with dotted names."""

import html
import re
from dataclasses import dataclass
from typing import Any

from nurture.postmark_server.errors import INVALID_REQUEST, TEMPLATE_NOT_FOUND, PostmarkError

_TAG = re.compile(r"\{\{\{\s*([\w.]+)\s*\}\}\}|\{\{\s*([\w.]+)\s*\}\}")


@dataclass
class Template:
    """A template created through `POST /templates`."""

    template_id: int
    name: str
    alias: str | None
    subject: str
    html_body: str | None
    text_body: str | None

    def as_json(self) -> dict[str, Any]:
        """What `POST /templates` answers."""
        return {"TemplateId": self.template_id, "Name": self.name, "Active": True, "Alias": self.alias}


def _lookup(model: dict[str, Any], dotted: str) -> str:
    value: Any = model
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return ""
        value = value[part]
    return "" if value is None else str(value)


def render(text: str | None, model: dict[str, Any], *, escape: bool) -> str | None:
    """Substitute `{{name}}` (HTML-escaped when `escape`) and `{{{name}}}` (never escaped)."""
    if text is None:
        return None

    def replace(match: re.Match[str]) -> str:
        raw, plain = match.groups()
        if raw is not None:
            return _lookup(model, raw)
        value = _lookup(model, plain)
        return html.escape(value) if escape else value

    return _TAG.sub(replace, text)


def template_fields(data: dict[str, Any]) -> tuple[int | None, str | None, dict[str, Any]]:
    """The TemplateId, TemplateAlias and TemplateModel of a withTemplate message.

    Raises:
        PostmarkError: neither TemplateId nor TemplateAlias is given, or a field has the wrong type.
    """
    template_id, alias, model = data.get("TemplateId"), data.get("TemplateAlias"), data.get("TemplateModel")
    if template_id is None and alias is None:
        raise PostmarkError(INVALID_REQUEST, "Either 'TemplateId' or 'TemplateAlias' is required.")
    if template_id is not None and (isinstance(template_id, bool) or not isinstance(template_id, int)):
        raise PostmarkError(INVALID_REQUEST, "Invalid 'TemplateId' value: expected an integer.")
    if alias is not None and not isinstance(alias, str):
        raise PostmarkError(INVALID_REQUEST, "Invalid 'TemplateAlias' value: expected a string.")
    if model is not None and not isinstance(model, dict):
        raise PostmarkError(INVALID_REQUEST, "Invalid 'TemplateModel' value: expected an object.")
    return template_id, alias, model or {}


def not_found() -> PostmarkError:
    """The error for a TemplateId or TemplateAlias that names no template."""
    return PostmarkError(
        TEMPLATE_NOT_FOUND, "Template not found: no template has this 'TemplateId' or 'TemplateAlias'."
    )
