"""Postmark's outbound webhook payloads, parsed by `RecordType` (../shared/research/postmark.md, 3.2-3.3)."""

from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_pascal

from nurture.schemas.fields import Email


class PostmarkPayloadError(ValueError):
    """A webhook body that is not a Postmark event; `errors` names each field at fault."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


class PostmarkModel(BaseModel):
    """Postmark's PascalCase fields; unknown fields are ignored, since Postmark adds them over time."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")


class Geo(PostmarkModel):
    """Where an open or click came from, as far as Postmark can tell."""

    country: str | None = None
    city: str | None = None
    ip: str | None = Field(default=None, alias="IP")


class Agent(PostmarkModel):
    """The email client or operating system of an open or click."""

    name: str | None = None
    family: str | None = None


class PostmarkEvent(PostmarkModel):
    """Fields every outbound event carries; Metadata is what Nurture set on the send."""

    record_type: str
    message_id: str | None = Field(default=None, alias="MessageID")
    message_stream: str | None = None
    tag: str | None = None
    server_id: int | None = Field(default=None, alias="ServerID")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata", mode="before")
    @classmethod
    def _no_metadata(cls, value: Any) -> Any:
        # A reactivation carries `{}`; be as lenient with a null.
        return {} if value is None else value

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        # Postmark's timestamps carry an offset; a legacy or hand-made one without is taken as UTC.
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class DeliveryEvent(PostmarkEvent):
    """The receiving server accepted the message."""

    record_type: Literal["Delivery"]
    message_id: str = Field(alias="MessageID")
    recipient: str
    delivered_at: datetime
    details: str | None = None


class BounceFields(PostmarkEvent):
    """What bounces and spam complaints share."""

    # An int64 past 2**53 in Postmark's own example: it must stay an int.
    id: int = Field(alias="ID")
    type: str
    type_code: int | None = None
    name: str | None = None
    description: str | None = None
    details: str | None = None
    # Bounces and complaints name the address `Email`, not `Recipient`; it is suppressed, so it
    # is validated as a contact's address is, and lower-cased as the suppression list stores it.
    email: Email
    bounced_at: datetime
    # Postmark deactivated the address: it will not send to it again.
    inactive: bool = False
    can_activate: bool | None = None
    subject: str | None = None


class BounceEvent(BounceFields):
    """A bounce; `Type` says which kind (the TypeCode table is inconsistent, so it is advisory)."""

    record_type: Literal["Bounce"]


class SpamComplaintEvent(BounceFields):
    """The recipient marked the message as spam."""

    record_type: Literal["SpamComplaint"]


class TrackedFields(PostmarkEvent):
    """What opens and clicks share: who, when, and from which client."""

    message_id: str = Field(alias="MessageID")
    recipient: str
    received_at: datetime
    first_open: bool | None = None
    read_seconds: int | None = None
    platform: str | None = None
    user_agent: str | None = None
    client: Agent | None = None
    os: Agent | None = Field(default=None, alias="OS")
    geo: Geo | None = None


class OpenEvent(TrackedFields):
    """Postmark's tracking pixel was loaded."""

    record_type: Literal["Open"]


class ClickEvent(TrackedFields):
    """A link rewritten by Postmark's click tracking was followed."""

    record_type: Literal["Click"]
    original_link: str
    click_location: str | None = None


class SubscriptionChangeEvent(PostmarkEvent):
    """Postmark suppressed (`SuppressSending` true) or reactivated an address on a stream."""

    record_type: Literal["SubscriptionChange"]
    # Suppressed or reactivated: validated and lower-cased like a contact's address.
    recipient: Email
    changed_at: datetime
    suppress_sending: bool
    # HardBounce, SpamComplaint or ManualSuppression; one docs fixture spells it "ManualSupression".
    suppression_reason: str | None = None
    origin: str | None = None


AnyPostmarkEvent = (
    DeliveryEvent | BounceEvent | SpamComplaintEvent | OpenEvent | ClickEvent | SubscriptionChangeEvent
)

EVENT_MODELS: dict[str, type[PostmarkEvent]] = {
    "Delivery": DeliveryEvent,
    "Bounce": BounceEvent,
    "SpamComplaint": SpamComplaintEvent,
    "Open": OpenEvent,
    "Click": ClickEvent,
    "SubscriptionChange": SubscriptionChangeEvent,
}


def _field(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def parse_postmark_event(payload: object) -> AnyPostmarkEvent:
    """The typed event for a webhook body, chosen by its `RecordType`.

    Raises:
        PostmarkPayloadError: the body is not an object, its RecordType is missing or unknown,
            or a field the handling needs is missing or malformed.
    """
    if not isinstance(payload, dict):
        raise PostmarkPayloadError([("body", "must be a JSON object")])
    record_type = payload.get("RecordType")
    if record_type is None:
        raise PostmarkPayloadError([("RecordType", "Field required")])
    model = EVENT_MODELS.get(record_type) if isinstance(record_type, str) else None
    if model is None:
        known = ", ".join(EVENT_MODELS)
        raise PostmarkPayloadError([("RecordType", f"unknown record type {record_type!r}; expected {known}")])
    try:
        event = model.model_validate(payload)
    except ValidationError as exc:
        raise PostmarkPayloadError(
            [(_field(error["loc"]), error["msg"]) for error in exc.errors(include_url=False)]
        ) from exc
    return cast(AnyPostmarkEvent, event)
