"""DateTriggerActivities: find the automations with date triggers, and page the contacts due on a day."""

from typing import Any

from sqlalchemy import ColumnElement, String, cast, or_, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from nurture.automations.date_triggers import (
    DateAutomation,
    DatePage,
    DatePageRequest,
    like_patterns,
    matches,
)
from nurture.automations.definition import DateReached
from nurture.automations.evaluate import BUILT_IN
from nurture.automations.triggers import active_definitions
from nurture.db.models import Contact


def field_text(field: str) -> ColumnElement[Any]:
    """A contact field as text in SQL, read as `evaluate.field_value` reads it: built-in first."""
    if field in BUILT_IN:
        return cast(getattr(Contact, field), String)
    return Contact.custom_fields[field].as_string()


class DateTriggerActivities:
    """Activities of DateTriggerWorkflow; built once per worker around the database."""

    def __init__(self, *, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @activity.defn(name="date_triggered_automations")
    def date_triggered_automations(self) -> list[DateAutomation]:
        """The active automations whose newest version has a `date` trigger, in id order."""
        with self._sessions() as session:
            definitions = active_definitions(session)
        found = []
        for automation_id, definition in definitions:
            triggers = [t for t in definition.triggers if isinstance(t, DateReached)]
            if triggers:
                found.append(DateAutomation(automation_id=automation_id, triggers=triggers))
        return found

    @activity.defn(name="date_trigger_page")
    def date_trigger_page(self, request: DatePageRequest) -> DatePage:
        """Contacts due on the day by any of the triggers, among the next `limit` after `after_id`.

        The database narrows by the date's text (LIKE on the field), then each value is parsed
        here, so a page may hold fewer due contacts than it looked at (`2024-03-01junk`).
        """
        fields = list(dict.fromkeys(t.field for t in request.triggers))
        texts = {field: field_text(field) for field in fields}
        narrowed = or_(
            *(
                texts[trigger.field].like(pattern)
                for trigger in request.triggers
                for pattern in like_patterns(trigger, request.day)
            )
        )
        query = select(Contact.id, *texts.values()).where(narrowed).order_by(Contact.id).limit(request.limit)
        if request.after_id is not None:
            query = query.where(Contact.id > request.after_id)
        with self._sessions() as session:
            rows = session.execute(query).all()
        due = [
            row[0]
            for row in rows
            if any(
                matches(trigger, row[1 + fields.index(trigger.field)], request.day)
                for trigger in request.triggers
            )
        ]
        return DatePage(
            contact_ids=due,
            cursor=rows[-1][0] if rows else request.after_id,
            exhausted=len(rows) < request.limit,
        )
