"""Reply-To addresses that name their message, and survive being lowercased."""

from nurture.settings import Settings
from nurture.tracking.replies import replied_message, reply_address

SETTINGS = Settings(
    secret_key="replies-test-secret", postmark_inbound_address="abc123@inbound.postmarkapp.com"
)


def test_a_reply_address_names_its_message_even_lowercased_or_uppercased() -> None:
    address = reply_address(SETTINGS, message_id=4242)
    local, _, domain = address.partition("@")
    assert domain == "inbound.postmarkapp.com" and local.startswith("abc123+") and len(local) <= 64
    mailbox_hash = local.partition("+")[2]
    assert replied_message(SETTINGS, mailbox_hash) == 4242
    assert replied_message(SETTINGS, mailbox_hash.upper()) == 4242


def test_forged_altered_and_foreign_hashes_name_nothing() -> None:
    mailbox_hash = reply_address(SETTINGS, message_id=7).partition("+")[2].partition("@")[0]
    altered = mailbox_hash[:-2] + ("a" if mailbox_hash[-2] != "a" else "b") + mailbox_hash[-1]
    other = Settings(secret_key="another-secret", postmark_inbound_address=SETTINGS.postmark_inbound_address)
    for forged in (altered, "", "not-base32!", "a" * 65, None):
        assert replied_message(SETTINGS, forged) is None
    assert replied_message(other, mailbox_hash) is None
