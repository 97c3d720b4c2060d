"""A version's parsed definition is cached, and a new version that takes a deleted one's id is read anew."""

from sqlalchemy import select

from nurture.automations.versions import definition_of
from nurture.db.models import Automation, AutomationStatus, AutomationVersion
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings


def _save(settings: Settings, name: str, duration: str) -> tuple[int, int]:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        automation = Automation(name=name, status=AutomationStatus.DRAFT)
        session.add(automation)
        session.flush()
        definition = {
            "triggers": [{"type": "manual"}],
            "steps": [{"id": "w", "type": "wait", "duration": duration}],
        }
        version = AutomationVersion(automation_id=automation.id, number=1, definition=definition)
        session.add(version)
        session.flush()
        return automation.id, version.id


def _duration(settings: Settings, version_id: int) -> str:
    with session_factory(settings.resolved_database_url)() as session:
        created = session.scalar(
            select(AutomationVersion.created_at).where(AutomationVersion.id == version_id)
        )
        assert created is not None
        step = definition_of(session, version_id, created).steps[0]
        return step.duration  # type: ignore[union-attr]


def test_a_version_reads_the_same_twice_and_a_reused_id_reads_the_new_definition(settings: Settings) -> None:
    automation_id, version_id = _save(settings, "First", "1d")
    assert _duration(settings, version_id) == "1d"
    assert _duration(settings, version_id) == "1d"
    with transaction(session_factory(settings.resolved_database_url)) as session:
        session.delete(session.get(Automation, automation_id))
    # SQLite hands the deleted row's id out again; PostgreSQL's sequence does not.
    _, reused = _save(settings, "Second", "2d")
    assert _duration(settings, reused) == "2d"
