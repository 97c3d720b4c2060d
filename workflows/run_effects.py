"""RunEffects: what an automation run's steps do to the world: emails, contact changes, webhooks.

The base of AutomationRunWorkflow, apart so that the interpreter (steps, waits, checks) and the
effects its steps have each read on their own. Everything here runs inside the workflow sandbox.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from nurture.automations.definition import CallWebhook, Definition, NotifyUser, SendEmail
    from nurture.automations.durations import parse_duration
    from nurture.automations.runs import (
        ContactChange,
        ContactChanged,
        ContactDispatch,
        RunInput,
        RunState,
        SentEmail,
        WebhookCall,
    )
    from nurture.schemas.email import MessageStatus, SendRequest, SendResult, TemplateKind
    from nurture.schemas.mailbox import OwnerFound, OwnerLookup
    from workflows.message import SEND_DEADLINE, SEND_RETRY, SEND_TIMEOUT

STEP_TIMEOUT = timedelta(seconds=30)
STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))


class RunExit(Exception):
    """The run must end now, for this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunEffects:
    """Sends, contact changes, webhooks and notifications of one run; state lives on the workflow."""

    _input: RunInput | None
    _state: RunState | None
    _definition: Definition | None
    _exit_now: str | None
    _lean: bool

    def _source(self) -> str:
        assert self._input is not None
        return f"automation {self._input.automation_id}"

    async def _send(self, step: SendEmail) -> None:
        assert self._input is not None and self._state is not None
        state = self._state
        # Paused automations hold contacts here; resuming sends once (the key is the same).
        await workflow.wait_condition(lambda: not state.paused or self._exit_now is not None)
        if self._exit_now is not None:
            raise RunExit(self._exit_now)
        info = workflow.info()
        visit = state.visits.get(step.id, 1)
        key = f"{info.workflow_id}:{step.id}:{visit}"
        request = SendRequest(
            key=key,
            template_id=step.template_id,
            contact_id=self._input.contact_id,
            kind=TemplateKind(step.kind) if step.kind else None,
            list_id=step.list_id,
            from_email=step.from_email,
            workflow_id=info.workflow_id,
        )
        if step.from_owner is not None:
            found = await self._activity(
                "owner_sender",
                OwnerLookup(contact_id=self._input.contact_id, owner_of=step.from_owner),
                result_type=OwnerFound,
            )
            owner = found.sender
            if owner is None:
                workflow.logger.warning(
                    "Step %s: the contact has no %s owner to send from", step.id, step.from_owner
                )
                state.sends[step.id] = SentEmail(
                    key=key, message_id=None, status="failed", sent_at=workflow.now()
                )
                return
            request = request.model_copy(
                update={
                    "kind": TemplateKind.TRANSACTIONAL,
                    "from_email": owner.from_email,
                    "user_id": owner.user_id,
                    "deal_id": owner.deal_id,
                    "account_id": owner.account_id,
                    "via_mailbox": owner.via_mailbox,
                    "route_replies": not owner.via_mailbox,
                }
            )
        result = await self._send_email(request)
        state.sends[step.id] = SentEmail(
            key=key, message_id=result.message_id, status=result.status.value, sent_at=workflow.now()
        )
        if result.status == MessageStatus.SUPPRESSED and (step.kind or "marketing") == "marketing":
            # Unsubscribed or suppressed: marketing runs end at their next send.
            raise RunExit(f"exit: {result.reason}")

    async def _change(self, change: ContactChange) -> None:
        if not self._lean:
            await self._activity("change_contact", change)
            return
        assert self._state is not None
        # Applied with the run's next database write, which comes before anything reads the
        # contact: a tag step and the wait after it cost one transaction, not two.
        change = change.model_copy(update={"workflow_id": workflow.info().workflow_id})
        self._state.pending.append(change)

    async def _tell(self, changed: object) -> None:
        """The contact's other runs re-check, and automations the change triggers start."""
        # Runs from before lean steps read finish_run's answer untyped; they have no changes.
        if not isinstance(changed, ContactChanged) or not (changed.runs or changed.automations):
            return
        assert self._input is not None
        await self._activity(
            "dispatch_contact_change",
            ContactDispatch(
                contact_id=self._input.contact_id, runs=changed.runs, automations=changed.automations
            ),
        )

    async def _webhook(self, step: CallWebhook) -> None:
        assert self._input is not None and self._state is not None
        timeout = parse_duration(step.timeout).total_seconds()
        call = WebhookCall(
            url=str(step.url),
            method=step.method,
            body=step.body,
            timeout_seconds=timeout,
            contact_id=self._input.contact_id,
            automation_id=self._input.automation_id,
            step=step.id,
            idempotency_key=f"{workflow.info().workflow_id}:{step.id}:{self._state.visits.get(step.id, 1)}",
        )
        try:
            await workflow.execute_activity(
                "call_webhook",
                call,
                start_to_close_timeout=timedelta(seconds=timeout + 5),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=2), maximum_attempts=step.retries + 1
                ),
            )
        except ActivityError as error:
            # A receiver that keeps failing does not stop the contact's run; the history says so.
            workflow.logger.warning("Webhook step %s failed: %s", step.id, error.cause)

    async def _notify(self, step: NotifyUser) -> None:
        assert self._input is not None and self._state is not None
        info = workflow.info()
        request = SendRequest(
            key=f"{info.workflow_id}:{step.id}:{self._state.visits.get(step.id, 1)}",
            template_id=step.template_id,
            contact_id=self._input.contact_id,
            kind=TemplateKind.TRANSACTIONAL,
            to_user_id=step.user_id,
            notify_owner=step.user_id is None,
            workflow_id=info.workflow_id,
        )
        await self._send_email(request)

    async def _send_email(self, request: SendRequest) -> SendResult:
        # On the email task queue: sends have their own workers, bounded against the provider.
        assert self._input is not None
        result: SendResult = await workflow.execute_activity(
            "send_mailbox_email" if request.via_mailbox else "send_email",
            request,
            result_type=SendResult,
            task_queue=self._input.email_task_queue,
            start_to_close_timeout=SEND_TIMEOUT,
            schedule_to_close_timeout=SEND_DEADLINE,
            retry_policy=SEND_RETRY,
        )
        return result

    async def _activity(self, name: str, arg: object, *, result_type: type | None = None):  # type: ignore[no-untyped-def]
        # Local activities: short database work on this worker, without a round trip through
        # a task queue or its history events. A signal moves a run on in milliseconds.
        args = arg if isinstance(arg, list) else [arg]
        return await workflow.execute_local_activity(
            name,
            args=args,
            result_type=result_type,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
