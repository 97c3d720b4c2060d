"""Mailbox secrets at rest: sealed with Fernet under a key derived from the app's secret key."""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Binds the derived key to this one use: the same secret_key also signs tracking links.
_INFO = b"nurture/mailbox-secret/v1"


class SecretUnreadable(Exception):
    """A sealed secret that this key cannot open: another secret_key sealed it, or it was altered."""


def seal(secret: str, *, key: str) -> str:
    """Encrypt and authenticate a mailbox password or access token for storage.

    Args:
        secret: the plain secret.
        key: the application's secret key (`Settings.secret_key`).

    Returns:
        ASCII text to store; a new random IV each time, so sealing twice gives two values.
    """
    return _fernet(key).encrypt(secret.encode()).decode("ascii")


def unseal(sealed: str, *, key: str) -> str:
    """The secret that `seal` sealed under the same key.

    Raises:
        SecretUnreadable: the key is not the one that sealed it, or the value was altered.
    """
    try:
        return _fernet(key).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        # Not worth saying which: a wrong key and a tampered value look the same to Fernet.
        raise SecretUnreadable(
            "The stored mailbox secret cannot be read: it was sealed under another secret key or "
            "altered. Reconnect the mailbox."
        ) from exc


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    if not key:
        raise ValueError("The secret key is empty.")
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=_INFO).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))
