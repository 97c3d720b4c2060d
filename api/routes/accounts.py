"""/accounts: companies, with their owner, custom fields and the ids of their deals."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import SessionDep
from api.errors import invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath, IdQuery
from api.schemas.accounts import AccountCreate, AccountPublic, AccountUpdate
from nurture.crud import companies as crud
from nurture.crud.users import get_user
from nurture.db.models import Account

router = APIRouter(prefix="/accounts", tags=["accounts"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, account_id: IdPath) -> Account:
    account = crud.get_account(session, account_id=account_id)
    if account is None:
        raise not_found("account", account_id)
    return account


AccountDep = Annotated[Account, Depends(_load)]


def _check_owner(session: SessionDep, owner_id: int | None) -> None:
    if owner_id is not None and get_user(session, user_id=owner_id) is None:
        raise invalid("owner_id", f"user {owner_id} does not exist")


def _public(session: SessionDep, account: Account) -> AccountPublic:
    deal_ids = crud.deal_ids_by_account(session, account_ids=[account.id])[account.id]
    return AccountPublic.of(account, deal_ids=deal_ids)


@router.get("", response_model=Page[AccountPublic])
def list_accounts(
    session: SessionDep,
    page: PageDep,
    domain: str | None = None,
    owner_id: IdQuery = None,
    q: Annotated[str | None, Query(description="Search the name")] = None,
) -> Page[AccountPublic]:
    """Accounts matching every filter given, oldest first."""
    query = crud.filter_accounts(search=q, domain=domain, owner_id=owner_id)
    rows, next_cursor = paginate(session, query, Account.id, page)
    deal_ids = crud.deal_ids_by_account(session, account_ids=[a.id for a in rows])
    data = [AccountPublic.of(a, deal_ids=deal_ids[a.id]) for a in rows]
    return Page(data=data, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=AccountPublic)
def create_account(session: SessionDep, body: AccountCreate) -> AccountPublic:
    """Create an account; several accounts may share a domain."""
    _check_owner(session, body.owner_id)
    account = crud.create_account(session, fields=body.model_dump())
    session.commit()
    return _public(session, account)


@router.get("/{account_id}", response_model=AccountPublic)
def read_account(session: SessionDep, account: AccountDep) -> AccountPublic:
    """One account with the ids of its deals."""
    return _public(session, account)


@router.patch("/{account_id}", response_model=AccountPublic)
def update_account(session: SessionDep, account: AccountDep, body: AccountUpdate) -> AccountPublic:
    """Change the fields given; custom_fields merge, and a null value removes that key."""
    changes = body.model_dump(exclude_unset=True)
    _check_owner(session, changes.get("owner_id"))
    crud.update_account(session, account=account, changes=changes)
    session.commit()
    session.refresh(account)
    return _public(session, account)


@router.delete("/{account_id}", status_code=204)
def delete_account(session: SessionDep, account: AccountDep) -> Response:
    """Delete an account; its deals are kept, with no account."""
    # deals.account_id is ON DELETE SET NULL, so the database detaches them.
    session.delete(account)
    session.commit()
    return Response(status_code=204)
