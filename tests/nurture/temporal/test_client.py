"""Connecting to Temporal: plain gRPC to a local server; TLS for an API key, `temporal_tls` or a
client certificate, seen in the first bytes the client sends."""

import asyncio
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from nurture.settings import Settings
from nurture.temporal.client import connect, tls_of

# A TLS connection opens with a handshake record; plain HTTP/2 (gRPC) with its preface.
TLS_HANDSHAKE = b"\x16\x03"
HTTP2_PREFACE = b"PRI *"


async def _first_bytes(**settings: object) -> bytes:
    """What the client sends first to a listener that then hangs up."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        loop = asyncio.get_running_loop()

        async def first() -> bytes:
            connection, _ = await loop.sock_accept(listener)
            # No more listening: a client retrying its connect is refused at once, instead of
            # waiting in the backlog for an answer that never comes (it hung the test for 30 s).
            listener.close()
            with connection:
                return await loop.sock_recv(connection, 5)

        received = asyncio.create_task(first())
        with pytest.raises(RuntimeError, match="Failed client connect"):
            await asyncio.wait_for(connect(Settings(temporal_address=f"127.0.0.1:{port}", **settings)), 30)
        return await asyncio.wait_for(received, 30)


@pytest.mark.parametrize(
    ("settings", "opening"),
    [
        ({}, HTTP2_PREFACE),
        ({"temporal_api_key": "cloud-api-key"}, TLS_HANDSHAKE),
        ({"temporal_tls": True}, TLS_HANDSHAKE),
    ],
)
async def test_tls_is_used_for_an_api_key_or_when_asked(settings: dict[str, object], opening: bytes) -> None:
    assert (await _first_bytes(**settings)).startswith(opening)


def test_a_client_certificate_and_root_ca_are_read_from_their_files(tmp_path: Path) -> None:
    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_bytes(f"-----{name}-----".encode())
    settings = Settings(
        temporal_tls_cert=tmp_path / "client.pem",
        temporal_tls_key=tmp_path / "client.key",
        temporal_tls_ca=tmp_path / "ca.pem",
    )
    assert tls_of(settings) == TLSConfig(
        client_cert=b"-----client.pem-----",
        client_private_key=b"-----client.key-----",
        server_root_ca_cert=b"-----ca.pem-----",
    )
    assert tls_of(Settings()) is None


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(
        ValidationError, match="NURTURE_TEMPORAL_TLS_CERT and NURTURE_TEMPORAL_TLS_KEY go together"
    ):
        Settings(temporal_tls_cert=tmp_path / "client.pem")
