"""The baseline: a campaign's batches, read back from the send ledger and posted straight to
Postmark's `/email/batch` with httpx, as many at once as the campaign workflow sends; and the
local server's count of what it holds."""

import asyncio
import time
from dataclasses import dataclass

import httpx
from postmarker.core import PostmarkClient
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from nurture.campaigns.sending import MAX_BATCH
from nurture.db.models import CampaignRecipient, Message
from nurture.email.compose import outgoing_of

# The worker's own fields for one email (private to its module; reused so the bodies cannot drift).
from nurture.email.postmark import _payload
from nurture.email.postmark_client import encode_json

TOKEN_HEADER = "X-Postmark-Server-Token"


@dataclass(frozen=True)
class RawRun:
    """How the raw posting went."""

    emails: int
    batches: int
    seconds: float
    body_bytes: int


def batch_bodies(sessions: sessionmaker[Session], *, campaign_id: int) -> list[tuple[int, bytes]]:
    """The campaign's batches as the worker posted them: recipients by position, 500 to a
    batch, each email from its ledger row, each body the JSON postmarker sends. With sizes."""
    # postmarker turns the worker's fields into Postmark's JSON (headers as a list, and so on);
    # building the body with it, encoded as the worker's client encodes it, gives the very bytes
    # the worker's call carries.
    emails = PostmarkClient(server_token="unused", root_api_url="http://127.0.0.1/").emails
    bodies: list[tuple[int, bytes]] = []
    with sessions() as session:
        messages = session.scalars(
            select(Message)
            .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .order_by(CampaignRecipient.position)
            .options(selectinload(Message.body))
            .execution_options(yield_per=MAX_BATCH)
        )
        for partition in messages.partitions():
            fields = [_payload(outgoing_of(message)) for message in partition]
            bodies.append((len(fields), encode_json(emails.EmailBatch(*fields).as_dict())))
    return bodies


async def post_batches(bodies: list[tuple[int, bytes]], *, url: str, token: str, concurrency: int) -> RawRun:
    """Post every body to `{url}/email/batch`, `concurrency` at a time; timed from first to last.

    Raises:
        RuntimeError: an answer was not HTTP 200 with ErrorCode 0 for every email.
    """
    pending = iter(bodies)
    headers = {TOKEN_HEADER: token, "Accept": "application/json", "Content-Type": "application/json"}

    async def poster(client: httpx.AsyncClient) -> None:
        for count, body in pending:  # one shared iterator: each body is taken once
            answer = await client.post("/email/batch", content=body, headers=headers)
            results = answer.json() if answer.status_code == 200 else None
            if not isinstance(results, list) or len(results) != count:
                raise RuntimeError(f"/email/batch answered {answer.status_code}: {answer.text[:300]}")
            failed = [r for r in results if r.get("ErrorCode") != 0]
            if failed:
                raise RuntimeError(f"{len(failed)} of {count} emails refused, e.g. {failed[0]}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(poster(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return RawRun(
        emails=sum(count for count, _ in bodies),
        batches=len(bodies),
        seconds=seconds,
        body_bytes=sum(len(body) for _, body in bodies),
    )


def server_count(base: str, token: str) -> int:
    """How many messages the Postmark server holds (its outbound search's TotalCount)."""
    answer = httpx.get(
        f"{base}/messages/outbound",
        params={"count": 1, "offset": 0},
        headers={TOKEN_HEADER: token},
        timeout=120,
    )
    answer.raise_for_status()
    return int(answer.json()["TotalCount"])


async def raw_rounds(
    bodies: list[tuple[int, bytes]], *, base: str, token: str, concurrency: int, rounds: int
) -> list[RawRun]:
    """Post every body `rounds` times, each time to an emptied inbox, checking what arrived.

    Raises:
        RuntimeError: the server does not hold exactly the emails of one round afterwards.
    """
    runs = []
    expected = sum(count for count, _ in bodies)
    for _ in range(rounds):
        # The local server's control API: forget every message, so each round starts from empty.
        httpx.delete(f"{base}/__local/messages", timeout=120).raise_for_status()
        runs.append(await post_batches(bodies, url=base, token=token, concurrency=concurrency))
        held = await asyncio.to_thread(server_count, base, token)
        if held != expected:
            raise RuntimeError(
                f"the Postmark server holds {held} messages after the raw posting, not {expected}"
            )
    return runs
