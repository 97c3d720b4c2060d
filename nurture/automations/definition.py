"""The automation definition language: triggers, entry rule, exits and steps (shared with workflows).

A definition is a flat list of steps with ids. Each step goes on to `next` (by default the
step after it in the list; the last step ends the run), and branching steps name the steps
they go to. Ids are what versions have in common: a migrated run resumes at the step with
the same id. Validation of the graph (reachability, loops without a wait) is in `graph.py`.
"""

from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from nurture.automations.conditions import Condition, StepId
from nurture.automations.durations import Duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TimeOfDay = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, 24-hour")]
FieldName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class Part(BaseModel):
    """Base of every part of a definition: unknown keys are refused, naming themselves."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Triggers: what starts a run for a contact.


class ListSubscribed(Part):
    type: Literal["list_subscribed"]
    list_id: int = Field(ge=1)


class TagAdded(Part):
    type: Literal["tag_added"]
    tag: str = Field(min_length=1, max_length=100)


class TagRemoved(Part):
    type: Literal["tag_removed"]
    tag: str = Field(min_length=1, max_length=100)


class FieldChanged(Part):
    type: Literal["field_changed"]
    field: FieldName
    # Only when the field changes to this value; any change when absent.
    to: Any = None


class EventReceived(Part):
    type: Literal["event"]
    name: str = Field(min_length=1, max_length=100)
    properties: dict[str, Any] = Field(default_factory=dict, description="Only events with these properties")


class DateReached(Part):
    """A date field (birthday, renewal) plus an offset in days, checked daily by a Schedule."""

    type: Literal["date"]
    field: FieldName
    offset_days: int = Field(default=0, ge=-365, le=365)
    # Birthdays recur: match month and day every year rather than the full date.
    yearly: bool = False


class Manual(Part):
    """Enrolled through the API (one contact, a list or a filtered set)."""

    type: Literal["manual"]


class OneToOneReplied(Part):
    """The contact replied to a 1:1 email: any user's, or only `user_id`'s.

    Each reply recorded (through Postmark's inbound webhook or a connected mailbox's sync) starts
    a run, as far as the entry rule allows; an automatic reply (out of office) starts none.
    """

    type: Literal["one_to_one_replied"]
    user_id: int | None = Field(default=None, ge=1, description="Only replies to this user's emails")


Trigger = Annotated[
    ListSubscribed
    | TagAdded
    | TagRemoved
    | FieldChanged
    | EventReceived
    | DateReached
    | Manual
    | OneToOneReplied,
    Field(discriminator="type"),
]


class EntryRule(Part):
    """Who may enter again: `once` ever, `after_previous` run ended, or one run `per_value` of an
    event property (one run per cart)."""

    mode: Literal["once", "after_previous", "per_value"] = "once"
    property: str | None = Field(default=None, min_length=1, max_length=64)


# Exits: what ends a contact's run wherever it is.


class ExitOnEvent(Part):
    type: Literal["event"]
    name: str = Field(min_length=1, max_length=100)


class ExitOnTag(Part):
    type: Literal["tag_added"]
    tag: str = Field(min_length=1, max_length=100)


class ExitOnUnsubscribe(Part):
    type: Literal["unsubscribed"]


class ExitOnLeavingList(Part):
    type: Literal["left_list"]
    list_id: int = Field(ge=1)


Exit = Annotated[ExitOnEvent | ExitOnTag | ExitOnUnsubscribe | ExitOnLeavingList, Field(discriminator="type")]


# Steps.


class Step(Part):
    id: StepId
    name: str | None = Field(default=None, max_length=200)
    next: StepId | None = Field(
        default=None, description="The step after this one; default: the next in the list"
    )


class SendEmail(Step):
    type: Literal["send_email"]
    template_id: int = Field(ge=1)
    # The template's kind when absent; marketing obeys opt-outs, transactional does not.
    kind: Literal["marketing", "transactional"] | None = None
    list_id: int | None = Field(default=None, ge=1, description="Marketing: the list it is sent for")
    from_email: str | None = Field(default=None, max_length=400)
    # A 1:1 email from the contact's owner (or the owner of the contact's latest deal): through
    # their connected mailbox when they have one, else through Postmark with replies routed back.
    from_owner: Literal["contact", "deal"] | None = None


class Wait(Step):
    type: Literal["wait"]
    duration: Duration


class WaitUntil(Step):
    """Until a date, or the next time of day on chosen weekdays, in the contact's time zone."""

    type: Literal["wait_until"]
    date: AwareDatetime | None = None
    time_of_day: TimeOfDay | None = None
    weekdays: list[Weekday] | None = Field(default=None, min_length=1)


class WaitFor(Step):
    """Until a condition holds (then `next`), or the timeout passes (then `on_timeout`)."""

    type: Literal["wait_for"]
    condition: Condition
    timeout: Duration
    on_timeout: StepId


class If(Step):
    type: Literal["if"]
    condition: Condition
    then: StepId
    else_: StepId = Field(alias="else")


class Branch(Part):
    percent: int = Field(ge=1, le=100)
    next: StepId


