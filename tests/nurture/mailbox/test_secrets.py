"""Mailbox secrets sealed at rest: a round trip, and refusals of a wrong key or an altered value."""

import pytest

from nurture.mailbox.secrets import SecretUnreadable, seal, unseal

KEY = "test-secret-key"


def test_a_sealed_secret_opens_with_the_same_key() -> None:
    sealed = seal("pässwörd 123", key=KEY)
    assert "pässwörd" not in sealed and sealed.isascii()
    assert unseal(sealed, key=KEY) == "pässwörd 123"


def test_sealing_twice_gives_two_different_values() -> None:
    assert seal("same", key=KEY) != seal("same", key=KEY)


def test_another_key_cannot_open_it() -> None:
    sealed = seal("secret", key=KEY)
    with pytest.raises(SecretUnreadable, match="another secret key or altered"):
        unseal(sealed, key="another-key")


@pytest.mark.parametrize("position", [0, 10, -5])
def test_an_altered_value_is_refused(position: int) -> None:
    characters = list(seal("secret", key=KEY))
    characters[position] = "A" if characters[position] != "A" else "B"
    with pytest.raises(SecretUnreadable):
        unseal("".join(characters), key=KEY)


@pytest.mark.parametrize("garbage", ["", "not a token", "gAAAAA", "é"])
def test_garbage_is_refused_the_same_way(garbage: str) -> None:
    with pytest.raises(SecretUnreadable):
        unseal(garbage, key=KEY)
