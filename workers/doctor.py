"""Starts a DiagnosticsWorkflow and waits for its report (`nurture doctor`)."""

import uuid
from datetime import timedelta

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from nurture.diagnostics import DiagnosticsInput, DiagnosticsReport
from nurture.settings import Settings
from nurture.temporal import search_attributes
from nurture.temporal.client import connect
from workflows.diagnostics import DiagnosticsWorkflow


async def run_diagnostics(settings: Settings, *, task_queue: str | None = None) -> DiagnosticsReport:
    """Run the diagnostics workflow; times out if no worker polls the task queue."""
    client = await connect(settings)
    return await client.execute_workflow(
        DiagnosticsWorkflow.run,
        DiagnosticsInput(requested_by="cli"),
        id=f"diagnostics:{uuid.uuid4()}",
        task_queue=task_queue or settings.task_queue,
        execution_timeout=timedelta(seconds=60),
        search_attributes=TypedSearchAttributes([SearchAttributePair(search_attributes.KIND, "diagnostics")]),
        static_summary="Diagnostics: can a worker reach the database?",
    )
