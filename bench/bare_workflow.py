"""The bare workflow automation runs are compared with: one activity and one wait, nothing else.

Its own light module: the workflow sandbox re-imports a workflow's module on every run.
"""

from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="BenchBareWorkflow")
class BenchBareWorkflow:
    """One activity and one wait: the floor an automation run is compared with."""

    @workflow.run
    async def run(self, n: int) -> None:
        """Touch, then wait a day."""
        await workflow.execute_activity("bench_touch", n, start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(timedelta(days=1))
