"""ContactChangeActivities: a run's tag, field and list steps, and telling others of what they changed.

A step's change reaches the rest of the system as a change made through the API does: the
contact's other running runs re-check their exits, goals and conditions, and active automations
whose triggers the change fires start (their entry rules decide). Who to tell is worked out in the
same transaction as the change, so the usual step (nobody else concerned) costs nothing more.
"""

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from nurture.automations.definition import SETTABLE_BUILT_IN
from nurture.automations.enroll import enroll
from nurture.automations.runs import ContactChange, ContactChanged, ContactDispatch
from nurture.automations.triggers import (
    Change,
    SubscriptionChanged,
    Tagged,
    Untagged,
    contact_fields,
    field_changes,
    triggered,
)
from nurture.crud.contacts import get_contact_for_work, update_contact
from nurture.crud.lists import get_list, get_subscription, set_subscription
from nurture.crud.tags import add_tag, remove_tag
from nurture.db.models import AutomationRun, Contact, RunStatus, SubscriptionStatus
from nurture.db.session import transaction
from nurture.settings import Settings

log = logging.getLogger(__name__)


def _apply(session: Session, contact: Contact, change: ContactChange) -> tuple[list[str], list[Change]]:
    """Make the change; what was done, in words for the history, and as trigger changes."""
    done: list[str] = []
    changes: list[Change] = []
    for tag in change.add_tags:
        if add_tag(session, contact=contact, name=tag):
            done.append(f"tagged {tag}")
            changes.append(Tagged(tag))
    for tag in change.remove_tags:
        if remove_tag(session, contact=contact, name=tag):
            done.append(f"untagged {tag}")
            changes.append(Untagged(tag))
    if change.fields:
        before = contact_fields(contact)
        builtin = {k: v for k, v in change.fields.items() if k in SETTABLE_BUILT_IN}
        custom = {k: v for k, v in change.fields.items() if k not in builtin}
        updates = dict(builtin)
        if custom:
            updates["custom_fields"] = custom
        done += [f"set {name}" for name in update_contact(session, contact=contact, changes=updates)]
        changes += field_changes(before, contact_fields(contact))
    for list_id, status in (
        (change.subscribe_list, SubscriptionStatus.SUBSCRIBED),
        (change.unsubscribe_list, SubscriptionStatus.UNSUBSCRIBED),
    ):
        if list_id is None:
            continue
        if get_list(session, list_id=list_id) is None:
            # Deleted since the automation was saved: the run carries on, its history says so.
            done.append(f"list {list_id} no longer exists: not {status.value}")
            continue
        existing = get_subscription(session, list_id=list_id, contact_id=contact.id)
        previous = existing.status if existing is not None else None
        set_subscription(
            session, list_id=list_id, contact_id=contact.id, status=status, consent_source=change.source
        )
        if previous != status:
            done.append(f"{status.value} list {list_id}")
            subscribed = status == SubscriptionStatus.SUBSCRIBED
            if subscribed or previous == SubscriptionStatus.SUBSCRIBED:
                changes.append(SubscriptionChanged(list_id, subscribed=subscribed))
    return done, changes


def _other_runs(session: Session, contact_id: int, workflow_id: str | None) -> list[str]:
    rows = session.scalars(
        select(AutomationRun.workflow_id)
        .where(AutomationRun.contact_id == contact_id, AutomationRun.status == RunStatus.RUNNING)
        .order_by(AutomationRun.id)
    )
    return [row for row in rows if row != workflow_id]


def apply_contact_changes(session: Session, changes: list[ContactChange]) -> ContactChanged:
    """Apply a run's contact steps in order, in the caller's transaction; what they did, and the
    contact's other running runs and the automations they trigger when anything changed."""
    if not changes:
        return ContactChanged()
    first = changes[0]
    contact = get_contact_for_work(session, contact_id=first.contact_id)
    if contact is None:
        return ContactChanged(done=["contact deleted: nothing changed"])
    done: list[str] = []
    made: list[Change] = []
    for change in changes:
        step_done, step_made = _apply(session, contact, change)
        done += step_done
        made += step_made
    if not made:
        return ContactChanged(done=done)
    return ContactChanged(
        done=done,
        runs=_other_runs(session, contact.id, first.workflow_id),
        automations=[match.automation_id for match in triggered(session, changes=made)],
    )


class ContactChangeActivities:
    """Activities of contact steps; built once per worker around the database."""

    def __init__(self, *, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    @activity.defn(name="change_contact")
    def change_contact(self, change: ContactChange) -> ContactChanged:
        """Apply a tag, field or list step; returns what changed and whom that concerns.

        Runs recorded before lean steps call this per step; later runs apply their changes with
        their next check (`apply_contact_changes`).
        """
        with transaction(self._sessions) as session:
            return apply_contact_changes(session, [change])

    @activity.defn(name="dispatch_contact_change")
    async def dispatch_contact_change(self, dispatch: ContactDispatch) -> list[str]:
        """Wake the contact's other runs and start the automations the change triggered.

        A run that has finished meanwhile is not an error; an unreachable Temporal fails the
        activity, which retries. Returns what happened, for the history.
        """
        client = activity.client()

        async def wake(workflow_id: str) -> str:
            try:
                await client.get_workflow_handle(workflow_id).signal("contact_changed")
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return f"{workflow_id}: finished"
                raise
            return f"{workflow_id}: told"

        told = list(await asyncio.gather(*(wake(workflow_id) for workflow_id in dispatch.runs)))
        for automation_id in dispatch.automations:
            # The entry rule makes a retried start harmless: the contact is refused the second time.
            enrollment = await enroll(
                client,
                self._sessions,
                self._settings,
                automation_id=automation_id,
                contact_id=dispatch.contact_id,
            )
            outcome = "started" if enrollment.started else f"not started: {enrollment.reason}"
            told.append(f"automation {automation_id}: {outcome}")
        return told