class Split(Step):
    type: Literal["split"]
    branches: list[Branch] = Field(min_length=2, max_length=10)

    @field_validator("branches")
    @classmethod
    def _sum_100(cls, branches: list[Branch]) -> list[Branch]:
        total = sum(b.percent for b in branches)
        if total != 100:
            raise ValueError(f"percentages add up to {total}, not 100")
        return branches


class Goal(Step):
    """A contact who meets `condition` jumps here from wherever it is; reached unmet, it waits
    for the condition, continues, or ends."""

    type: Literal["goal"]
    condition: Condition
    if_unmet: Literal["wait", "continue", "end"] = "wait"


class GoTo(Step):
    type: Literal["goto"]
    step: StepId


class ChangeTags(Step):
    type: Literal["tag"]
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


# Built-in contact fields a set_field step may change; any other name is a custom field.
SETTABLE_BUILT_IN = ("first_name", "last_name", "phone")
# Built-in fields kept by their own rules (address, consent, ownership): never set by a step.
MANAGED_FIELDS = ("email", "timezone", "status", "owner_id", "account_id")


class SetField(Step):
    type: Literal["set_field"]
    field: FieldName
    value: Any

    @field_validator("field")
    @classmethod
    def _not_managed(cls, field: str) -> str:
        if field in MANAGED_FIELDS:
            raise ValueError(
                f"'{field}' is kept by the contacts API, not set by a step; "
                f"set_field changes {', '.join(SETTABLE_BUILT_IN)} or a custom field"
            )
        return field


class ChangeList(Step):
    type: Literal["list"]
    action: Literal["subscribe", "unsubscribe"]
    list_id: int = Field(ge=1)


class CallWebhook(Step):
    type: Literal["webhook"]
    url: AnyHttpUrl
    method: Literal["POST", "PUT", "GET"] = "POST"
    body: dict[str, Any] | None = None
    timeout: Duration = "10s"
    retries: int = Field(default=3, ge=0, le=10)


class NotifyUser(Step):
    """Email an account user (the contact's owner when no user is named) about the contact."""

    type: Literal["notify"]
    template_id: int = Field(ge=1)
    user_id: int | None = Field(default=None, ge=1)


class StartAutomation(Step):
    type: Literal["start_automation"]
    automation_id: int = Field(ge=1)


class End(Step):
    type: Literal["end"]


AnyStep = Annotated[
    SendEmail
    | Wait
    | WaitUntil
    | WaitFor
    | If
    | Split
    | Goal
    | GoTo
    | ChangeTags
    | SetField
    | ChangeList
    | CallWebhook
    | NotifyUser
    | StartAutomation
    | End,
    Field(discriminator="type"),
]
# Steps that make a run pause: a loop must hold one, or it would spin without end.
WAITING_STEPS = (Wait, WaitUntil, WaitFor)
# Steps that choose where to go themselves (or stop): `next` means nothing on them.
ROUTING_STEPS = (If, Split, GoTo, End)


def named_targets(step: AnyStep) -> list[tuple[tuple[str | int, ...], str]]:
    """The step ids a step names, each with the key naming it: `[(("then",), "a"), (("else",), "b")]`.

    The implicit "next step in the list" is not named; `Definition.targets` includes it.
    """
    if isinstance(step, If):
        return [(("then",), step.then), (("else",), step.else_)]
    if isinstance(step, Split):
        return [(("branches", i, "next"), branch.next) for i, branch in enumerate(step.branches)]
    if isinstance(step, GoTo):
        return [(("step",), step.step)]
    if isinstance(step, End):
        return []
    named: list[tuple[tuple[str | int, ...], str]] = [(("next",), step.next)] if step.next else []
    if isinstance(step, WaitFor):
        named.append((("on_timeout",), step.on_timeout))
    return named


class Definition(Part):
    """One version of an automation: what starts it, who may enter, what ends it, and its steps."""

    triggers: list[Trigger] = Field(default_factory=list, max_length=20)
    entry: EntryRule = Field(default_factory=EntryRule)
    exits: list[Exit] = Field(default_factory=list, max_length=20)
    steps: list[AnyStep] = Field(min_length=1, max_length=500)

    def step(self, step_id: str) -> AnyStep:
        """The step with this id (KeyError if there is none)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def following(self, step_id: str) -> str | None:
        """Where a step goes when it finishes: its `next`, else the next in the list, else None (end)."""
        for index, step in enumerate(self.steps):
            if step.id == step_id:
                if step.next is not None:
                    return step.next
                return self.steps[index + 1].id if index + 1 < len(self.steps) else None
        raise KeyError(step_id)

    def targets(self, step_id: str) -> list[str]:
        """Every step id this step can go to (branches included), in order; [] when it can only end."""
        index = next((i for i, step in enumerate(self.steps) if step.id == step_id), None)
        if index is None:
            raise KeyError(step_id)
        step = self.steps[index]
        found = [target for _, target in named_targets(step)]
        if not isinstance(step, ROUTING_STEPS) and step.next is None and index + 1 < len(self.steps):
            found.insert(0, self.steps[index + 1].id)
        return found

    def goals(self) -> list[Goal]:
        """The goal steps, in order."""
        return [step for step in self.steps if isinstance(step, Goal)]
