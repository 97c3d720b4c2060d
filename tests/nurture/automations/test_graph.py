"""Structural checks of definitions: each problem is found, at its path, in words naming the step."""

import copy
from typing import Any

import pytest

from nurture.automations.check import parse_definition
from nurture.automations.graph import check_graph
from nurture.automations.problems import DefinitionRefused
from tests.nurture.automations.examples import cart_abandonment, nurture


def _problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in check_graph(parse_definition(raw))]


def _steps(*steps: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"steps": list(steps), **rest}


def test_the_14_day_nurture_and_cart_abandonment_pass() -> None:
    assert _problems(nurture()) == []
    assert _problems(cart_abandonment()) == []


def test_where_steps_go() -> None:
    definition = parse_definition(nurture())
    assert definition.targets("welcome") == ["wait-2d"]
    assert definition.targets("opened-welcome") == ["tips", "reminder"]
    assert definition.targets("reminder") == ["wait-pricing"]
    assert definition.targets("wait-pricing") == ["hot-lead", "last-call"]
    assert definition.targets("done") == []
    assert definition.targets("purchased") == []


@pytest.mark.parametrize(
    ("index", "key", "value", "path"),
    [
        (3, "next", "remindr", "steps[3].next"),
        (2, "then", "tipz", "steps[2].then"),
        (2, "else", "remindr", "steps[2].else"),
        (5, "on_timeout", "last-cal", "steps[5].on_timeout"),
    ],
)
def test_unknown_step_ids_are_named_at_their_key(index: int, key: str, value: str, path: str) -> None:
    raw = nurture()
    raw["steps"][index][key] = value
    found = _problems(raw)
    step_id = raw["steps"][index]["id"]
    assert (path, f"steps[{index}] ({step_id}): {key}: unknown step '{value}'") in found


def test_unknown_step_in_a_split_and_a_goto() -> None:
    raw = _steps(
        {
            "id": "ab",
            "type": "split",
            "branches": [{"percent": 50, "next": "a"}, {"percent": 50, "next": "bb"}],
        },
        {"id": "a", "type": "send_email", "template_id": 1, "next": "wait"},
        {"id": "b", "type": "send_email", "template_id": 2},
        {"id": "wait", "type": "wait", "duration": "1d"},
        {"id": "again", "type": "goto", "step": "strat"},
    )
    found = _problems(raw)
    assert ("steps[0].branches[1].next", "steps[0] (ab): branches[1].next: unknown step 'bb'") in found
    assert ("steps[4].step", "steps[4] (again): step: unknown step 'strat'") in found
    # With its branch misspelt, nothing leads to b any more.
    assert ("steps[2]", unreachable(2, "b")) in found


def unreachable(index: int, step_id: str) -> str:
    return (
        f"steps[{index}] ({step_id}): no step leads here, so no contact can reach it; "
        "link it from another step or remove it"
    )


def test_unreachable_steps_but_goals_are_reachable_from_anywhere() -> None:
    raw = _steps(
        {"id": "welcome", "type": "send_email", "template_id": 1, "next": "done"},
        {"id": "old-reminder", "type": "send_email", "template_id": 2},
        {"id": "done", "type": "end"},
        {"id": "upgraded", "type": "goal", "condition": {"type": "tag", "tag": "pro"}},
        {"id": "thanks", "type": "send_email", "template_id": 3},
    )
    assert _problems(raw) == [("steps[1]", unreachable(1, "old-reminder"))]


def test_a_loop_without_a_wait_is_refused_naming_the_step_that_goes_back() -> None:
    raw = _steps(
        {"id": "welcome", "type": "send_email", "template_id": 1},
        {
            "id": "check",
            "type": "if",
            "condition": {"type": "tag", "tag": "customer"},
            "then": "done",
            "else": "nudge",
        },
        {"id": "nudge", "type": "send_email", "template_id": 2},
        {"id": "loop-back", "type": "goto", "step": "check"},
        {"id": "done", "type": "end"},
    )
    assert _problems(raw) == [
        (
            "steps[3].step",
            "steps[3] (loop-back): goes back to 'check' in a loop with no wait inside; add a wait step",
        )
    ]
    # The same loop with a wait in it is how a weekly nudge is written.
    raw["steps"].insert(3, {"id": "a-week", "type": "wait", "duration": "1w"})
    assert _problems(raw) == []


