"""Custom event request and response models."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from api.automation_signals import Dispatched
from nurture.crud.events import MAX_NAME_LENGTH
from nurture.schemas.fields import Email, Id, Input, Output, PastTime

MAX_PROPERTIES = 100
MAX_PROPERTY_KEY = 64

EventName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_LENGTH),
    Field(description="What happened, as automations name it: `cart_abandoned`, `purchase`"),
]


def _check_properties(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_PROPERTIES:
        raise ValueError(f"at most {MAX_PROPERTIES} properties")
    for key in value:
        if not key or len(key) > MAX_PROPERTY_KEY:
            raise ValueError(f"property names have 1 to {MAX_PROPERTY_KEY} characters; '{key[:80]}' has not")
    return value


Properties = Annotated[dict[str, Any], AfterValidator(_check_properties)]


class EventCreate(Input):
    """An event about one contact, named by id or by email (one of them)."""

    contact_id: Id | None = None
    email: Email | None = None
    name: EventName
    properties: Properties = Field(default_factory=dict)
    occurred_at: PastTime | None = Field(default=None, description="When it happened; now by default")
    idempotency_key: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        Field(description="The caller's id for the event: the same key again returns the first event"),
    ] = None


class EventPublic(Output):
    """A recorded event."""

    id: int
    contact_id: int
    name: str
    properties: dict[str, Any]
    occurred_at: datetime
    idempotency_key: str | None


class StartedRun(Output):
    """A run the event started."""

    automation_id: int
    workflow_id: str | None
    run_id: int | None


class RefusedAutomation(Output):
    """An automation the event triggered that started no run, and why."""

    automation_id: int
    reason: str


class EventAccepted(Output):
    """The event, and what it did: the running runs told of it, the automations it started or not."""

    event: EventPublic
    repeated: bool = Field(description="The idempotency key was used before: nothing was done again")
    signalled: list[str] = Field(description="Workflow ids of the contact's runs told of the event")
    not_running: list[str] = Field(description="Runs that had finished; nothing to tell")
    unsignalled: list[str] = Field(description="Runs that could not be told (Temporal unreachable)")
    started: list[StartedRun]
    refused: list[RefusedAutomation]
    temporal_error: str | None = None

    @classmethod
    def of(cls, event: EventPublic, dispatched: Dispatched | None) -> "EventAccepted":
        """Build from the event and what dispatching it did (None for a repeat)."""
        done = dispatched or Dispatched()
        return cls(
            event=event,
            repeated=dispatched is None,
            signalled=done.signalled,
            not_running=done.not_running,
            unsignalled=done.unsignalled,
            started=[StartedRun.model_validate(s) for s in done.started],
            refused=[RefusedAutomation.model_validate(r) for r in done.refused],
            temporal_error=done.error,
        )
