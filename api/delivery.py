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
    """The caller's address: the first X-Forwarded-For hop if it is an address, else the peer's."""
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    for candidate in (forwarded, request.client.host if request.client else ""):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
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
