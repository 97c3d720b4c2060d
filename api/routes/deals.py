"""/deals: opportunities with a value and a stage, linked to an owner, an account and contacts."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import SessionDep
from api.errors import invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath, IdQuery
from api.schemas.deals import DealCreate, DealPublic, DealUpdate
from nurture.crud import companies as crud
from nurture.crud.users import get_user
from nurture.db.models import Deal

router = APIRouter(prefix="/deals", tags=["deals"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, deal_id: IdPath) -> Deal:
    deal = crud.get_deal(session, deal_id=deal_id)
    if deal is None:
        raise not_found("deal", deal_id)
    return deal


DealDep = Annotated[Deal, Depends(_load)]


def _check_references(session: SessionDep, changes: dict[str, object]) -> None:
    """422 naming the first owner, account or contact that does not exist."""
    owner_id = changes.get("owner_id")
    if isinstance(owner_id, int) and get_user(session, user_id=owner_id) is None:
        raise invalid("owner_id", f"user {owner_id} does not exist")
    account_id = changes.get("account_id")
    if isinstance(account_id, int) and crud.get_account(session, account_id=account_id) is None:
        raise invalid("account_id", f"account {account_id} does not exist")
    contact_ids = changes.get("contact_ids")
    if isinstance(contact_ids, list):
        known = crud.existing_contact_ids(session, contact_ids=contact_ids)
        for index, contact_id in enumerate(contact_ids):
            if contact_id not in known:
                raise invalid(f"contact_ids[{index}]", f"contact {contact_id} does not exist")


def _public(session: SessionDep, deal: Deal) -> DealPublic:
    contact_ids = crud.contact_ids_by_deal(session, deal_ids=[deal.id])[deal.id]
    return DealPublic.of(deal, contact_ids=contact_ids)


@router.get("", response_model=Page[DealPublic])
def list_deals(
    session: SessionDep,
    page: PageDep,
    stage: str | None = None,
    owner_id: IdQuery = None,
    account_id: IdQuery = None,
    contact_id: IdQuery = None,
) -> Page[DealPublic]:
    """Deals matching every filter given, oldest first; `stage` matches ignoring case."""
    query = crud.filter_deals(stage=stage, owner_id=owner_id, account_id=account_id, contact_id=contact_id)
    rows, next_cursor = paginate(session, query, Deal.id, page)
    contact_ids = crud.contact_ids_by_deal(session, deal_ids=[d.id for d in rows])
    data = [DealPublic.of(d, contact_ids=contact_ids[d.id]) for d in rows]
    return Page(data=data, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=DealPublic)
def create_deal(session: SessionDep, body: DealCreate) -> DealPublic:
    """Create a deal and link its contacts, all or nothing."""
    fields = body.model_dump(exclude={"contact_ids"})
    _check_references(session, body.model_dump())
    deal = crud.create_deal(session, fields=fields, contact_ids=body.contact_ids)
    session.commit()
    return _public(session, deal)


@router.get("/{deal_id}", response_model=DealPublic)
def read_deal(session: SessionDep, deal: DealDep) -> DealPublic:
    """One deal with the ids of its contacts."""
    return _public(session, deal)


@router.patch("/{deal_id}", response_model=DealPublic)
def update_deal(session: SessionDep, deal: DealDep, body: DealUpdate) -> DealPublic:
    """Change the fields given; `contact_ids` replaces the deal's contacts."""
    changes = body.model_dump(exclude_unset=True)
    _check_references(session, changes)
    crud.update_deal(session, deal=deal, changes=changes)
    session.commit()
    session.refresh(deal)
    return _public(session, deal)


@router.delete("/{deal_id}", status_code=204)
def delete_deal(session: SessionDep, deal: DealDep) -> Response:
    """Delete a deal; its contacts keep a `deal.contact_removed` event on their stream."""
    crud.delete_deal(session, deal=deal)
    session.commit()
    return Response(status_code=204)
