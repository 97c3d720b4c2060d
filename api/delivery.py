"""Hand an engagement a public endpoint recorded to the waiting workflow, never making the caller wait."""

import asyncio
import ipaddress
import logging

from fastapi import Request

from api.temporal import TemporalConnection
from nurture.email.engagement import deliver_engagement
from nurture.schemas.email import Engagement

log = logging.getLogger(__name__)

# A pixel or a redirect must not hang on Temporal; the event is in the database either way.
DELIVER_TIMEOUT = 2.0


def client_ip(request: Request) -> str | None:
    """The address of the peer that sent the request, for machine detection only; never store it.

    X-Forwarded-For is ignored: anyone can send it, and it would let any caller choose the address
    machine detection sees. Behind a reverse proxy, run uvicorn with `--proxy-headers` and
    `--forwarded-allow-ips=<the proxy's address>` (or FORWARDED_ALLOW_IPS): uvicorn then puts the
    forwarded client address in `request.client`, from that proxy only.
    """
    try:
        return str(ipaddress.ip_address(request.client.host)) if request.client else None
    except ValueError:
        # Not an address: a test client's "testclient", a Unix socket's path.
        return None


async def deliver(connection: TemporalConnection, *, workflow_id: str | None, engagement: Engagement) -> None:
    """Signal the workflow that sent the message; a failure is logged, never raised."""
    if not workflow_id:
        return
    try:
        async with asyncio.timeout(DELIVER_TIMEOUT):
            client = await connection.client()
            await deliver_engagement(client, workflow_id=workflow_id, engagement=engagement)
    except Exception as exc:
        # The event is already committed to the database; only the signal is lost.
        log.warning(
            "engagement %s on message %s not delivered to workflow %s: %s",
            engagement.type.value,
            engagement.message_id,
            workflow_id,
            exc or type(exc).__name__,
        )
