"""The transactional send request: one email an application's user expects, to any address."""

from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from nurture.schemas.email import METADATA_KEY
from nurture.schemas.fields import Email, FromAddress, Id, Input

# Nurture's own limits on metadata (Postmark's are not documented): a few short fields.
MAX_METADATA_FIELDS = 10
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_.-]+$")]
MetadataValue = Annotated[str, StringConstraints(max_length=80)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# One header line: 998 is RFC 5322's limit.
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=998)]


class TransactionalCreate(Input):
    """A password reset, an order confirmation: to `to` or a contact, from a template or written out.

    Give `template_id` (and its `model`), or a `subject` with `html` and/or `text`, sent as written.
    """

    to: Email | None = Field(default=None, description="The recipient's address (or give contact_id)")
    contact_id: Id | None = Field(default=None, description="The recipient contact (or give to)")
    template_id: Id | None = Field(default=None, description="A template; its kind does not matter")
    model: dict[str, Any] = Field(default_factory=dict, description="Variables for the template: `model.x`")
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=998)] | None = (
        None
    )
    html: str | None = Field(default=None, max_length=5_000_000)
    text: str | None = Field(default=None, max_length=5_000_000)
    from_email: FromAddress | None = Field(default=None, description="`Name <address>`; the default sender")
    reply_to: Email | None = None
    tag: Tag | None = None
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict, description="Up to 10 fields, returned with the message's webhooks"
    )

    @field_validator("metadata")
    @classmethod
    def _few_fields_not_ours(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_METADATA_FIELDS:
            raise ValueError(f"at most {MAX_METADATA_FIELDS} fields")
        if METADATA_KEY in value:
            raise ValueError(f"'{METADATA_KEY}' is Nurture's own")
        return value
