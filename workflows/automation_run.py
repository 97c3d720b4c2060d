"""AutomationRunWorkflow: one contact's run through one version of an automation definition.

The workflow interprets the definition step by step. Waits are durable timers; while waiting,
signals (engagement on its emails, custom events, contact changes) wake it to re-check its
goals, exits and the condition it waits for. Its bases hold the checks against the database
(workflows.run_checks) and what steps do to the world (workflows.run_effects).
"""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
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
        ContactChange,
        ContactChanged,
        ContactEventSignal,
        MigrateRequest,
        MigrateResult,
        NextTime,
        RunFinished,
        RunInput,
        RunOutcome,
        RunState,
        RunView,
        Visit,
    )
    from nurture.schemas.email import Engagement
    from nurture.temporal import search_attributes

    # The run's bases hold no state of their own at module level: passed through, they are
    # imported once per worker, not once per run (the sandbox re-runs every module it imports).
    from workflows.run_checks import RunChecks, RunJump
    from workflows.run_effects import RunExit

# Runs started from here on check the database only where a step can hold them or something can
# redirect them (goals, exits), and write the steps they passed through in one batch there.
LEAN_STEPS = "lean-steps"
# Continue as new well before the history grows large (loops, long nurtures).
MAX_STEPS_PER_RUN = 300
PASSED_KEPT = 50


# Outside the sandbox: it re-ran this module and its imports for every run, the largest single
# cost of enrolling (a fifth of the worker's time; the bench went from 0.66 to 0.91 of a bare
# workflow). Determinism is kept by the rules every workflow here follows (workflow.now(), no
# I/O, no module state) and checked by replaying the committed histories.
@workflow.defn(sandboxed=False)
class AutomationRunWorkflow(RunChecks):
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
        self._lean = False

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
        # Histories recorded before LEAN_STEPS checked at every step; they replay that way.
        self._lean = workflow.patched(LEAN_STEPS)
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
        except RunExit as exit_:
            outcome = RunOutcome(status="exited", reason=exit_.reason)
        outcome.goals_reached = list(state.goals_reached)
        outcome.last_step = self._current
        if outcome.reason is None and state.goals_reached:
            outcome.reason = f"goal: {state.goals_reached[-1]}"
        changed = await self._activity(
            "finish_run",
            RunFinished(
                run_id=state.run_id,
                status=outcome.status,
                outcome=outcome.reason,
                step=self._current,
                ended_at=workflow.now(),
                passed=state.unrecorded,
                changes=state.pending,
            ),
            # Runs recorded before lean steps had finish_run answer nothing.
            result_type=ContactChanged if self._lean else None,
        )
        await self._tell(changed)
        return outcome

    def _carry_on(self, step_id: str) -> RunInput:
        assert self._input is not None and self._definition is not None
        return self._input.model_copy(
            update={"definition": self._definition, "resume_at": step_id, "state": self._state}
        )

    async def _enter(self, step_id: str) -> str:
        """Enter a step; a met goal elsewhere or an exit redirects the run first."""
        definition = self._definition
        state = self._state
        assert definition is not None and state is not None
        written = False
        if not self._lean or self._must_check(definition.step(step_id)):
            check = await self._check(step_id, condition=None, entering=True)
            if check.goal is not None:
                step_id = check.goal
            written = True
        elif self._exit_now is not None:
            raise RunExit(self._exit_now)
        self._current = step_id
        if not written:
            state.unrecorded.append(Visit(step=step_id, at=workflow.now()))
        self._steps_run += 1
        state.visits[step_id] = state.visits.get(step_id, 0) + 1
        state.passed = [*state.passed, Visit(step=step_id, at=workflow.now())][-PASSED_KEPT:]
        # Only where the run was started indexed: the server knows Nurture's attributes then.
        if search_attributes.KIND in workflow.info().typed_search_attributes:
            workflow.upsert_search_attributes([search_attributes.CURRENT_STEP.value_set(step_id)])
        return step_id

    async def _step(self, step_id: str) -> str | None:
        """Run one step; returns the step to go to next (None ends the run)."""
        definition = self._definition
        assert definition is not None
        step = definition.step(step_id)
        try:
            return await self._run_step(step)
        except RunJump as jump:
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
