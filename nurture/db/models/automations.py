"""Automations, their immutable versions, the runs of contacts through them, and contact events."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, JsonDict, Timestamps, UTCDateTime, utcnow, value_enum


class AutomationStatus(enum.StrEnum):
    """Draft and archived take no one; active takes new entries; paused holds runs before sends."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class RunStatus(enum.StrEnum):
    """Where a contact's run stands."""

    RUNNING = "running"
    COMPLETED = "completed"
    EXITED = "exited"
    FAILED = "failed"


class Automation(Timestamps, Base):
    """A named sequence; its steps live in versions, the highest-numbered of which new runs start on."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[AutomationStatus] = mapped_column(
        value_enum(AutomationStatus), default=AutomationStatus.DRAFT
    )


Index("uq_automations_name_lower", func.lower(Automation.name), unique=True)


class AutomationVersion(Base):
    """One saved definition, never changed again: runs keep the version they started with."""

    __tablename__ = "automation_versions"
    __table_args__ = (UniqueConstraint("automation_id", "number", name="uq_automation_versions_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AutomationRun(Base):
    """One contact's run through one automation: the row the API lists, mirrored from the workflow."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        Index("ix_automation_runs_automation_status", "automation_id", "status"),
        Index("ix_automation_runs_contact", "contact_id", "automation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("automation_versions.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    workflow_id: Mapped[str] = mapped_column(String(255), unique=True)
    # With the per-value entry rule, the value this run is for (one run per cart).
    entry_value: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[RunStatus] = mapped_column(value_enum(RunStatus), default=RunStatus.RUNNING)
    current_step: Mapped[str | None] = mapped_column(String(64))
    # Why a run exited or failed, or which goal it reached.
    outcome: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StepEntry(Base):
    """A run entered a step: what the report's per-step "entered" counts are made of.

    Written in batches with the run's next recorded stop (a wait, a send, its end), not per step.
    """

    __tablename__ = "automation_step_entries"
    __table_args__ = (Index("ix_automation_step_entries_automation_step", "automation_id", "step"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("automation_runs.id", ondelete="CASCADE"), index=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactEvent(Base):
    """A custom event about a contact (`POST /events`): triggers, exits, goals and conditions use it."""

    __tablename__ = "contact_events"
    __table_args__ = (Index("ix_contact_events_contact_name", "contact_id", "name", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The caller's id for the event: the same id twice is recorded once.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
