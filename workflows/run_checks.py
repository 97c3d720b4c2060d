"""RunChecks: where an automation run consults the database: entering steps, goals, exits, waits.

Every check reads the database, where engagement, events and contact changes are recorded
before any signal is sent, so a signal lost or early never changes the outcome. Runs started since
the LEAN_STEPS patch check only where something could redirect them or they can stay a while.
"""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from nurture.automations.conditions import Condition
    from nurture.automations.definition import (
        AnyStep,
        CallWebhook,
        NotifyUser,
        SendEmail,
        StartAutomation,
        Wait,
        WaitUntil,
    )
    from nurture.automations.runs import CheckRequest, CheckResult

from workflows.run_effects import RunEffects, RunExit

# Steps a run can stay at: entering one is written at once, so listings and reports show it there.
# Starting another automation writes first too: that run must see this one's contact changes.
HOLDING = (SendEmail, Wait, WaitUntil, CallWebhook, NotifyUser, StartAutomation)


class RunJump(Exception):
    """A goal was met: carry on at its step."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


class RunChecks(RunEffects):
    """Checks and waits of one run; state lives on the workflow."""

    _woken: bool
    _current: str | None

    def _must_check(self, step: AnyStep) -> bool:
        """Whether entering this step needs the database: a goal or exit could redirect the run
        here, or the run can stay at the step a while (listings and reports must show it there).

        Steps that check anyway (if/else, wait-for, goals) write their entry with that check.
        """
        definition = self._definition
        state = self._state
        assert definition is not None and state is not None
        if definition.exits or isinstance(step, HOLDING):
            return True
        return any(goal.id not in state.goals_reached and goal.id != step.id for goal in definition.goals())

    async def _check(
        self, step_id: str | None, *, condition: Condition | None, entering: bool = False
    ) -> CheckResult:
        """One database round trip: record the step (and the steps passed since the last one),
        then evaluate exits, goals and a condition."""
        assert self._input is not None and self._definition is not None and self._state is not None
        state = self._state
        if self._exit_now is not None:
            raise RunExit(self._exit_now)
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
                entering=entering,
                passed=state.unrecorded,
                changes=state.pending,
            ),
            result_type=CheckResult,
        )
        state.unrecorded = []
        state.pending = []
        await self._tell(result.changed)
        state.run_id = result.run_id
        state.timezone = result.timezone
        if self._exit_now is not None:
            raise RunExit(self._exit_now)
        if result.exit is not None:
            raise RunExit(result.exit)
        return result

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
                raise RunJump(first.goal)
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
                raise RunJump(check.goal)
