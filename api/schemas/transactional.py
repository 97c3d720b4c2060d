"""The transactional send request: one email an application's user expects, to any address."""

import binascii
import mimetypes
from base64 import b64decode
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


# Postmark takes messages up to 10 MB, attachments included; the files get most of it.
MAX_ATTACHMENT_BYTES = 10_000_000
# What the request body may weigh with that much in base64 (4/3) beside 5 MB bodies and the rest.
MAX_REQUEST_BYTES = 25_000_000
FileName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")]
MediaType = Annotated[str, StringConstraints(max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$")]


class AttachmentIn(Input):
    """A file sent with the email, in Postmark's terms."""

    name: FileName = Field(description="The file name the recipient sees (no folders)")
    content: str = Field(description="The file, base64-encoded")
    content_type: MediaType | None = Field(
        default=None, description="A media type such as `application/pdf`; guessed from the name if absent"
    )
    content_id: Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\s<>]+$")] | None = Field(
        default=None, description="For an inline image: the HTML shows it as `cid:<content_id>`"
    )

    @field_validator("content")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64") from None
        return value

    def data(self) -> bytes:
        """The file's bytes."""
        return b64decode(self.content, validate=True)

    def media_type(self) -> str:
        """The media type given, else the one the name's extension implies."""
        return self.content_type or mimetypes.guess_type(self.name)[0] or "application/octet-stream"


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
    attachments: list[AttachmentIn] = Field(
        default_factory=list, max_length=50, description="Files, up to 10 MB in all"
    )

    @field_validator("attachments")
    @classmethod
    def _within_postmark_size(cls, value: list[AttachmentIn]) -> list[AttachmentIn]:
        # base64 is 4 bytes for every 3, less its padding.
        size = sum(len(a.content) * 3 // 4 - a.content[-2:].count("=") for a in value)
        if size > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"{size:,} bytes in all; Postmark takes up to {MAX_ATTACHMENT_BYTES:,}")
        return value

    @field_validator("metadata")
    @classmethod
    def _few_fields_not_ours(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_METADATA_FIELDS:
            raise ValueError(f"at most {MAX_METADATA_FIELDS} fields")
        if METADATA_KEY in value:
            raise ValueError(f"'{METADATA_KEY}' is Nurture's own")
        return value
