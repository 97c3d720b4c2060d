"""DiagnosticsWorkflow: proves a worker is polling and can reach the application database."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.system import SystemActivities
    from nurture.diagnostics import DatabaseReport, DiagnosticsInput, DiagnosticsReport


@workflow.defn
class DiagnosticsWorkflow:
    """Runs one database check on a worker and reports what it saw."""

    @workflow.run
    async def run(self, input: DiagnosticsInput) -> DiagnosticsReport:
        """Check the database from the worker's side."""
        database: DatabaseReport = await workflow.execute_activity_method(
            SystemActivities.check_database,
            start_to_close_timeout=timedelta(seconds=30),
            # A broken database is the answer, not a reason to retry for ever.
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return DiagnosticsReport(database=database, checked_at=workflow.now())
