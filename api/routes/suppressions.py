"""/suppressions: the addresses Nurture will not email (hard bounces, complaints, manual)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.deps import SessionDep
from api.errors import conflict, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.schemas.suppressions import SuppressionCreate, SuppressionPublic
from nurture.crud import suppressions as crud
from nurture.db.models import Suppression, SuppressionReason
from nurture.schemas.fields import Email

router = APIRouter(prefix="/suppressions", tags=["suppressions"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(
    session: SessionDep, email: Annotated[Email, Path(description="The suppressed address")]
) -> Suppression:
    suppression = crud.get_suppression(session, email=email)
    if suppression is None:
        raise not_found("suppression", email)
    return suppression


SuppressionDep = Annotated[Suppression, Depends(_load)]


@router.get("", response_model=Page[SuppressionPublic])
def list_suppressions(
    session: SessionDep,
    page: PageDep,
    reason: Annotated[SuppressionReason | None, Query(description="Only this reason")] = None,
    q: Annotated[str | None, Query(description="Search addresses")] = None,
) -> Page[SuppressionPublic]:
    """Suppressed addresses, newest first."""
    query = crud.filter_suppressions(reason=reason, search=q)
    rows, next_cursor = paginate(session, query, Suppression.id, page, newest_first=True)
    return Page(data=[SuppressionPublic.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=SuppressionPublic)
def create_suppression(session: SessionDep, body: SuppressionCreate) -> SuppressionPublic:
    """Suppress an address (stored lower-cased); 409 if it already is."""
    existing = crud.get_suppression(session, email=body.email)
    if existing is not None:
        raise conflict("email", f"{body.email} is already suppressed ({existing.reason.value})")
    row = crud.suppress(session, email=body.email, reason=body.reason, source="api", details=body.details)
    session.commit()
    return SuppressionPublic.model_validate(row)


@router.get("/{email}", response_model=SuppressionPublic)
def read_suppression(suppression: SuppressionDep) -> SuppressionPublic:
    """One suppressed address, ignoring case."""
    return SuppressionPublic.model_validate(suppression)


@router.delete("/{email}", status_code=204)
def delete_suppression(session: SessionDep, suppression: SuppressionDep) -> Response:
    """Remove an address from the list so it can be emailed again.

    A contact the suppression made `bounced` or `complained` is active again; an unsubscribed
    contact stays unsubscribed.
    """
    crud.lift_suppression(session, suppression=suppression, source="api")
    session.commit()
    return Response(status_code=204)
