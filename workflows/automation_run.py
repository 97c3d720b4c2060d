"""AutomationRunWorkflow: one contact's run through one version of an automation definition.

The workflow interprets the definition step by step. Waits are durable timers; while waiting,
signals (engagement on its emails, custom events, contact changes) wake it to re-check its
goals, exits and the condition it waits for. Every check reads the database, where those events
are recorded before any signal is sent, so a signal lost or early never changes the outcome.
"""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from nurture.automations.conditions import Condition
    from nurture.automations.definition import (
        AnyStep,
        CallWebhook,
        ChangeList,
        ChangeTags,
        Definition,
        End,
        Goal,
        GoTo,
        If,
        NotifyUser,
        SendEmail,
        SetField,
        Split,
        StartAutomation,
        Wait,
        WaitFor,
        WaitUntil,
    )
    from nurture.automations.durations import parse_duration
    from nurture.automations.runs import (
        CheckRequest,
        CheckResult,
        ContactChange,
        ContactEventSignal,
        MigrateRequest,
        MigrateResult,
        NextTime,
        RunFinished,
        RunInput,
        RunOutcome,
        RunState,
        RunView,
        SentEmail,
        Visit,
        WebhookCall,
    )
    from nurture.schemas.email import Engagement, MessageStatus, SendRequest, SendResult, TemplateKind
    from nurture.temporal import search_attributes
    from workflows.message import SEND_DEADLINE, SEND_RETRY, SEND_TIMEOUT

STEP_TIMEOUT = timedelta(seconds=30)
STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
# Continue as new well before the history grows large (loops, long nurtures).
MAX_STEPS_PER_RUN = 300
PASSED_KEPT = 50


class _Jump(Exception):
    """A goal was met: carry on at its step."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


class _Exit(Exception):
    """The run must end now, for this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@workflow.defn
