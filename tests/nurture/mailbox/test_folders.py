"""Finding the Sent folder and keeping sent copies there, on a real IMAP server (pymap)."""

import re

import pytest

from nurture.email.outgoing import OutgoingEmail
from nurture.email.smtp import build_mime, message_id_for
from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.errors import MailboxRefused
from nurture.mailbox.folders import append_sent, decode_name, encode_name, find_sent_folder, quote_name
from nurture.mailbox.imap import open_imap
from tests.mail_servers import ImapServer, ImapUser, mailbox_settings


def _config(imap_server: ImapServer, user: ImapUser, **changes: object) -> MailboxConfig:
    return MailboxConfig.model_validate({**mailbox_settings(imap=imap_server, user=user), **changes})


def _email(key: str = "mailbox:sent:1") -> OutgoingEmail:
    return OutgoingEmail(
        key=key,
        from_email="grace@sales.example.com",
        to="ada@example.com",
        subject="Following up",
        html=None,
        text="Hello Ada",
        bcc=("boss@sales.example.com",),
    )


def _sent(key: str = "mailbox:sent:1") -> bytes:
    return build_mime(_email(key), with_bcc=True).as_bytes()


def _folder_contents(config: MailboxConfig, folder: str) -> list[tuple[bytes, bytes]]:
    """(FETCH line with UID, FLAGS and INTERNALDATE; message) for each message, read with imaplib."""
    with open_imap(config) as imap:
        typ, _ = imap.select(quote_name(folder), readonly=True)
        assert typ == "OK", f"no folder {folder}"
        typ, data = imap.fetch("1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    contents = []
    for index, item in enumerate(data):
        if isinstance(item, tuple):
            closing = data[index + 1]
            assert isinstance(closing, bytes)
            contents.append((item[0] + b" " + closing, item[1]))
    return contents


def test_the_folder_marked_sent_is_used(imap_server: ImapServer) -> None:
    user = imap_server.add_user(special_use={"Sent Items": "\\Sent"}, folders=["Sent", "Sent Items"])
    config = _config(imap_server, user)
    with open_imap(config) as imap:
        assert find_sent_folder(imap, configured=None) == ("Sent Items", True)

    uid = append_sent(config, _sent())
    [(line, raw)] = _folder_contents(config, "Sent Items")
    assert f"UID {uid}".encode() in line
    assert b"\\Seen" in line
    assert message_id_for(_email()).encode() in raw
    # The copy shows who was Bcc'd, as mail clients keep it.
    assert b"Bcc: boss@sales.example.com" in raw
    assert _folder_contents(config, "Sent") == []


def test_the_copy_is_dated_when_it_was_sent(imap_server: ImapServer, user: ImapUser) -> None:
    config = _config(imap_server, user, sent_folder="Sent")
    raw = b"From: grace@sales.example.com\r\nDate: Tue, 01 Apr 2025 10:00:00 +0000\r\n\r\nbody\r\n"
    append_sent(config, raw)
    [(line, _)] = _folder_contents(config, "Sent")
    assert re.search(rb'INTERNALDATE "0?1-Apr-2025 10:00:00 \+0000"', line), line


def test_a_usual_name_is_found_without_special_use(imap_server: ImapServer) -> None:
    user = imap_server.add_user(folders=["Archive", "INBOX/Sent Messages"])
    with open_imap(_config(imap_server, user)) as imap:
        assert find_sent_folder(imap, configured=None) == ("INBOX/Sent Messages", True)


def test_without_any_sent_folder_one_named_sent_is_created(imap_server: ImapServer, user: ImapUser) -> None:
    config = _config(imap_server, user)
    with open_imap(config) as imap:
        assert find_sent_folder(imap, configured=None) == ("Sent", False)
    append_sent(config, _sent())
    assert len(_folder_contents(config, "Sent")) == 1
    append_sent(config, _sent("mailbox:sent:2"))
    assert len(_folder_contents(config, "Sent")) == 2


def test_a_folder_name_outside_ascii_is_written_in_modified_utf7(imap_server: ImapServer) -> None:
    name = "Éléments envoyés"
    user = imap_server.add_user(special_use={name: "\\Sent"}, folders=[name])
    config = _config(imap_server, user)
    with open_imap(config) as imap:
        assert find_sent_folder(imap, configured=None) == (name, True)
    append_sent(config, _sent())
    assert len(_folder_contents(config, name)) == 1


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("Sent", "Sent"),
        ("Tom & Jerry", "Tom &- Jerry"),
        ("Éléments envoyés", "&AMk-l&AOk-ments envoy&AOk-s"),
        ("台北", "&U,BTFw-"),
    ],
)
def test_modified_utf7_round_trips(name: str, wire: str) -> None:
    assert encode_name(name) == wire
    assert decode_name(wire.encode()) == name


def test_a_copy_the_server_refuses_is_a_permanent_refusal() -> None:
    with ImapServer.running(max_append_len=200) as small:
        config = _config(small, small.add_user(folders=["Sent"]))
        with pytest.raises(MailboxRefused, match="APPEND"):
            append_sent(config, _sent())
