"""Campaign request and response models: the draft, its audience and A/B test, and its numbers."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, model_validator

from nurture.automations.durations import Duration
from nurture.campaigns.audience import CampaignAudience
from nurture.campaigns.conditions import FieldCondition
from nurture.campaigns.stats import CampaignStats
from nurture.db.models import Campaign, CampaignStatus
from nurture.schemas.contacts import TagName
from nurture.schemas.fields import FromAddress, Id, Input, Name, Output, TimeZone, not_null

# RFC 5322's line limit, as for template subjects.
Subject = Annotated[str, StringConstraints(min_length=1, max_length=998)]
# A million a minute is far past any provider's limit; the column is a 32-bit integer.
MAX_SEND_RATE = 1_000_000


def _in_future(value: datetime) -> datetime:
    if value <= datetime.now(UTC):
        raise ValueError("must be in the future")
    return value.astimezone(UTC)


# A moment with its time zone, stored in UTC.
FutureTime = Annotated[AwareDatetime, AfterValidator(_in_future)]
SendRate = Annotated[int, Field(ge=1, le=MAX_SEND_RATE, description="Emails per minute at most")]


LOCAL_TIME = "Send at scheduled_at's wall-clock time (read in `timezone`) in each contact's own time zone"
ZONE = (
    "IANA zone scheduled_at's wall-clock time is read in, and the zone of contacts without one; UTC when null"
)


class ConditionIn(FieldCondition, Input):
    """A contact field compared with a value, as an automation's `field` condition: `type` may be left out."""


class AudienceIn(CampaignAudience, Input):
    """Subscribers of any of `lists`, minus those of `exclude_lists`; with all `tags`, none of
    `exclude_tags`, and every field condition met. Only active, unsuppressed contacts receive it,
    once each."""

    lists: list[Id] = Field(min_length=1, max_length=50)
    exclude_lists: list[Id] = Field(default_factory=list, max_length=50)
    tags: list[TagName] = Field(default_factory=list, max_length=20)
    exclude_tags: list[TagName] = Field(default_factory=list, max_length=20)
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=20)  # type: ignore[assignment]


class VariantIn(Input):
    """What one A/B variant changes: the subject (Jinja, like a template's), the template or the sender."""

    subject: Subject | None = None
    template_id: Id | None = Field(default=None, description="A marketing template")
    from_email: FromAddress | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> "VariantIn":
        if self.subject is None and self.template_id is None and self.from_email is None:
            raise ValueError("give at least one of subject, template_id or from_email")
        return self


class ABTestIn(Input):
    """Send each variant to an equal part of a sample, wait, then the winner to everyone else."""

    variants: list[VariantIn] = Field(min_length=2, max_length=5)
    sample_percent: int = Field(ge=1, le=50, description="Share of the audience in the sample")
    wait: Duration = Field(description="How long after the sample to choose the winner, e.g. '4h'")
    metric: Literal["opens", "clicks"] = Field(description="Unique opens or clicks by people")


class CampaignCreate(Input):
    """A new draft campaign."""

    name: Name
    template_id: Id = Field(description="A marketing template")
    from_email: FromAddress | None = Field(default=None, description="The configured sender when null")
    audience: AudienceIn
    scheduled_at: FutureTime | None = Field(
        default=None, description="When POST /schedule sends it, unless the request names a time"
    )
    in_contact_timezone: bool = Field(default=False, description=LOCAL_TIME)
    timezone: TimeZone | None = Field(default=None, description=ZONE)
    send_rate: SendRate | None = None
    ab_test: ABTestIn | None = None


class CampaignUpdate(Input):
    """Changes to a draft; null clears from_email, scheduled_at, send_rate or ab_test."""

    name: Name | None = None
    template_id: Id | None = None
    from_email: FromAddress | None = None
    audience: AudienceIn | None = None
    scheduled_at: FutureTime | None = None
    in_contact_timezone: bool | None = Field(default=None, description=LOCAL_TIME)
    timezone: TimeZone | None = Field(default=None, description=ZONE)
    send_rate: SendRate | None = None
    ab_test: ABTestIn | None = None

    _not_null = not_null("name", "template_id", "audience", "in_contact_timezone")


class ScheduleBody(Input):
    """When to send, and whether in each contact's time zone; the draft's own values when left out."""

    scheduled_at: FutureTime | None = None
    in_contact_timezone: bool | None = Field(default=None, description=LOCAL_TIME)
    timezone: TimeZone | None = Field(default=None, description=ZONE)


def stored(body: CampaignCreate | CampaignUpdate) -> dict[str, Any]:
    """The given fields as the campaign row holds them (JSON for audience and ab_test)."""
    values = body.model_dump(exclude_unset=True)
    if body.audience is not None:
        values["audience"] = CampaignAudience.model_validate(body.audience.model_dump()).model_dump()
    if body.ab_test is not None:
        values["ab_test"] = body.ab_test.model_dump(exclude_none=True)
    return values


class CampaignPublic(Output):
    """A campaign as the API returns it, with its workflow's id and Temporal UI link once started."""

    id: int
    name: str
    status: CampaignStatus
    template_id: int
    from_email: str | None
    audience: dict[str, Any]
    scheduled_at: datetime | None
    in_contact_timezone: bool
    timezone: str | None
    send_rate: int | None
    ab_test: dict[str, Any] | None
    winner: int | None
    recipients: int | None = Field(description="The audience's size, fixed when sending started")
    audience_fixed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    reason: str | None = Field(description="Why it was cancelled or stopped")
    workflow_id: str | None
    ui_url: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, campaign: Campaign, *, ui_url: str | None) -> "CampaignPublic":
        """Build from a row and its workflow's UI link."""
        return cls.model_validate({**_columns(campaign), "ui_url": ui_url})


class CampaignDetail(CampaignPublic):
    """A campaign with its progress and numbers, counted in the database."""

    stats: CampaignStats


def _columns(campaign: Campaign) -> dict[str, Any]:
    return {name: getattr(campaign, name) for name in CampaignPublic.model_fields if hasattr(campaign, name)}
