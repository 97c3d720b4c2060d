"""Field conditions in a campaign's audience: the same language and the same answers as automations'.

Every condition is run as SQL over the same contacts, on each backend, and compared with what an
automation's `field` condition says for each contact (nurture/automations/evaluate.py).
"""

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from nurture.automations.conditions import FieldIs
from nurture.automations.evaluate import BUILT_IN as AUTOMATION_BUILT_IN
from nurture.automations.evaluate import Moment, holds
from nurture.campaigns.condition_sql import condition_clause
from nurture.campaigns.conditions import BUILT_IN, FieldCondition
from nurture.crud.users import create_user
from nurture.db.base import utcnow
from nurture.db.models import Contact
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings

# (email, built-in fields, custom fields)
PEOPLE: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("ada@example.com", {"first_name": "Ada", "timezone": "Europe/London"}, {"plan": "pro", "seats": 12}),
    ("bob@example.com", {"first_name": "Bob", "phone": "+1 555"}, {"plan": "team", "seats": 3.5}),
    ("cy@example.com", {}, {"plan": "free", "seats": "12", "renews": "2025-01-15"}),
    ("di@example.com", {"last_name": "Dee"}, {"plan": None, "trial": True, "renews": "2024-12-01"}),
    ("ed@example.com", {"first_name": "Edwin"}, {"trial": False, "note": "50% off_now", "Plan": "pro"}),
    ("fay@example.com", {"first_name": "fay"}, {"seats": 0, "renews": "2025-01-15T09:30:00+02:00"}),
]

CONDITIONS: list[dict[str, Any]] = [
    {"field": "plan", "op": "eq", "value": "pro"},
    {"field": "plan", "op": "ne", "value": "pro"},
    {"field": "plan", "op": "in", "value": ["pro", "team"]},
    {"field": "plan", "op": "exists"},
    {"field": "plan", "op": "missing"},
    {"field": "plan", "op": "contains", "value": "R"},
    {"field": "seats", "op": "eq", "value": 12},
    {"field": "seats", "op": "eq", "value": "12"},
    {"field": "seats", "op": "eq", "value": 12.0},
    {"field": "seats", "op": "gt", "value": 3},
    {"field": "seats", "op": "gte", "value": 3.5},
    {"field": "seats", "op": "lt", "value": 4},
    {"field": "seats", "op": "lte", "value": 0},
    {"field": "seats", "op": "ne", "value": 12},
    {"field": "seats", "op": "in", "value": [0, "12"]},
    {"field": "trial", "op": "eq", "value": True},
    {"field": "trial", "op": "ne", "value": True},
    {"field": "trial", "op": "eq", "value": False},
    {"field": "renews", "op": "gte", "value": "2025-01-01"},
    {"field": "renews", "op": "lt", "value": "2025-01-15T12:00"},
    {"field": "note", "op": "contains", "value": "% OFF_"},
    {"field": "note", "op": "contains", "value": "5_%"},
    {"field": "first_name", "op": "eq", "value": "Ada"},
    {"field": "first_name", "op": "ne", "value": "Ada"},
    {"field": "first_name", "op": "contains", "value": "D"},
    {"field": "first_name", "op": "gt", "value": "B"},
    {"field": "first_name", "op": "lt", "value": "a"},  # code-point order, whatever the collation
    {"field": "first_name", "op": "in", "value": ["Bob", "fay"]},
    {"field": "first_name", "op": "missing"},
    {"field": "phone", "op": "exists"},
    {"field": "timezone", "op": "eq", "value": "Europe/London"},
    {"field": "email", "op": "contains", "value": "@EXAMPLE"},
    {"field": "status", "op": "eq", "value": "active"},
    {"field": "owner_id", "op": "exists"},
    {"field": "owner_id", "op": "missing"},
    {"type": "field", "field": "last_name", "op": "lte", "value": "Dee"},
]


def test_the_built_in_fields_are_the_automations() -> None:
    assert set(BUILT_IN) == set(AUTOMATION_BUILT_IN)


def test_each_condition_picks_the_contacts_an_automation_would(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        owner = create_user(session, email="owner@example.com", name="Owner")
        session.flush()
        for email, built_in, custom in PEOPLE:
            owned = {"owner_id": owner.id} if email == "bob@example.com" else {}
            session.add(Contact(email=email, custom_fields=custom, **built_in, **owned))

    wrong = []
    with session_factory(settings.resolved_database_url)() as session:
        contacts = list(session.scalars(select(Contact)))
        moment = Moment(now=utcnow(), started_at=utcnow(), sends={})
        for condition in CONDITIONS:
            rule = FieldCondition.model_validate(condition)
            picked = set(session.scalars(select(Contact.email).where(condition_clause(rule))))
            automation_rule = FieldIs(type="field", field=rule.field, op=rule.op, value=rule.value)
            expected = {
                c.email
                for c in contacts
                if holds(session, contact=c, condition=automation_rule, moment=moment)
            }
            if picked != expected:
                wrong.append((condition, sorted(picked), sorted(expected)))

    assert wrong == []
    # Not vacuous: the conditions pick different, non-trivial sets.
    assert len(CONDITIONS) > 30


@pytest.mark.parametrize(
    ("condition", "loc", "message"),
    [
        ({"field": "plan", "op": "like", "value": "p"}, ("op",), "Input should be"),
        ({"field": "plan", "op": "eq"}, ("value",), "'eq' needs a value"),
        ({"field": "plan", "op": "exists", "value": "x"}, ("value",), "'exists' takes no value"),
        ({"field": "plan", "op": "in", "value": "pro"}, ("value",), "'in' needs a list"),
        ({"field": "plan", "op": "in", "value": []}, ("value",), "'in' needs a list"),
        ({"field": "plan", "op": "eq", "value": ["pro"]}, ("value",), "use 'in' for a list"),
        ({"field": "plan", "op": "contains", "value": 3}, ("value",), "give a string"),
        ({"field": "plan", "op": "gt", "value": True}, ("value",), "not true or false"),
        ({"field": "seats", "op": "gt", "value": float("inf")}, ("value",), "finite"),
        ({"field": "first_name", "op": "eq", "value": 3}, ("value",), "first_name holds text"),
        ({"field": "owner_id", "op": "eq", "value": "3"}, ("value",), "owner_id holds an id"),
        ({"field": "owner_id", "op": "contains", "value": "3"}, ("value",), "'contains' looks for text"),
        ({"field": "my-field", "op": "exists"}, ("field",), "nor a custom field key"),
        ({"field": "plan", "op": "eq", "value": "pro", "extra": 1}, ("extra",), "Extra inputs"),
        ({"type": "tag", "field": "plan", "op": "exists"}, ("type",), "Input should be 'field'"),
    ],
)
def test_a_condition_that_cannot_be_meant_is_refused_naming_its_key(
    condition: dict, loc: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        FieldCondition.model_validate(condition)
    [error] = refused.value.errors()
    assert error["loc"] == loc and message in error["msg"], error
