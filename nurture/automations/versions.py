"""Parsed definitions of automation versions, cached: a saved version never changes.

Enrolling and matching triggers read a version's definition on every contact; parsing its JSON
with pydantic each time was most of their cost. Callers must treat a cached definition as frozen.
"""

from collections import OrderedDict
from datetime import datetime
from threading import Lock

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.automations.definition import Definition
from nurture.db.models import AutomationVersion

# Versions kept parsed per process; an automation's active version is the one read again and again.
CACHED_VERSIONS = 256

# By database, version id and creation time: SQLite may give a deleted version's id to a new one.
_Key = tuple[str, int, datetime]
_cache: OrderedDict[_Key, Definition] = OrderedDict()
_lock = Lock()


def definition_of(session: Session, version_id: int, created_at: datetime) -> Definition:
    """The parsed definition of a version (it was validated when saved), by its id and creation time."""
    bind = session.get_bind()
    key = (str(bind.engine.url), version_id, created_at)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    raw = session.scalar(select(AutomationVersion.definition).where(AutomationVersion.id == version_id))
    if raw is None:
        raise LookupError(f"automation version {version_id} does not exist")
    definition = Definition.model_validate(raw)
    with _lock:
        _cache[key] = definition
        while len(_cache) > CACHED_VERSIONS:
            _cache.popitem(last=False)
    return definition
