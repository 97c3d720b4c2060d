"""/templates: email templates written in Jinja, validated on save, previewed for a contact."""

from email.utils import parseaddr
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import SessionDep, SettingsDep
from api.errors import conflict, invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.schemas.templates import (
    PreviewPublic,
    PreviewRequest,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
)
from nurture.crud import templates as crud
from nurture.crud.contacts import get_contact
from nurture.db.models import Template
from nurture.schemas.email import TemplateKind
from nurture.templates.context import example_contact
from nurture.templates.errors import TemplateError
from nurture.templates.render import Sender, preview_email
from nurture.templates.validate import check_template_source

router = APIRouter(prefix="/templates", tags=["templates"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, template_id: IdPath) -> Template:
    template = crud.get_template(session, template_id=template_id)
    if template is None:
        raise not_found("template", template_id)
    return template


TemplateDep = Annotated[Template, Depends(_load)]


def _check_name(session: SessionDep, name: str, current: Template | None = None) -> None:
    existing = crud.get_template_by_name(session, name=name)
    if existing is not None and existing is not current:
        raise conflict("name", f"a template named '{existing.name}' already exists")


def _check_source(
    session: SessionDep, *, subject: str, html_body: str, text_body: str | None, layout_id: int | None
) -> None:
    try:
        check_template_source(
            session, subject=subject, html_body=html_body, text_body=text_body, layout_id=layout_id
        )
    except TemplateError as exc:
        raise invalid(exc.field, exc.detail) from exc


@router.get("", response_model=Page[TemplatePublic])
def list_templates(
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(description="Search names and subjects")] = None,
    kind: Annotated[TemplateKind | None, Query(description="Only templates of this kind")] = None,
) -> Page[TemplatePublic]:
    """Templates, oldest first."""
    rows, next_cursor = paginate(session, crud.filter_templates(search=q, kind=kind), Template.id, page)
    return Page(data=[TemplatePublic.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=TemplatePublic)
def create_template(session: SessionDep, body: TemplateCreate) -> TemplatePublic:
    """Create a template; names are unique ignoring case, and the Jinja must compile."""
    _check_name(session, body.name)
    _check_source(
        session,
        subject=body.subject,
        html_body=body.html_body,
        text_body=body.text_body,
        layout_id=body.layout_id,
    )
    template = crud.create_template(session, **body.model_dump())
    session.commit()
    return TemplatePublic.model_validate(template)


@router.get("/{template_id}", response_model=TemplatePublic)
def read_template(template: TemplateDep) -> TemplatePublic:
    """One template."""
    return TemplatePublic.model_validate(template)


@router.patch("/{template_id}", response_model=TemplatePublic)
def update_template(session: SessionDep, template: TemplateDep, body: TemplateUpdate) -> TemplatePublic:
    """Change the fields given; null clears text_body or layout_id. The result must still compile."""
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        _check_name(session, changes["name"], template)
    _check_source(
        session,
        subject=changes.get("subject", template.subject),
        html_body=changes.get("html_body", template.html_body),
        text_body=changes.get("text_body", template.text_body),
        layout_id=changes.get("layout_id", template.layout_id),
    )
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    crud.update_template(session, template=template, changes=changes)
    session.commit()
    session.refresh(template)
    return TemplatePublic.model_validate(template)


@router.delete("/{template_id}", status_code=204)
def delete_template(session: SessionDep, template: TemplateDep) -> Response:
    """Delete a template; messages sent from it keep their rendered copy."""
    crud.delete_template(session, template=template)
    session.commit()
    return Response(status_code=204)


@router.post("/{template_id}/preview", response_model=PreviewPublic)
def preview_template(
    session: SessionDep, settings: SettingsDep, template: TemplateDep, body: PreviewRequest
) -> PreviewPublic:
    """Render for a contact (an example one when contact_id is null), listing undefined variables."""
    if body.contact_id is None:
        contact = example_contact()
    else:
        found = get_contact(session, contact_id=body.contact_id)
        if found is None:
            raise not_found("contact", body.contact_id)
        contact = found
    name, address = parseaddr(settings.email_from)
    extra = {}
    if template.kind == TemplateKind.MARKETING:
        # The real link is signed per message at send time; a preview shows where it will go.
        extra["unsubscribe_url"] = f"{settings.public_url.rstrip('/')}/u/preview"
    try:
        preview = preview_email(
            session,
            template=template,
            contact=contact,
            sender=Sender(name=name or None, email=address or settings.email_from),
            model=body.model,
            extra=extra,
        )
    except TemplateError as exc:
        raise invalid(exc.field, exc.detail) from exc
    return PreviewPublic(
        subject=preview.subject, html=preview.html, text=preview.text, undefined=preview.undefined
    )
