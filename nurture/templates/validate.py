"""Checks on save: templates and partials must compile and name only partials that exist, without cycles."""

from collections.abc import Mapping

from jinja2 import TemplateSyntaxError
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.crud.templates import get_partial_by_name
from nurture.db.models import Partial, Template
from nurture.templates.errors import TemplateSourceError
from nurture.templates.references import PARSER, Reference, has_block, parse, references

CONTENT_BLOCK = "content"
# Layouts may extend other layouts; a chain longer than this is a mistake, not a design.
MAX_LAYOUT_DEPTH = 20


def check_template_source(
    session: Session,
    *,
    subject: str,
    html_body: str,
    text_body: str | None,
    layout_id: int | None,
) -> None:
    """Refuse a template that cannot render.

    Raises:
        TemplateSourceError: naming `subject`, `html_body`, `text_body` (syntax error with its
            line, unknown or computed partial name) or `layout_id` (unknown partial, or one
            without `{% block content %}`).
    """
    layout = None
    if layout_id is not None:
        layout = session.get(Partial, layout_id)
        if layout is None:
            raise TemplateSourceError(
                field="layout_id", line=None, message=f"partial {layout_id} does not exist"
            )
        if not _has_content_block(session, layout, {}):
            raise TemplateSourceError(
                field="layout_id",
                line=None,
                message=f"partial '{layout.name}' has no {{% block content %}} for the HTML body to fill",
            )
    for field, source in (("subject", subject), ("html_body", html_body), ("text_body", text_body)):
        if source is None:
            continue
        for ref in _compile(field, source):
            if field == "html_body" and layout is not None and ref.kind == "extends":
                raise TemplateSourceError(
                    field=field,
                    line=ref.line,
                    message=f"the layout '{layout.name}' wraps this body already; remove {{% extends %}}",
                )
            _target(session, field, ref)


def check_partial_source(session: Session, *, name: str, body: str, partial_id: int | None = None) -> None:
    """Refuse a partial body that cannot render, or that would break templates using the partial.

    Args:
        session: where other partials and templates are read from.
        name: the partial's name (new name, when renaming).
        body: its body.
        partial_id: the partial being changed; None for a new one.

    Raises:
        TemplateSourceError: naming `body`: a syntax error with its line, an unknown or computed
            partial name, a cycle of includes, or a layout losing its `{% block content %}`.
    """
    for ref in _compile("body", body):
        target = _target(session, "body", ref)
        if target.id == partial_id or target.name.lower() == name.lower():
            raise TemplateSourceError(field="body", line=ref.line, message=f"'{name}' may not use itself")
        if _reaches(session, target, name=name, partial_id=partial_id):
            raise TemplateSourceError(
                field="body",
                line=ref.line,
                message=f"'{target.name}' uses '{name}' in turn; partials may not use each other in a cycle",
            )
    if partial_id is not None:
        _check_layouts_keep_content(session, partial_id=partial_id, body=body)


def _compile(field: str, source: str) -> list[Reference]:
    """The source's references, after proving it compiles (unknown filters fail here too)."""
    try:
        ast = PARSER.parse(source)
        PARSER.compile(ast)
    except TemplateSyntaxError as exc:
        raise TemplateSourceError(field=field, line=exc.lineno, message=exc.message or str(exc)) from exc
    except RecursionError as exc:
        raise TemplateSourceError(field=field, line=None, message="nested too deeply") from exc
    return references(ast)


def _target(session: Session, field: str, ref: Reference) -> Partial:
    if ref.name is None:
        # A computed name could point anywhere, including into a cycle; only quoted names are checked.
        raise TemplateSourceError(
            field=field, line=ref.line, message=f"{{% {ref.kind} %}} must name one partial in quotes"
        )
    partial = get_partial_by_name(session, name=ref.name)
    if partial is None:
        raise TemplateSourceError(field=field, line=ref.line, message=f"unknown partial '{ref.name}'")
    return partial


def _reaches(session: Session, start: Partial, *, name: str, partial_id: int | None) -> bool:
    """Whether `start` uses, directly or through others, the partial being saved."""
    seen: set[int] = set()
    pending = [start]
    while pending:
        partial = pending.pop()
        if partial.id in seen:
            continue
        seen.add(partial.id)
        ast = parse(partial.body)
        for ref in references(ast) if ast is not None else []:
            if ref.name is None:
                continue
            if ref.name.lower() == name.lower():
                return True
            target = get_partial_by_name(session, name=ref.name)
            if target is not None:
                if target.id == partial_id:
                    return True
                pending.append(target)
    return False


def _has_content_block(session: Session, layout: Partial, overrides: Mapping[int, str]) -> bool:
    """Whether a layout, or a layout it extends, declares `{% block content %}`."""
    partial: Partial | None = layout
    seen: set[int] = set()
    while partial is not None and partial.id not in seen and len(seen) < MAX_LAYOUT_DEPTH:
        seen.add(partial.id)
        ast = parse(overrides.get(partial.id, partial.body))
        if ast is None:
            return False
        if has_block(ast, CONTENT_BLOCK):
            return True
        parent = next((ref.name for ref in references(ast) if ref.kind == "extends" and ref.name), None)
        partial = get_partial_by_name(session, name=parent) if parent else None
    return False


def _check_layouts_keep_content(session: Session, *, partial_id: int, body: str) -> None:
    """Every template's layout must still hold a content block once this partial has `body`."""
    rows = session.execute(
        select(Template.name, Partial).join(Partial, Template.layout_id == Partial.id).order_by(Template.id)
    )
    checked: dict[int, bool] = {}
    for template_name, layout in rows:
        if layout.id not in checked:
            checked[layout.id] = _has_content_block(session, layout, {partial_id: body})
        if not checked[layout.id]:
            raise TemplateSourceError(
                field="body",
                line=None,
                message=f"template '{template_name}' would lose the {{% block content %}} of its layout",
            )
