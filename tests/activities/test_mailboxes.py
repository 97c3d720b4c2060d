"""Giving up a connected-mailbox send closes its key whatever became of the mailbox: disconnected,
or its secret sealed under another secret key."""

import pytest

from activities.mailboxes import MailboxActivities
from nurture.db.models import Contact, Mailbox, Message, User
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import Content, GiveUp, MessageStatus, SendRequest, TemplateKind
from nurture.settings import Settings


@pytest.mark.parametrize("mailbox", ["disconnected", "unreadable secret"])
def test_a_mailbox_send_given_up_fails_its_key_without_reaching_the_mailbox(
    settings: Settings, mailbox: str
) -> None:
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        user = User(email="grace@seller.example", name="Grace")
        contact = Contact(email="ada@buyer.example")
        session.add_all([user, contact])
        session.flush()
        if mailbox == "unreadable secret":
            session.add(Mailbox(user_id=user.id, settings={}, secret_sealed="sealed-elsewhere", last_uid=0))
        user_id, contact_id = user.id, contact.id
    request = SendRequest(
        key="one-to-one-given-up",
        content=Content(subject="Our proposal", text="Here it is."),
        contact_id=contact_id,
        kind=TemplateKind.TRANSACTIONAL,
        user_id=user_id,
        via_mailbox=True,
    )
    activities = MailboxActivities(sessions=sessions, settings=settings)

    result = activities.give_up_mailbox_send(GiveUp(request=request, why="retries ran out"))

    assert (result.status, result.reason) == (MessageStatus.FAILED, "gave up: retries ran out")
    with sessions() as session:
        [message] = session.query(Message).all()
        assert (message.key, message.status, message.provider) == (request.key, MessageStatus.FAILED, "smtp")