class AutomationRunWorkflow:
    """Interprets one version of an automation for one contact."""

    def __init__(self) -> None:
        self._woken = False
        self._exit_now: str | None = None
        self._state: RunState | None = None
        self._input: RunInput | None = None
        self._definition: Definition | None = None
        self._current: str | None = None
        self._steps_run = 0
        # A pause or resume that arrives with the start, before the run has its state.
        self._paused: bool | None = None

    # Signals, updates and queries.

    @workflow.signal
    def engagement(self, event: Engagement) -> None:
        """An open, click, reply... on one of this run's emails: re-check what waits on it."""
        self._woken = True

    @workflow.signal
    def contact_event(self, event: ContactEventSignal) -> None:
        """A custom event about the contact: exits on it end the run; conditions are re-checked."""
        definition = self._definition
        if definition is not None:
            for rule in definition.exits:
                if rule.type == "event" and rule.name == event.name:
                    self._exit_now = f"exit: event {event.name}"
        self._woken = True

    @workflow.signal
    def contact_changed(self) -> None:
        """The contact's tags, fields, lists or status changed: re-check exits, goals, conditions."""
        self._woken = True

    @workflow.signal
    def pause(self) -> None:
        """Hold the run before its next send."""
        self._paused = True
        if self._state is not None:
            self._state.paused = True

    @workflow.signal
    def resume(self) -> None:
        """Release a held run; what was held is sent once."""
        self._paused = False
        if self._state is not None:
            self._state.paused = False

    @workflow.update
    def migrate(self, request: MigrateRequest) -> MigrateResult:
        """Move to another version at the step with the same id (refused when it has none)."""
        assert self._input is not None
        self._definition = request.definition
        self._input = self._input.model_copy(
            update={"version_id": request.version_id, "version_number": request.version_number}
        )
        self._woken = True
        return MigrateResult(step=self._current, version_number=request.version_number)

    @migrate.validator
    def _check_migrate(self, request: MigrateRequest) -> None:
        if self._current is None:
            return
        if not any(step.id == self._current for step in request.definition.steps):
            raise ValueError(
                f"version {request.version_number} has no step '{self._current}', where the run is"
            )

    @workflow.query
    def state(self) -> RunView:
        """Where the run is, and where it has been."""
        assert self._input is not None and self._state is not None
        return RunView(
            automation_id=self._input.automation_id,
            version_number=self._input.version_number,
            contact_id=self._input.contact_id,
            current_step=self._current,
            paused=self._state.paused,
            goals_reached=self._state.goals_reached,
            sends=self._state.sends,
            passed=self._state.passed,
        )

    # The run.

    @workflow.run
    async def run(self, input: RunInput) -> RunOutcome:
        """Walk the steps from the first (or where the last run continued as new) to the end."""
        self._input = input
        self._definition = input.definition
        self._state = state = input.state or RunState(run_id=input.run_id, started_at=workflow.now())
        if self._paused is not None:
            state.paused = self._paused
        step_id: str | None = input.resume_at or input.definition.steps[0].id
        outcome = RunOutcome(status="completed")
        try:
            while step_id is not None:
                if self._steps_run >= MAX_STEPS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(self._carry_on(step_id))
                step_id = await self._enter(step_id)
                step_id = await self._step(step_id)
        except _Exit as exit_:
            outcome = RunOutcome(status="exited", reason=exit_.reason)
        outcome.goals_reached = list(state.goals_reached)
        outcome.last_step = self._current
        if outcome.reason is None and state.goals_reached:
            outcome.reason = f"goal: {state.goals_reached[-1]}"
        await self._activity(
            "finish_run",
            RunFinished(
                run_id=state.run_id,
                status=outcome.status,
                outcome=outcome.reason,
                step=self._current,
                ended_at=workflow.now(),
            ),
        )
        return outcome

    def _carry_on(self, step_id: str) -> RunInput:
        assert self._input is not None and self._definition is not None
        return self._input.model_copy(
            update={"definition": self._definition, "resume_at": step_id, "state": self._state}
        )

    async def _enter(self, step_id: str) -> str:
        """Record entering a step; a met goal elsewhere or an exit redirects the run first."""
        definition = self._definition
        state = self._state
        assert definition is not None and state is not None
        check = await self._check(step_id, condition=None)
        if check.goal is not None:
            step_id = check.goal
        self._current = step_id
        self._steps_run += 1
        state.visits[step_id] = state.visits.get(step_id, 0) + 1
        state.passed = [*state.passed, Visit(step=step_id, at=workflow.now())][-PASSED_KEPT:]
        # Only where the run was started indexed: the server knows Nurture's attributes then.
        if search_attributes.KIND in workflow.info().typed_search_attributes:
            workflow.upsert_search_attributes([search_attributes.CURRENT_STEP.value_set(step_id)])
        return step_id

    async def _check(self, step_id: str | None, *, condition: Condition | None) -> CheckResult:
        """One database round trip: record the step, then evaluate exits, goals and a condition."""
        assert self._input is not None and self._definition is not None and self._state is not None
        state = self._state
        if self._exit_now is not None:
            raise _Exit(self._exit_now)
        goals = {
            goal.id: goal.condition
            for goal in self._definition.goals()
            if goal.id not in state.goals_reached and goal.id != step_id
        }
        result: CheckResult = await self._activity(
            "enter_step",
            CheckRequest(
                run_id=state.run_id,
                automation_id=self._input.automation_id,
                version_id=self._input.version_id,
                contact_id=self._input.contact_id,
                workflow_id=workflow.info().workflow_id,
                entry_value=self._input.entry_value,
                step=step_id,
                started_at=state.started_at,
                now=workflow.now(),
                exits=list(self._definition.exits),
                goals=goals,
                condition=condition,
                sends=state.sends,
            ),
            result_type=CheckResult,
        )
        state.run_id = result.run_id
        state.timezone = result.timezone
        if self._exit_now is not None:
            raise _Exit(self._exit_now)
        if result.exit is not None:
            raise _Exit(result.exit)
        return result

    async def _step(self, step_id: str) -> str | None:
        """Run one step; returns the step to go to next (None ends the run)."""
        definition = self._definition
        assert definition is not None
        step = definition.step(step_id)
        try:
            return await self._run_step(step)
        except _Jump as jump:
            return jump.step

    async def _run_step(self, step: AnyStep) -> str | None:
        definition = self._definition
        assert definition is not None and self._input is not None and self._state is not None
        match step:
            case SendEmail():
                await self._send(step)
            case Wait():
                await self._wait(deadline=workflow.now() + parse_duration(step.duration), condition=None)
            case WaitUntil():
                deadline = step.date or await self._activity(
                    "next_time_of_day",
                    NextTime(
                        now=workflow.now(),
                        time_of_day=step.time_of_day,
                        weekdays=list(step.weekdays) if step.weekdays else None,
                        timezone=self._state.timezone,
                    ),
                    result_type=datetime,
                )
                await self._wait(deadline=deadline, condition=None)
            case WaitFor():
                met = await self._wait(
                    deadline=workflow.now() + parse_duration(step.timeout), condition=step.condition
                )
                # Read after the wait: a migration meanwhile may have changed where it leads.
                assert self._definition is not None
                now_step = self._definition.step(step.id)
                on_timeout = now_step.on_timeout if isinstance(now_step, WaitFor) else step.on_timeout
                return self._following(step.id) if met else on_timeout
            case If():
                check = await self._check(step.id, condition=step.condition)
                return step.then if check.condition else step.else_
            case Split():
                roll = workflow.random().randint(1, 100)
                for branch in step.branches:
                    roll -= branch.percent
                    if roll <= 0:
                        return branch.next
            case Goal():
                return await self._goal(step)
            case GoTo():
                return step.step
            case ChangeTags():
                await self._change(
                    ContactChange(
                        contact_id=self._input.contact_id,
                        add_tags=step.add,
                        remove_tags=step.remove,
                        source=self._source(),
                    )
                )
            case SetField():
                await self._change(
                    ContactChange(
                        contact_id=self._input.contact_id,
                        fields={step.field: step.value},
                        source=self._source(),
                    )
                )
            case ChangeList():
                change = ContactChange(contact_id=self._input.contact_id, source=self._source())
                if step.action == "subscribe":
                    change.subscribe_list = step.list_id
                else:
                    change.unsubscribe_list = step.list_id
                await self._change(change)
            case CallWebhook():
                await self._webhook(step)
            case NotifyUser():
                await self._notify(step)
            case StartAutomation():
                await self._activity(
                    "start_automation_for_contact", [step.automation_id, self._input.contact_id]
                )
            case End():
                return None
        return self._following(step.id)

    def _following(self, step_id: str) -> str | None:
        """Where a finished step leads, in the definition the run has now (it may have migrated)."""
        assert self._definition is not None
        return self._definition.following(step_id)

    def _source(self) -> str:
        assert self._input is not None
        return f"automation {self._input.automation_id}"

    async def _goal(self, step: Goal) -> str | None:
        state = self._state
        assert state is not None
        if step.id not in state.goals_reached:
            check = await self._check(step.id, condition=step.condition)
            if not check.condition:
                if step.if_unmet == "end":
                    return None
                if step.if_unmet == "wait":
                    await self._wait(deadline=None, condition=step.condition, goal=step.id)
                else:
                    return self._following(step.id)
            state.goals_reached.append(step.id)
        return self._following(step.id)

    async def _wait(
        self, *, deadline: datetime | None, condition: Condition | None, goal: str | None = None
    ) -> bool:
        """Sleep until the deadline; woken by signals, re-check goals, exits and the condition.

        Returns True when the condition came to hold, False when the deadline passed.
        """
        # `_woken` is cleared just before each check, so a signal during a check wakes the next wait.
        if condition is not None:
            self._woken = False
            first = await self._check(goal or self._current, condition=condition)
            if first.condition:
                return True
            if first.goal is not None:
                raise _Jump(first.goal)
        while True:
            remaining = None if deadline is None else (deadline - workflow.now()).total_seconds()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await workflow.wait_condition(
                    lambda: self._woken or self._exit_now is not None,
                    timeout=remaining,
                    timeout_summary="wait step",
                )
            except TimeoutError:
                return False
            self._woken = False
            check = await self._check(goal or self._current, condition=condition)
            if condition is not None and check.condition:
                return True
            if check.goal is not None:
                raise _Jump(check.goal)

    async def _send(self, step: SendEmail) -> None:
        assert self._input is not None and self._state is not None
        state = self._state
        # Paused automations hold contacts here; resuming sends once (the key is the same).
        await workflow.wait_condition(lambda: not state.paused or self._exit_now is not None)
        if self._exit_now is not None:
            raise _Exit(self._exit_now)
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
        result: SendResult = await workflow.execute_activity(
            "send_email",
            request,
            result_type=SendResult,
            task_queue=self._input.email_task_queue,
            start_to_close_timeout=SEND_TIMEOUT,
            schedule_to_close_timeout=SEND_DEADLINE,
            retry_policy=SEND_RETRY,
        )
        state.sends[step.id] = SentEmail(
            key=key, message_id=result.message_id, status=result.status.value, sent_at=workflow.now()
        )
        if result.status == MessageStatus.SUPPRESSED and (step.kind or "marketing") == "marketing":
            # Unsubscribed or suppressed: marketing runs end at their next send.
            raise _Exit(f"exit: {result.reason}")

    async def _change(self, change: ContactChange) -> None:
        await self._activity("change_contact", change)

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
        await workflow.execute_activity(
            "send_email",
            request,
            result_type=SendResult,
            task_queue=self._input.email_task_queue,
            start_to_close_timeout=SEND_TIMEOUT,
            schedule_to_close_timeout=SEND_DEADLINE,
            retry_policy=SEND_RETRY,
        )

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
