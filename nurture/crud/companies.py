"""Accounts and deals; contacts joining, leaving or following a deal hear of it on their stream."""

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.crud.changes import apply_changes
from nurture.crud.search import matches
from nurture.db.base import utcnow
from nurture.db.models import Account, Contact, Deal, DealContact

# What a PATCH may change; custom_fields merge.
ACCOUNT_FIELDS = ("name", "domain", "owner_id", "custom_fields")
DEAL_FIELDS = ("title", "value", "currency", "stage", "owner_id", "account_id")


def get_account(session: Session, *, account_id: int) -> Account | None:
    """The account with this id."""
    return session.get(Account, account_id)


def create_account(session: Session, *, fields: dict[str, Any]) -> Account:
    """Insert an account from validated fields; null custom field values are dropped."""
    account = Account(**fields)
    account.custom_fields = {k: v for k, v in (account.custom_fields or {}).items() if v is not None}
    session.add(account)
    session.flush()
    return account


def update_account(session: Session, *, account: Account, changes: dict[str, Any]) -> list[str]:
    """Apply changes, merging custom_fields (None removes a key); returns the fields that changed."""
    changed = apply_changes(account, ACCOUNT_FIELDS, changes)
    session.flush()
    return changed


def filter_accounts(
    *, search: str | None = None, domain: str | None = None, owner_id: int | None = None
) -> Select[Account]:
    """A query for accounts matching every given filter; `search` looks in the name."""
    query = select(Account)
    if search:
        query = query.where(matches(search, Account.name))
    if domain:
        query = query.where(Account.domain == domain.strip().lower().rstrip("."))
    if owner_id is not None:
        query = query.where(Account.owner_id == owner_id)
    return query


def deal_ids_by_account(session: Session, *, account_ids: list[int]) -> dict[int, list[int]]:
    """The ids of each account's deals, oldest first, in one query."""
    result: dict[int, list[int]] = defaultdict(list)
    rows = session.execute(
        select(Deal.account_id, Deal.id).where(Deal.account_id.in_(account_ids)).order_by(Deal.id)
    )
    for account_id, deal_id in rows:
        if account_id is not None:  # always, given the filter; this tells the type checker
            result[account_id].append(deal_id)
    return result


def get_deal(session: Session, *, deal_id: int) -> Deal | None:
    """The deal with this id."""
    return session.get(Deal, deal_id)


def existing_contact_ids(session: Session, *, contact_ids: list[int]) -> set[int]:
    """Which of these contact ids exist."""
    if not contact_ids:
        return set()
    return set(session.scalars(select(Contact.id).where(Contact.id.in_(contact_ids))))


def contact_ids_by_deal(session: Session, *, deal_ids: list[int]) -> dict[int, list[int]]:
    """The ids of each deal's contacts, ascending, in one query."""
    result: dict[int, list[int]] = defaultdict(list)
    rows = session.execute(
        select(DealContact.deal_id, DealContact.contact_id)
        .where(DealContact.deal_id.in_(deal_ids))
        .order_by(DealContact.contact_id)
    )
    for deal_id, contact_id in rows:
        result[deal_id].append(contact_id)
    return result


def _event(session: Session, deal: Deal, contact_id: int, type: str, **extra: Any) -> None:
    data = {"deal_id": deal.id, "title": deal.title, "stage": deal.stage, **extra}
    record_activity(session, contact_id=contact_id, type=type, data=data)


def _set_contacts(session: Session, deal: Deal, contact_ids: list[int]) -> set[int]:
    """Make the deal's contacts exactly these; returns the contacts it kept."""
    current = set(contact_ids_by_deal(session, deal_ids=[deal.id])[deal.id])
    wanted = list(dict.fromkeys(contact_ids))
    removed = sorted(current - set(wanted))
    added = [c for c in wanted if c not in current]
    if removed:
        session.execute(
            delete(DealContact).where(DealContact.deal_id == deal.id, DealContact.contact_id.in_(removed))
        )
    for contact_id in removed:
        _event(session, deal, contact_id, "deal.contact_removed")
    for contact_id in added:
        session.add(DealContact(deal_id=deal.id, contact_id=contact_id))
        _event(session, deal, contact_id, "deal.contact_added")
    if removed or added:
        # Membership lives in another table, so the deal row would not bump updated_at itself.
        deal.updated_at = utcnow()
    return current - set(removed)


def create_deal(session: Session, *, fields: dict[str, Any], contact_ids: list[int]) -> Deal:
    """Insert a deal and link its contacts, each of whom gets `deal.contact_added`."""
    deal = Deal(**fields)
    session.add(deal)
    session.flush()
    _set_contacts(session, deal, contact_ids)
    session.flush()
    return deal


def update_deal(session: Session, *, deal: Deal, changes: dict[str, Any]) -> list[str]:
    """Apply changes; `contact_ids`, if given, replaces the deal's contacts.

    Removed and added contacts get `deal.contact_removed` / `deal.contact_added`; a new stage
    gives `deal.stage_changed` to the contacts who were on the deal before and still are
    (newly added ones learn the stage from their `deal.contact_added`).
    """
    previous_stage = deal.stage
    changed = apply_changes(deal, DEAL_FIELDS, changes)
    if changes.get("contact_ids") is not None:
        kept = _set_contacts(session, deal, changes["contact_ids"])
    else:
        kept = set(contact_ids_by_deal(session, deal_ids=[deal.id])[deal.id])
    if "stage" in changed:
        for contact_id in sorted(kept):
            _event(session, deal, contact_id, "deal.stage_changed", previous_stage=previous_stage)
    session.flush()
    return changed


def delete_deal(session: Session, *, deal: Deal) -> None:
    """Delete a deal; its contacts get `deal.contact_removed` marked `deal_deleted`."""
    for contact_id in contact_ids_by_deal(session, deal_ids=[deal.id])[deal.id]:
        _event(session, deal, contact_id, "deal.contact_removed", deal_deleted=True)
    # deal_contacts rows go with it through ON DELETE CASCADE.
    session.delete(deal)
    session.flush()


def filter_deals(
    *,
    stage: str | None = None,
    owner_id: int | None = None,
    account_id: int | None = None,
    contact_id: int | None = None,
) -> Select[Deal]:
    """A query for deals matching every given filter; `stage` matches ignoring case."""
    query = select(Deal)
    if stage:
        query = query.where(func.lower(Deal.stage) == stage.strip().lower())
    if owner_id is not None:
        query = query.where(Deal.owner_id == owner_id)
    if account_id is not None:
        query = query.where(Deal.account_id == account_id)
    if contact_id is not None:
        query = query.where(
            Deal.id.in_(select(DealContact.deal_id).where(DealContact.contact_id == contact_id))
        )
    return query
