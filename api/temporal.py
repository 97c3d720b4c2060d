"""A lazily connected Temporal client, so the API starts (and reports health) without Temporal."""

import asyncio

from temporalio.client import Client

from nurture.settings import Settings
from nurture.temporal.client import connect


class TemporalConnection:
    """Connects on first use and reconnects after a failed attempt."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The connected client; raises if Temporal cannot be reached."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await asyncio.wait_for(connect(self._settings), timeout=5)
        return self._client

    async def check(self) -> None:
        """Raise unless the Temporal frontend answers a health check."""
        client = await self.client()
        ok = await asyncio.wait_for(client.service_client.check_health(), timeout=5)
        if not ok:
            raise RuntimeError("Temporal reported itself unhealthy")
