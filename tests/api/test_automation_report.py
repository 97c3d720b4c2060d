"""The per-step report: runs that entered each step, wait there, moved on or ended there; totals; goals."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from nurture.db.models import AutomationRun, AutomationVersion, RunStatus, StepEntry
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings

STEPS: list[dict[str, Any]] = [
    {"id": "wait-1d", "type": "wait", "duration": "1d"},
    {"id": "tag-trial", "type": "tag", "add": ["trial"]},
    {
        "id": "activated",
        "type": "if",
        "condition": {"type": "event", "name": "activated"},
        "then": "wait-2d",
        "else": "retry",
    },
    {"id": "retry", "type": "goto", "step": "wait-1d"},
    {"id": "wait-2d", "type": "wait", "duration": "2d"},
    {"id": "done", "type": "end"},
    {
        "id": "bought",
        "type": "goal",
        "name": "Bought",
        "condition": {"type": "event", "name": "purchase"},
        "if_unmet": "end",
    },
]


def _definition(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"triggers": [{"type": "event", "name": "signed_up"}], "steps": steps}


def _created(response: Any) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


@dataclass
class Run:
    """A run as the workflow records it: its row, and one entry per step it entered, in order."""

    entered: list[str]
    current_step: str | None
    status: RunStatus = RunStatus.RUNNING
    outcome: str | None = None
    version: int = 2
    contact_id: int = 0  # set when the contact is created


def _record(api: TestClient, settings: Settings, automation_id: int, runs: list[Run]) -> None:
    """Insert the runs' rows and their step entries the way the workflow writes them."""
    for n, run in enumerate(runs):
        email = f"a{automation_id}-c{n}@example.com"
        run.contact_id = int(_created(api.post("/contacts", json={"email": email}))["id"])
    start = datetime(2030, 1, 1, tzinfo=UTC)
    with transaction(session_factory(settings.resolved_database_url)) as session:
        versions = dict(
            session.execute(
                select(AutomationVersion.number, AutomationVersion.id).where(
                    AutomationVersion.automation_id == automation_id
                )
            ).all()
        )
        for n, run in enumerate(runs):
            ended = run.status != RunStatus.RUNNING
            row = AutomationRun(
                automation_id=automation_id,
                version_id=versions[run.version],
                contact_id=run.contact_id,
                workflow_id=f"automation:{automation_id}:contact:{run.contact_id}",
                status=run.status,
                current_step=run.current_step,
                outcome=run.outcome,
                started_at=start + timedelta(hours=n),
                ended_at=start + timedelta(days=5) if ended else None,
            )
            session.add(row)
            session.flush()
            session.add_all(
                StepEntry(
                    run_id=row.id,
                    automation_id=automation_id,
                    step=step,
                    entered_at=start + timedelta(hours=n, minutes=i),
                )
                for i, step in enumerate(run.entered)
            )


def _steps(report: dict) -> list[tuple[str, str | None, int, int, int, int]]:
    return [
        (s["id"], s["type"], s["entered"], s["waiting_now"], s["completed"], s["ended_here"])
        for s in report["steps"]
    ]


def test_report_counts_entries_waiting_completed_and_goals(api: TestClient, settings: Settings) -> None:
    # Version 1 had a "nudge" step that version 2 dropped; a run that failed there still counts.
    first = [*STEPS[:1], {"id": "nudge", "type": "tag", "add": ["nudged"]}, *STEPS[1:]]
    automation = _created(api.post("/automations", json={"name": "Trial", "definition": _definition(first)}))
    url = f"/automations/{automation['id']}"
    _created(api.post(f"{url}/versions", json={"definition": _definition(STEPS)}))
    _record(
        api,
        settings,
        automation["id"],
        [
            Run(["wait-1d", "tag-trial", "activated", "wait-2d"], "wait-2d"),
            Run(["wait-1d"], "wait-1d"),
            Run(["wait-1d", "tag-trial", "activated", "wait-2d", "done"], "done", RunStatus.COMPLETED),
            Run(["wait-1d"], "wait-1d", RunStatus.EXITED, "exit: unsubscribed"),
            Run(["wait-1d", "bought"], "bought", RunStatus.COMPLETED, "goal:bought"),
            # Round the loop and back at wait-1d: entered it twice, counted once, and not completed.
            Run(["wait-1d", "tag-trial", "activated", "retry", "wait-1d"], "wait-1d"),
            # Started before entries were recorded: waits at wait-2d with no entry of its own.
            Run([], "wait-2d"),
            Run(["wait-1d", "nudge"], "nudge", RunStatus.FAILED, "failed: tag", version=1),
        ],
    )
    # Another automation's entries at a step of the same id stay out of this report.
    other = _created(api.post("/automations", json={"name": "Other", "definition": _definition(STEPS)}))
    _record(api, settings, other["id"], [Run(["wait-1d"], "wait-1d", version=1)])

    report = api.get(f"{url}/report")
    assert report.status_code == 200, report.text
    body = report.json()
    # id, type, entered, waiting now, completed, ended here
    assert _steps(body) == [
        ("wait-1d", "wait", 7, 2, 5, 1),
        ("tag-trial", "tag", 3, 0, 3, 0),
        ("activated", "if", 3, 0, 3, 0),
        ("retry", "goto", 1, 0, 1, 0),
        ("wait-2d", "wait", 2, 2, 1, 0),
        ("done", "end", 1, 0, 1, 1),
        ("bought", "goal", 1, 0, 1, 1),
        ("nudge", None, 1, 0, 1, 1),
    ]
    assert body["runs"] == {"entered": 8, "running": 4, "completed": 2, "exited": 1, "failed": 1}
    assert body["goals"] == [{"id": "bought", "reached": 1, "conversion": 0.125}]

    assert _steps(api.get(f"/automations/{other['id']}/report").json())[0] == ("wait-1d", "wait", 1, 1, 0, 0)


def test_report_of_an_automation_nobody_entered_is_all_zeros(api: TestClient) -> None:
    automation = _created(api.post("/automations", json={"name": "Quiet", "definition": _definition(STEPS)}))
    body = api.get(f"/automations/{automation['id']}/report").json()
    assert _steps(body) == [(s["id"], s["type"], 0, 0, 0, 0) for s in STEPS]
    assert body["runs"] == {"entered": 0, "running": 0, "completed": 0, "exited": 0, "failed": 0}
    assert body["goals"] == [{"id": "bought", "reached": 0, "conversion": 0.0}]
