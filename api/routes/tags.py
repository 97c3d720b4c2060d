"""/tags: create, read, rename and delete tags; tagging a contact lives under /contacts."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import SessionDep
from api.errors import conflict, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.schemas.tags import TagCreate, TagPublic, TagUpdate
from nurture.crud import tags as crud
from nurture.db.models import Tag

router = APIRouter(prefix="/tags", tags=["tags"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, tag_id: IdPath) -> Tag:
    tag = crud.get_tag(session, tag_id=tag_id)
    if tag is None:
        raise not_found("tag", tag_id)
    return tag


TagDep = Annotated[Tag, Depends(_load)]


def _check_name(session: SessionDep, name: str, current: Tag | None = None) -> None:
    existing = crud.get_tag_by_name(session, name=name)
    # Renaming a tag to another casing of its own name is not a clash.
    if existing is not None and existing is not current:
        raise conflict("name", f"a tag named '{existing.name}' already exists")


def _tags_public(session: SessionDep, rows: list[Tag]) -> list[TagPublic]:
    counts = crud.tag_counts(session, tag_ids=[tag.id for tag in rows])
    return [TagPublic.of(tag, contact_count=counts.get(tag.id, 0)) for tag in rows]


@router.get("", response_model=Page[TagPublic])
def list_tags(
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(description="Search tag names")] = None,
) -> Page[TagPublic]:
    """Tags, oldest first, each with how many contacts carry it."""
    rows, next_cursor = paginate(session, crud.filter_tags(search=q), Tag.id, page)
    return Page(data=_tags_public(session, rows), next_cursor=next_cursor)


@router.post("", status_code=201, response_model=TagPublic)
def create_tag(session: SessionDep, body: TagCreate) -> TagPublic:
    """Create a tag; names are unique ignoring case."""
    _check_name(session, body.name)
    tag = crud.create_tag(session, name=body.name)
    session.commit()
    return TagPublic.of(tag, contact_count=0)


@router.get("/{tag_id}", response_model=TagPublic)
def read_tag(session: SessionDep, tag: TagDep) -> TagPublic:
    """One tag with its contact count."""
    return _tags_public(session, [tag])[0]


@router.patch("/{tag_id}", response_model=TagPublic)
def rename_tag(session: SessionDep, tag: TagDep, body: TagUpdate) -> TagPublic:
    """Rename a tag; the contacts carrying it keep it."""
    _check_name(session, body.name, tag)
    crud.rename_tag(session, tag=tag, name=body.name)
    session.commit()
    return _tags_public(session, [tag])[0]


@router.delete("/{tag_id}", status_code=204)
def delete_tag(session: SessionDep, tag: TagDep) -> Response:
    """Delete a tag, taking it off every contact (each gets a `tag.removed` event)."""
    crud.delete_tag(session, tag=tag)
    session.commit()
    return Response(status_code=204)
