"""What a user connects, validated field by field with messages that name the field."""

from typing import Any

import pytest
from pydantic import ValidationError

from nurture.mailbox.config import MailboxConfig

VALID = {
    "smtp_host": "smtp.example.com",
    "imap_host": "imap.example.com",
    "username": "grace@sales.example.com",
    "secret": "s3cret",
}


def _errors(**changes: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as invalid:
        MailboxConfig.model_validate({**VALID, **changes})
    return [(".".join(map(str, error["loc"])), error["msg"]) for error in invalid.value.errors()]


def test_the_usual_defaults() -> None:
    config = MailboxConfig.model_validate(VALID)
    assert (config.smtp_port, config.smtp_security) == (587, "starttls")
    assert (config.imap_port, config.imap_security) == (993, "ssl")
    assert config.auth == "password" and config.sent_folder is None
    assert config.from_email == "grace@sales.example.com"
    # The secret never shows in a repr or a log line.
    assert "s3cret" not in repr(config) and config.secret_value() == "s3cret"


def test_the_from_address_defaults_to_the_username_only_if_it_is_one() -> None:
    assert _errors(username="grace") == [("from_email", "required when the username is not an email address")]
    config = MailboxConfig.model_validate({**VALID, "username": "grace", "from_email": "grace@example.com"})
    assert config.from_email == "grace@example.com"
    assert _errors(from_email="grace")[0][0] == "from_email"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("imaps://imap.example.com", "a host name such as mail.example.com, without a scheme like imap://"),
        ("imap.example.com:993", "the host name alone: the port goes in its own field"),
        ("imap example.com", "a host name cannot contain spaces"),
        ("-imap.example.com", "not a valid host name: -imap.example.com"),
        ("", "String should have at least 1 character"),
    ],
)
def test_a_bad_host_is_named_with_why(value: str, message: str) -> None:
    assert _errors(imap_host=value) == [("imap_host", message)]


def test_hosts_may_be_addresses_or_international_names() -> None:
    config = MailboxConfig.model_validate({**VALID, "smtp_host": "192.0.2.1", "imap_host": "mail.bücher.de"})
    assert (config.smtp_host, config.imap_host) == ("192.0.2.1", "mail.bücher.de")


def test_ports_security_and_auth_are_checked() -> None:
    assert _errors(smtp_port=0, imap_port=70000, imap_security="tls", auth="kerberos") == [
        ("smtp_port", "Input should be greater than or equal to 1"),
        ("imap_port", "Input should be less than or equal to 65535"),
        ("imap_security", "Input should be 'ssl', 'starttls' or 'none'"),
        ("auth", "Input should be 'password' or 'oauth2'"),
    ]


def test_line_breaks_cannot_reach_a_command() -> None:
    message = "must not contain line breaks or control characters"
    assert _errors(secret="pw\r\nA1 LOGOUT") == [("secret", message)]
    assert _errors(sent_folder="Sent\r\nA2 DELETE INBOX") == [("sent_folder", message)]
    assert _errors(username="grace@example.com\nx") == [("username", message)]


def test_a_blank_sent_folder_means_none_and_an_empty_secret_is_refused() -> None:
    assert MailboxConfig.model_validate({**VALID, "sent_folder": "  "}).sent_folder is None
    assert _errors(secret="")[0][0] == "secret"
    assert _errors(surprise=1) == [("surprise", "Extra inputs are not permitted")]


def test_oauth2_uses_the_secret_as_the_token_for_smtp() -> None:
    config = MailboxConfig.model_validate(
        {**VALID, "auth": "oauth2", "secret": "ya29.token", "smtp_security": "ssl"}
    )
    smtp = config.smtp_config(timeout=5)
    assert (smtp.username, smtp.password, smtp.oauth_token) == ("grace@sales.example.com", None, "ya29.token")
    assert (smtp.use_tls, smtp.start_tls, smtp.timeout) == (True, False, 5)
