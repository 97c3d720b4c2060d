"""Conditions automations branch, wait and aim on: contact data, events and email engagement."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nurture.automations.durations import Duration

StepId = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="A step's id: a-z, 0-9, _ and -")
]


class Rule(BaseModel):
    """Base of conditions: unknown keys are refused, so a typo names itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldIs(Rule):
    """A contact field (built-in or custom) compared with a value."""

    type: Literal["field"]
    field: str = Field(min_length=1, max_length=64)
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists", "missing", "in"] = "eq"
    value: Any = None


class HasTag(Rule):
    """The contact carries (or, with `present: false`, lacks) a tag."""

    type: Literal["tag"]
    tag: str = Field(min_length=1, max_length=100)
    present: bool = True


class OnList(Rule):
    """The contact is (or is not) subscribed to a list."""

    type: Literal["list"]
    list_id: int = Field(ge=1)
    subscribed: bool = True


class EventSeen(Rule):
    """The contact sent a custom event (with these properties), optionally within a window."""

    type: Literal["event"]
    name: str = Field(min_length=1, max_length=100)
    properties: dict[str, Any] = Field(default_factory=dict)
    within: Duration | None = None


class EmailEngaged(Rule):
    """The email of an earlier send step was opened, clicked (a link), delivered or replied to."""

    type: Literal["email"]
    step: StepId
    did: Literal["delivered", "opened", "clicked", "replied"]
    link: str | None = Field(default=None, description="With clicked: only a click on this URL")
    within: Duration | None = Field(default=None, description="Counted from the send")
    # Privacy proxies open every email and scanners click every link: not counted by default.
    include_machine: bool = False


class AllOf(Rule):
    """Every condition holds."""

    type: Literal["all"]
    conditions: list["Condition"] = Field(min_length=1)


class AnyOf(Rule):
    """At least one condition holds."""

    type: Literal["any"]
    conditions: list["Condition"] = Field(min_length=1)


class Not(Rule):
    """The condition does not hold."""

    type: Literal["not"]
    condition: "Condition"


Condition = Annotated[
    FieldIs | HasTag | OnList | EventSeen | EmailEngaged | AllOf | AnyOf | Not, Field(discriminator="type")
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def walk(condition: Condition) -> list[Condition]:
    """This condition and every condition inside it, depth first."""
    found: list[Condition] = [condition]
    if isinstance(condition, AllOf | AnyOf):
        for inner in condition.conditions:
            found += walk(inner)
    elif isinstance(condition, Not):
        found += walk(condition.condition)
    return found


def walk_paths(
    condition: Condition, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], Condition]]:
    """Like `walk`, with each condition's path from this one: `("conditions", 1, "condition")`."""
    found: list[tuple[tuple[str | int, ...], Condition]] = [(path, condition)]
    if isinstance(condition, AllOf | AnyOf):
        for n, inner in enumerate(condition.conditions):
            found += walk_paths(inner, (*path, "conditions", n))
    elif isinstance(condition, Not):
        found += walk_paths(condition.condition, (*path, "condition"))
    return found
