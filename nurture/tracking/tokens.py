"""Signed, URL-safe tokens for open, click and unsubscribe links and reply addresses, with key
rotation by key id."""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from nurture.settings import Settings

Purpose = Literal["open", "click", "unsubscribe", "reply"]

VERSION = 1
# Each purpose is its own HMAC domain: a click token never verifies as an unsubscribe token.
PURPOSE_CODES: dict[Purpose, int] = {"open": 1, "click": 2, "unsubscribe": 3, "reply": 4}
MAC_BYTES = 16
# The kid of the key derived from secret_key when tracking_keys is empty.
DEFAULT_KID = "0"
# Kids travel inside every token; keep them short and free of the "," and ":" that separate them.
_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
# version, kid length, [kid], purpose, message id, position.
_HEAD = struct.Struct(">BB")
_TAIL = struct.Struct(">BQI")
MAX_TOKEN_LENGTH = 128
# A stand-in's link position (`Slots`).
_POSITION = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: which message, which link, and the key that signed it."""

    purpose: Purpose
    message_id: int
    position: int
    kid: str


@dataclass(frozen=True)
class SigningKeys:
    """The key that signs new tokens and every key (by kid) that still verifies old ones."""

    signing_kid: str
    secrets: dict[str, bytes]


def parse_keys(value: str, *, secret_key: str) -> SigningKeys:
    """Parse "kid:secret,kid:secret" (the first signs, all verify); empty derives one key from
    secret_key (kid "0"), which goes on verifying once a list is set.

    Raises:
        ValueError: naming NURTURE_TRACKING_KEYS and the entry at fault.
    """
    # Never the raw secret_key: a key of its own, so a leak of one says nothing of the other.
    derived = hmac.new(secret_key.encode(), b"nurture tracking key v1", hashlib.sha256).digest()
    if not value.strip():
        return SigningKeys(signing_kid=DEFAULT_KID, secrets={DEFAULT_KID: derived})
    secrets: dict[str, bytes] = {}
    for number, entry in enumerate(value.split(","), start=1):
        kid, sep, secret = entry.strip().partition(":")
        where = f"NURTURE_TRACKING_KEYS entry {number}"
        if not sep or not secret.strip():
            raise ValueError(f"{where} must be 'kid:secret', e.g. '2024a:long-random-string'")
        if not _KID.match(kid):
            raise ValueError(f"{where}: key id '{kid}' must be 1-16 letters, digits, '-' or '_'")
        if kid in secrets:
            raise ValueError(f"{where}: key id '{kid}' appears twice")
        secrets[kid] = secret.strip().encode()
    signing_kid = next(iter(secrets))
    # Links sent before the list was set carry the derived key's kid: they keep verifying (unless
    # the list gives that kid a secret of its own).
    secrets.setdefault(DEFAULT_KID, derived)
    return SigningKeys(signing_kid=signing_kid, secrets=secrets)


@lru_cache(maxsize=8)
def _cached_keys(value: str, secret_key: str) -> SigningKeys:
    return parse_keys(value, secret_key=secret_key)


def signing_keys(settings: Settings) -> SigningKeys:
    """The tracking keys of these settings (parsed once per distinct value).

    Raises:
        ValueError: if settings.tracking_keys is malformed.
    """
    return _cached_keys(settings.tracking_keys, settings.secret_key)


@lru_cache(maxsize=64)
def _subkey(secret: bytes, purpose: Purpose) -> bytes:
    # A per-purpose subkey separates the domains even if two payloads were ever byte-equal.
    return hmac.digest(secret, f"nurture/{purpose}".encode(), hashlib.sha256)


def _mac(secret: bytes, purpose: Purpose, payload: bytes) -> bytes:
    # Every link of every email is signed: the subkey is derived once, the MAC in one C call.
    return hmac.digest(_subkey(secret, purpose), payload, hashlib.sha256)[:MAC_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def sign(purpose: Purpose, *, message_id: int, position: int = 0, keys: SigningKeys) -> str:
    """A token for one message (and one link position) with the current signing key.

    Raises:
        ValueError: if the purpose is unknown or an id does not fit the token.
    """
    if purpose not in PURPOSE_CODES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if not 0 < message_id < 2**63 or not 0 <= position < 2**32:
        raise ValueError("message_id or position out of range")
    kid = keys.signing_kid.encode()
    payload = _HEAD.pack(VERSION, len(kid)) + kid + _TAIL.pack(PURPOSE_CODES[purpose], message_id, position)
    return _encode(payload + _mac(keys.secrets[keys.signing_kid], purpose, payload))


class Slots:
    """Stand-ins for the tokens of emails whose message ids are not known yet, signed in one pass
    once they are (`fill`).

    A batch composes its emails before it takes their ids: composing is slow, and taking ids
    holds the database's write lock. A stand-in is a random prefix (the same for every email the
    slots serve) and the token's purpose and position: letters, digits, `-` and `_`, like a
    token, so HTML escaping and URL encoding leave it as it is, and nothing else in an email can
    be mistaken for one.
    """

    def __init__(self) -> None:
        self._prefix = "s" + secrets.token_urlsafe(12)
        self._purposes = {str(code): purpose for purpose, code in PURPOSE_CODES.items()}

    def __call__(self, purpose: Purpose, position: int = 0) -> str:
        """The stand-in for this token: the prefix, then `{purpose code}_{position}_`."""
        return f"{self._prefix}{PURPOSE_CODES[purpose]}_{position}_"

    def fill(self, texts: list[str], *, message_id: int, keys: SigningKeys) -> list[str]:
        """The texts with every stand-in replaced by its token signed for `message_id`."""
        signed: dict[tuple[str, str], str] = {}
        filled = []
        for text in texts:
            # Split at the prefix (one C call), not matched by a pattern: a newsletter's 8 KB
            # holds a dozen stand-ins, and a regular expression's callback for each cost twice
            # as much as the split and the lookups.
            first, *pieces = text.split(self._prefix)
            parts = [first]
            for piece in pieces:
                code, underscore, rest = piece.partition("_")
                position, underscore_too, after = rest.partition("_")
                purpose = self._purposes.get(code)
                if not (purpose and underscore and underscore_too and _POSITION.fullmatch(position)):
                    parts += [self._prefix, piece]  # not a stand-in: the text as it was
                    continue
                token = signed.get((code, position))
                if token is None:
                    token = sign(purpose, message_id=message_id, position=int(position), keys=keys)
                    signed[code, position] = token
                parts += [token, after]
            filled.append("".join(parts))
        return filled


def _decode(token: str) -> bytes | None:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not _TOKEN.match(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Base64 leaves spare bits in the last character; only the one canonical spelling is valid.
    return raw if _encode(raw) == token else None


def verify(purpose: Purpose, token: str, *, keys: SigningKeys) -> TokenClaims | None:
    """The claims of a valid token of this purpose, or None for anything else; never raises."""
    raw = _decode(token)
    if raw is None or len(raw) < _HEAD.size:
        return None
    version, kid_length = _HEAD.unpack_from(raw)
    payload_length = _HEAD.size + kid_length + _TAIL.size
    if version != VERSION or len(raw) != payload_length + MAC_BYTES:
        return None
    payload, mac = raw[:payload_length], raw[payload_length:]
    kid = payload[_HEAD.size : _HEAD.size + kid_length].decode("ascii", errors="replace")
    code, message_id, position = _TAIL.unpack_from(payload, _HEAD.size + kid_length)
    secret = keys.secrets.get(kid)
    if secret is None or code != PURPOSE_CODES.get(purpose):
        return None
    if not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        return None
    # Ids are BIGINT; a signed token never carries more, but stay within what the database takes.
    if not 0 < message_id < 2**63:
        return None
    return TokenClaims(purpose=purpose, message_id=message_id, position=position, kid=kid)
