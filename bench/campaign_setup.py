"""The campaign benchmark's data: a list of subscribed contacts written in bulk, a newsletter
template, and a draft campaign of that template to that list."""

import uuid
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from nurture.crud.lists import create_list
from nurture.crud.templates import create_template
from nurture.db.base import utcnow
from nurture.db.models import Campaign, Contact, ListSubscription, SubscriptionStatus, TemplateKind
from nurture.db.session import transaction

# Rows per INSERT statement: large enough to be quick, small enough to keep the parameters small.
CHUNK = 5_000
NEWSLETTER = Path(__file__).with_name("newsletter.html")
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Linus")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Perlman")
CITIES = ("Bristol", "Leeds", "Lyon", "Porto", "Utrecht", "Ghent", "Aarhus")


def _contact(run: str, i: int) -> dict[str, object]:
    # One in ten without a first name: the template greets them otherwise.
    return {
        "email": f"reader-{run}-{i}@example.com",
        "first_name": FIRST[i % len(FIRST)] if i % 10 else None,
        "last_name": LAST[i % len(LAST)],
        "custom_fields": {
            "company": f"Company {i % 997}",
            "city": CITIES[i % len(CITIES)],
            "plan": "pro" if i % 4 == 0 else "starter",
        },
    }


def subscribed_list(sessions: sessionmaker[Session], *, count: int) -> int:
    """A new list with `count` new contacts subscribed to it, inserted in bulk; its id."""
    run = uuid.uuid4().hex[:8]
    with transaction(sessions) as session:
        list_id = create_list(session, name=f"Bench readers {run}").id
    for first in range(0, count, CHUNK):
        now = utcnow()
        with transaction(sessions) as session:
            # Bulk INSERTs (executemany with RETURNING), not one ORM object per row.
            contact_ids = session.scalars(
                insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
                [_contact(run, i) for i in range(first, min(count, first + CHUNK))],
            ).all()
            session.execute(
                insert(ListSubscription),
                [
                    {
                        "list_id": list_id,
                        "contact_id": contact_id,
                        "status": SubscriptionStatus.SUBSCRIBED,
                        "consent_source": "bench",
                        "consent_at": now,
                    }
                    for contact_id in contact_ids
                ],
            )
    return list_id


def newsletter_template(sessions: sessionmaker[Session]) -> int:
    """A marketing template as marketers write them: no layout, no text body (it is derived)."""
    with transaction(sessions) as session:
        return create_template(
            session,
            name=f"Bench digest {uuid.uuid4().hex[:8]}",
            kind=TemplateKind.MARKETING,
            subject="{{ contact.first_name or 'Hello' }}, your November digest",
            html_body=NEWSLETTER.read_text(),
        ).id


def draft_campaign(sessions: sessionmaker[Session], *, template_id: int, list_id: int) -> int:
    """A draft campaign of the template to the list, as `POST /campaigns` writes one; its id."""
    with transaction(sessions) as session:
        campaign = Campaign(name="Bench digest", template_id=template_id, audience={"lists": [list_id]})
        session.add(campaign)
        session.flush()
        return campaign.id