def test_a_wait_on_one_path_of_a_loop_does_not_excuse_the_other() -> None:
    raw = _steps(
        {
            "id": "check",
            "type": "if",
            "condition": {"type": "tag", "tag": "vip"},
            "then": "tag-it",
            "else": "wait",
        },
        {"id": "tag-it", "type": "tag", "add": ["seen"], "next": "check"},
        {
            "id": "wait",
            "type": "wait_for",
            "condition": {"type": "tag", "tag": "vip"},
            "timeout": "2d",
            "on_timeout": "check",
            "next": "check",
        },
    )
    assert _problems(raw) == [
        (
            "steps[1].next",
            "steps[1] (tag-it): goes back to 'check' in a loop with no wait inside; add a wait step",
        )
    ]


def test_a_goto_to_itself_and_a_loop_through_the_list_order() -> None:
    spin = _steps({"id": "spin", "type": "goto", "step": "spin"})
    assert _problems(spin) == [
        (
            "steps[0].step",
            "steps[0] (spin): goes back to 'spin' in a loop with no wait inside; add a wait step",
        )
    ]
    # A tag step goes on to the next in the list, which goes back to it.
    implicit = _steps({"id": "a", "type": "tag", "add": ["x"]}, {"id": "b", "type": "goto", "step": "a"})
    assert [path for path, _ in _problems(implicit)] == ["steps[1].step"]


def test_email_conditions_must_name_a_send_email_step() -> None:
    raw = nurture()
    raw["steps"][2]["condition"]["step"] = "wait-2d"
    raw["steps"][5]["condition"]["conditions"][1]["step"] = "tipps"
    raw["steps"][5]["condition"]["conditions"][0]["did"] = "opened"
    assert _problems(raw) == [
        (
            "steps[2].condition.step",
            "steps[2] (opened-welcome): condition.step: 'wait-2d' is a wait step; "
            "only a send_email step's email can be opened",
        ),
        (
            "steps[5].condition.conditions[0].link",
            "steps[5] (wait-pricing): condition.conditions[0].link: "
            "only a click has a link; use did: clicked",
        ),
        (
            "steps[5].condition.conditions[1].step",
            "steps[5] (wait-pricing): condition.conditions[1].step: unknown step 'tipps'",
        ),
    ]


def test_wait_until_needs_a_date_or_a_time_of_day() -> None:
    raw = _steps(
        {"id": "monday-9am", "type": "wait_until", "weekdays": ["mon"]},
        {"id": "launch", "type": "wait_until", "date": "2030-01-01T09:00:00+00:00", "time_of_day": "09:00"},
        {"id": "ok", "type": "wait_until", "time_of_day": "09:00", "weekdays": ["mon", "thu"]},
    )
    assert _problems(raw) == [
        ("steps[0]", "steps[0] (monday-9am): wait_until needs a date or a time_of_day"),
        ("steps[1]", "steps[1] (launch): give a date or a time_of_day, not both"),
    ]


def test_per_value_entry_needs_a_property_and_an_event_trigger() -> None:
    raw = cart_abandonment()
    raw["entry"] = {"mode": "per_value"}
    raw["triggers"] = [{"type": "tag_added", "tag": "cart"}]
    assert _problems(raw) == [
        (
            "entry.property",
            "entry: property: per_value needs the event property that tells runs apart, e.g. cart_id",
        ),
        (
            "entry.mode",
            "entry: mode: per_value starts one run per value of an event property, "
            "so it needs an event trigger",
        ),
    ]


def test_per_value_entry_refuses_triggers_without_an_event_property() -> None:
    raw = cart_abandonment()
    raw["entry"] = {"mode": "per_value", "property": "cart_id"}
    raw["triggers"].append({"type": "date", "field": "renewal_date"})
    assert _problems(raw) == [
        (
            "triggers[1]",
            "triggers[1]: a date trigger never starts a run under per_value entry, which keys runs "
            "on an event property; use an event trigger or another entry rule",
        ),
    ]


