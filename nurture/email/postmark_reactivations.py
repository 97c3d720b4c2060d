"""Postmark's reactivations of addresses, remembered: webhooks arrive in any order (Postmark
retries one for hours), so a bounce or complaint may be handled after the reactivation that
lifted it, and must then not suppress the address again."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.db.models import Reactivation, SuppressionReason


def remember(session: Session, *, email: str, reason: SuppressionReason, changed_at: datetime) -> None:
    """Keep the latest time Postmark reactivated `email` for `reason`."""
    kept = select(Reactivation).where(Reactivation.email == email, Reactivation.reason == reason)
    row = session.scalar(kept)
    if row is None:
        session.add(Reactivation(email=email, reason=reason, changed_at=changed_at))
    elif changed_at > row.changed_at:
        row.changed_at = changed_at
    session.flush()


def reactivated_since(
    session: Session, *, email: str, reason: SuppressionReason, moment: datetime
) -> datetime | None:
    """When Postmark reactivated `email` for `reason` at or after `moment`, if it did."""
    changed_at = session.scalar(
        select(Reactivation.changed_at).where(Reactivation.email == email, Reactivation.reason == reason)
    )
    return changed_at if changed_at is not None and changed_at >= moment else None
