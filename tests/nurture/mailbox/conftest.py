"""Real IMAP and SMTP servers, and a fresh mailbox on them for each test."""

import pytest

from nurture.mailbox.config import MailboxConfig
from tests.mail_servers import ImapServer, ImapUser, SmtpServer, imap_server, mailbox_settings, smtp_server

__all__ = ["imap_server", "smtp_server"]  # fixtures, used by name


@pytest.fixture
def user(imap_server: ImapServer) -> ImapUser:
    return imap_server.add_user()


@pytest.fixture
def config(imap_server: ImapServer, smtp_server: SmtpServer, user: ImapUser) -> MailboxConfig:
    """A mailbox that works: both servers know the user, no TLS."""
    return MailboxConfig.model_validate(mailbox_settings(imap=imap_server, smtp=smtp_server, user=user))