def test_duplicate_step_ids_triggers_and_exits() -> None:
    raw = nurture()
    raw["steps"][4]["id"] = "welcome"
    raw["steps"][2]["then"] = "reminder"
    raw["triggers"].append({"type": "tag_added", "tag": "lead"})
    raw["triggers"].append({"type": "list_subscribed", "list_id": 1})
    raw["exits"].append({"type": "unsubscribed"})
    assert _problems(raw) == [
        (
            "steps[4].id",
            "steps[4] (welcome): id: 'welcome' is already the id of steps[0]; ids must be unique",
        ),
        ("triggers[2]", "triggers[2]: the same trigger as triggers[0]"),
        ("exits[1]", "exits[1]: the same exit as exits[0]"),
        # With its id taken, the tips step no longer exists for the condition that names it.
        (
            "steps[5].condition.conditions[1].step",
            "steps[5] (wait-pricing): condition.conditions[1].step: unknown step 'tips'",
        ),
    ]


def test_next_on_a_step_that_routes_itself_is_refused() -> None:
    raw = _steps(
        {
            "id": "check",
            "type": "if",
            "condition": {"type": "tag", "tag": "x"},
            "then": "a",
            "else": "a",
            "next": "a",
        },
        {"id": "a", "type": "end", "next": "check"},
    )
    assert _problems(raw) == [
        ("steps[0].next", "steps[0] (check): next: not used by a if step; remove it"),
        ("steps[1].next", "steps[1] (a): next: not used by a end step; remove it"),
    ]


def test_shape_errors_name_the_step_and_key_without_pydantic_union_tags() -> None:
    raw = _steps(
        {"id": "welcome", "type": "send_email", "template_id": "first", "subjct": "Hi"},
        {"id": "pause", "type": "wait", "duration": "2 days"},
        {"id": "oops", "type": "sendmail"},
        {
            "id": "plan",
            "type": "if",
            "condition": {"type": "field", "field": "plan", "op": "is"},
            "then": "a",
            "else": "b",
        },
        {
            "id": "ab",
            "type": "split",
            "branches": [{"percent": 50, "next": "a"}, {"percent": 40, "next": "b"}],
        },
    )
    with pytest.raises(DefinitionRefused) as refused:
        parse_definition(copy.deepcopy(raw))
    found = {p.path: p.message for p in refused.value.problems}
    assert found["steps[0].template_id"].startswith(
        "steps[0] (welcome): template_id: Input should be a valid integer"
    )
    assert found["steps[0].subjct"] == "steps[0] (welcome): subjct: unknown key"
    assert found["steps[1].duration"] == (
        "steps[1] (pause): duration: '2 days' is not a duration such as '2d', '12h', '1w 2d' or 'P2DT12H'"
    )
    assert found["steps[2]"].startswith(
        "steps[2] (oops): unknown type 'sendmail'; expected one of 'send_email'"
    )
    assert found["steps[3].condition.op"].startswith("steps[3] (plan): condition.op: Input should be 'eq'")
    assert found["steps[4].branches"] == "steps[4] (ab): branches: percentages add up to 90, not 100"
    assert len(found) == 6


def test_patterns_are_explained_in_words() -> None:
    raw = _steps({"id": "Welcome!", "type": "wait_until", "time_of_day": "9:30"})
    with pytest.raises(DefinitionRefused) as refused:
        parse_definition(raw)
    assert [(p.path, p.message) for p in refused.value.problems] == [
        (
            "steps[0].id",
            "steps[0] (Welcome!): id: 'Welcome!': a step id holds only a-z, 0-9, _ and - "
            "(at most 64, not starting with _ or -)",
        ),
        (
            "steps[0].time_of_day",
            "steps[0] (Welcome!): time_of_day: '9:30': "
            "must be a time of day as HH:MM, 24-hour, such as 09:30",
        ),
    ]


def test_a_missing_step_list_and_a_non_object() -> None:
    with pytest.raises(DefinitionRefused) as refused:
        parse_definition({"triggers": []})
    assert [(p.path, p.message) for p in refused.value.problems] == [("steps", "steps: is required")]
    with pytest.raises(DefinitionRefused) as refused:
        parse_definition(["welcome"])
    assert [p.path for p in refused.value.problems] == [""]
    assert refused.value.problems[0].message.startswith("definition: Input should be")
