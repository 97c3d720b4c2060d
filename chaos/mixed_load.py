"""The mixed load faults 3 and 4 strike: a two-email automation for a list, one-off sends and a
campaign, started together, then waited for and checked the same way whatever struck meanwhile."""

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from chaos import checks, workloads
from chaos.lab import Lab
from chaos.results import FaultResult
from nurture.schemas.email import TemplateKind


@dataclass
class MixedLoad:
    """What was written for the load, and the workflows it started."""

    sessions: sessionmaker[Session]
    count: int
    messages: int
    recipients: int
    runs: workloads.Subscribers
    automation_id: int
    one_offs: workloads.Subscribers
    receipt: int
    news: workloads.Subscribers | None
    campaign_id: int | None
    workflow_ids: list[str] = field(default_factory=list)

    @classmethod
    async def prepare(cls, lab: Lab, *, count: int, messages: int, recipients: int) -> "MixedLoad":
        """Write the contacts, automation, template and campaign (none when `recipients` is 0)."""
        sessions = lab.sessions()
        runs = await asyncio.to_thread(workloads.audience, sessions, count)
        automation_id = await asyncio.to_thread(workloads.two_email_automation, sessions)
        one_offs = await asyncio.to_thread(workloads.audience, sessions, messages)
        receipt = await asyncio.to_thread(
            workloads.template, sessions, workloads.MESSAGE_SUBJECT, kind=TemplateKind.TRANSACTIONAL
        )
        news = await asyncio.to_thread(workloads.audience, sessions, recipients) if recipients else None
        campaign_id = await asyncio.to_thread(workloads.campaign, sessions, news.list_id) if news else None
        return cls(
            sessions, count, messages, recipients, runs, automation_id, one_offs, receipt, news, campaign_id
        )

    def described(self) -> str:
        """The load, in words."""
        campaign = f", a campaign to {self.recipients:,}" if self.recipients else ""
        return f"{self.count} contacts in the two-email automation, {self.messages} one-off sends{campaign}"

    async def start(self, lab: Lab, *, prefix: str) -> None:
        """Enroll the list, start the one-off sends and the campaign (inside `lab.workers()`)."""
        self.workflow_ids.append(
            await workloads.enroll_list(
                lab.client, lab.settings, automation_id=self.automation_id, list_id=self.runs.list_id
            )
        )
        self.workflow_ids += await workloads.send_messages(
            lab.client, lab.settings, contacts=self.one_offs.emails, template_id=self.receipt, prefix=prefix
        )
        if self.campaign_id is not None:
            self.workflow_ids.append((await workloads.start(lab.client, lab.settings, self.campaign_id)).id)
        lab.note("runs, sends and campaign started")

    async def settle(self, lab: Lab, *, deadline: float) -> None:
        """Wait until every run has ended and every other workflow finished (or the deadline)."""
        ended = await checks.wait_for(
            lambda: workloads.runs_ended(self.sessions, self.automation_id, self.count), timeout=deadline
        )
        finished = await checks.wait_for(
            lambda: checks.all_completed(lab.client, self.workflow_ids), timeout=deadline
        )
        held = checks.held(lab.postmark)
        lab.note(f"runs ended: {ended}; other workflows finished: {finished} ({held} in Postmark)")

    async def check(self, lab: Lab, result: FaultResult) -> None:
        """Every email once, the ledger agreeing, every run and workflow completed."""
        emails = await asyncio.to_thread(checks.arrived, lab.postmark.url)
        expected = workloads.both_steps(self.runs.emails.values())
        expected |= {(email, workloads.MESSAGE_SUBJECT) for email in self.one_offs.emails.values()}
        if self.news is not None:
            expected |= {(email, workloads.CAMPAIGN_SUBJECT) for email in self.news.emails.values()}
        result.checks += checks.exactly_once(emails, expected)
        result.checks += await asyncio.to_thread(checks.ledger_agrees, self.sessions, emails)
        rows = await asyncio.to_thread(workloads.run_rows, self.sessions, self.automation_id)
        result.checks.append(workloads.runs_completed(rows, self.count))
        if self.campaign_id is not None:
            sent = workloads.campaign_sent
            result.checks.append(
                await asyncio.to_thread(sent, self.sessions, self.campaign_id, self.recipients)
            )
        workflows = [*self.workflow_ids, *rows]
        result.checks.append(await checks.runs_finished(lab.client, workflows, what="workflows"))
