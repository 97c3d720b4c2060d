"""Standing read for a whole batch answers as read for one recipient alone, word for word."""

import pytest

from nurture.db.models import (
    Contact,
    ContactStatus,
    ListSubscription,
    MailingList,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from nurture.db.session import session_factory, transaction
from nurture.email.eligibility import ineligible_reason, recipient_suppressed
from nurture.email.reserve import Standing
from nurture.schemas.email import TemplateKind
from nurture.settings import Settings

STATUSES = list(ContactStatus)
SUBSCRIPTIONS = [None, *SubscriptionStatus]
SUPPRESSIONS = [None, *SuppressionReason]


def test_every_standing_gets_the_same_answer_in_a_batch_as_alone(settings: Settings) -> None:
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        newsletter = MailingList(name="News")
        session.add(newsletter)
        session.flush()
        contacts: list[Contact] = []
        # Every combination of the contact's status, its subscription and its address's suppression.
        for status in STATUSES:
            for subscription in SUBSCRIPTIONS:
                for suppression in SUPPRESSIONS:
                    n = len(contacts)
                    contact = Contact(email=f"Person{n}@Example.com".lower(), status=status)
                    session.add(contact)
                    session.flush()
                    if subscription is not None:
                        session.add(
                            ListSubscription(
                                list_id=newsletter.id, contact_id=contact.id, status=subscription
                            )
                        )
                    if suppression is not None:
                        session.add(Suppression(email=contact.email, reason=suppression, source="api"))
                    contacts.append(contact)
        session.flush()
        standing = Standing.read(
            session,
            emails=[c.email.upper() for c in contacts],
            contact_ids=[c.id for c in contacts],
            list_ids=[newsletter.id],
        )
        checked = 0
        for contact in contacts:
            for kind in TemplateKind:
                for list_id in (None, newsletter.id):
                    alone = ineligible_reason(session, contact=contact, kind=kind, list_id=list_id)
                    batch = standing.ineligible_reason(contact=contact, kind=kind, list_id=list_id)
                    assert batch == alone, (contact.status, kind, list_id)
                    checked += 1
                alone_address = recipient_suppressed(session, email=contact.email, kind=kind)
                assert standing.recipient_suppressed(email=contact.email, kind=kind) == alone_address
        assert checked == len(STATUSES) * len(SUBSCRIPTIONS) * len(SUPPRESSIONS) * 4


@pytest.mark.parametrize("kind", list(TemplateKind))
def test_an_empty_batch_reads_nothing_and_blocks_nobody(settings: Settings, kind: TemplateKind) -> None:
    with session_factory(settings.resolved_database_url)() as session:
        standing = Standing.read(session, emails=[], contact_ids=[], list_ids=[])
        assert standing.recipient_suppressed(email="a@example.com", kind=kind) is None
