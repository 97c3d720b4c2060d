"""End to end on the real dev server: the project's worker registration runs the diagnostics workflow."""

import uuid
from concurrent.futures import ThreadPoolExecutor

from temporalio.testing import WorkflowEnvironment

from nurture.db.migrate import head_revision
from nurture.settings import Settings
from workers.doctor import run_diagnostics
from workers.registration import ACTIVITY_THREADS, WorkerDeps, build_worker


async def test_worker_reports_a_migrated_database(
    dev_server: WorkflowEnvironment, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"temporal_address": dev_server.client.service_client.config.target_host}
    )
    task_queue = f"test-{uuid.uuid4()}"
    deps = WorkerDeps(settings=settings)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(dev_server.client, deps, executor=executor, task_queue=task_queue):
            report = await run_diagnostics(settings, task_queue=task_queue)

    assert report.database.reachable
    assert report.database.migrated
    assert report.database.revision == head_revision()
    assert report.database.dialect in settings.resolved_database_url

    # Operators find the run in the Temporal UI by its search attribute.
    runs = [
        run
        async for run in dev_server.client.list_workflows(
            "NurtureKind = 'diagnostics' AND ExecutionStatus = 'Completed'"
        )
    ]
    assert runs, "the diagnostics run is not visible by its NurtureKind search attribute"


async def test_unreachable_database_is_reported_not_retried_forever(
    dev_server: WorkflowEnvironment, settings: Settings, tmp_path
) -> None:
    settings = settings.model_copy(
        update={
            "temporal_address": dev_server.client.service_client.config.target_host,
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        }
    )
    task_queue = f"test-{uuid.uuid4()}"
    deps = WorkerDeps(settings=settings)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(dev_server.client, deps, executor=executor, task_queue=task_queue):
            report = await run_diagnostics(settings, task_queue=task_queue)
    assert not report.database.reachable
    assert report.database.error
    assert "***" in report.database.url or "nobody@" in report.database.url
