"""Every workflow a test's client started, so that the test's end can end them all.

Each test starts on an empty database whose ids restart at 1, while the Temporal servers are
shared by the whole session: a run an earlier test left waiting would hold the workflow id
(`automation:1:contact:1`) that the next test's run needs, and on the time-skipping server a
forgotten run can hold the clock. Ending them from what the client started, not from database
rows, also catches runs whose rows were never written or were already removed.
"""

import asyncio
import contextlib
from typing import Any

from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.service import RPCError


class StartedWorkflows(Interceptor):
    """A client interceptor that notes the id of each workflow the client starts."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Noting(next, self.ids)

    async def end_all(self, client: Client, *, listed: bool = False) -> None:
        """Terminate every workflow started since the last call; those already ended are left be.

        `listed` also ends every workflow the server lists as running, for a server with
        visibility (the dev server), where other clients (an API's, a worker process's) start runs too.
        """
        ids = set(self.ids)
        self.ids.clear()  # in place: the client's interceptor chain holds this very set
        if listed:
            ids.update([w.id async for w in client.list_workflows('ExecutionStatus = "Running"')])
        await asyncio.gather(*(_terminate(client, workflow_id) for workflow_id in ids))


class _Noting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, ids: set[str]) -> None:
        super().__init__(next)
        self._ids = ids

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        # Noted before the call: a start that times out on our side may still have happened.
        self._ids.add(input.id)
        return await super().start_workflow(input)


async def _terminate(client: Client, workflow_id: str) -> None:
    with contextlib.suppress(RPCError):  # it has ended on its own, or never started
        await client.get_workflow_handle(workflow_id).terminate(reason="test over")
