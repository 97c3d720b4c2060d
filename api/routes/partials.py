"""/partials: named Jinja snippets (layouts, footers) that templates include or extend."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import SessionDep
from api.errors import Problem, conflict, invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.schemas.templates import PartialCreate, PartialPublic, PartialUpdate
from nurture.crud import templates as crud
from nurture.db.models import Partial
from nurture.templates.errors import TemplateError
from nurture.templates.validate import check_partial_source

router = APIRouter(prefix="/partials", tags=["templates"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, partial_id: IdPath) -> Partial:
    partial = crud.get_partial(session, partial_id=partial_id)
    if partial is None:
        raise not_found("partial", partial_id)
    return partial


PartialDep = Annotated[Partial, Depends(_load)]


def _check_name(session: SessionDep, name: str, current: Partial | None = None) -> None:
    existing = crud.get_partial_by_name(session, name=name)
    if existing is not None and existing is not current:
        raise conflict("name", f"a partial named '{existing.name}' already exists")


def _check_body(session: SessionDep, *, name: str, body: str, partial_id: int | None = None) -> None:
    try:
        check_partial_source(session, name=name, body=body, partial_id=partial_id)
    except TemplateError as exc:
        raise invalid(exc.field, exc.detail) from exc


@router.get("", response_model=Page[PartialPublic])
def list_partials(
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(description="Search partial names")] = None,
) -> Page[PartialPublic]:
    """Partials, oldest first."""
    rows, next_cursor = paginate(session, crud.filter_partials(search=q), Partial.id, page)
    return Page(data=[PartialPublic.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=PartialPublic)
def create_partial(session: SessionDep, body: PartialCreate) -> PartialPublic:
    """Create a partial; names are unique ignoring case, and the Jinja must compile."""
    _check_name(session, body.name)
    _check_body(session, name=body.name, body=body.body)
    partial = crud.create_partial(session, name=body.name, body=body.body)
    session.commit()
    return PartialPublic.model_validate(partial)


@router.get("/{partial_id}", response_model=PartialPublic)
def read_partial(partial: PartialDep) -> PartialPublic:
    """One partial."""
    return PartialPublic.model_validate(partial)


@router.patch("/{partial_id}", response_model=PartialPublic)
def update_partial(session: SessionDep, partial: PartialDep, body: PartialUpdate) -> PartialPublic:
    """Rename a partial nothing uses, or change its body; templates using it must still render."""
    changes = body.model_dump(exclude_unset=True)
    name = changes.get("name", partial.name)
    if name.lower() != partial.name.lower():
        _check_name(session, name, partial)
        # Templates name partials in their source; a rename would leave them pointing nowhere.
        users = crud.partial_users(session, partial=partial)
        if users:
            raise conflict(
                "name", f"partial '{partial.name}' is used by {users.describe()}; rename is refused"
            )
    _check_body(session, name=name, body=changes.get("body", partial.body), partial_id=partial.id)
    crud.update_partial(session, partial=partial, changes=changes)
    session.commit()
    session.refresh(partial)
    return PartialPublic.model_validate(partial)


@router.delete("/{partial_id}", status_code=204)
def delete_partial(session: SessionDep, partial: PartialDep) -> Response:
    """Delete a partial that no template or partial uses."""
    try:
        crud.delete_partial(session, partial=partial)
    except crud.PartialInUseError as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    session.commit()
    return Response(status_code=204)
