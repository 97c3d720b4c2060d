"""Suppression request and response models."""

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from nurture.db.models import SuppressionReason
from nurture.schemas.fields import Email, Input, Output

Details = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class SuppressionCreate(Input):
    """An address to stop emailing; `manual` blocks every email, `spam_complaint` only marketing."""

    email: Email
    reason: SuppressionReason = SuppressionReason.MANUAL
    details: Details | None = None


class SuppressionPublic(Output):
    """A suppressed address, why, and where the suppression came from."""

    id: int
    email: str
    reason: SuppressionReason
    source: str
    details: str | None
    message_id: int | None
    created_at: datetime
