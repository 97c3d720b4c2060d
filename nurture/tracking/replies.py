"""Reply-To addresses that say which message a reply answers: `reply+<token>@inbound-domain`.

The token is a signed `reply` token, spelled in lowercase base32 so that a mail system that
folds the address to lowercase cannot break it; 32 bytes make 52 characters, and with `reply+`
the local part stays within the 64 that addresses allow.
"""

import base64
import binascii

from nurture.settings import Settings
from nurture.tracking.tokens import sign, signing_keys, verify


def reply_address(settings: Settings, *, message_id: int) -> str:
    """The Reply-To of a platform 1:1 email: Postmark's inbound address with the message's token."""
    token = sign("reply", message_id=message_id, keys=signing_keys(settings))
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    hashed = base64.b32encode(raw).decode().rstrip("=").lower()
    local, _, domain = settings.postmark_inbound_address.partition("@")
    return f"{local.partition('+')[0]}+{hashed}@{domain}"


def replied_message(settings: Settings, mailbox_hash: str | None) -> int | None:
    """The id of the message whose reply address carried this hash, or None if it is not ours."""
    if not mailbox_hash or len(mailbox_hash) > 64:
        return None
    try:
        raw = base64.b32decode(mailbox_hash.upper() + "=" * (-len(mailbox_hash) % 8))
    except (binascii.Error, ValueError):
        return None
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    claims = verify("reply", token, keys=signing_keys(settings))
    return claims.message_id if claims is not None else None
