"""Log lines as text or JSON (NURTURE_LOG_FORMAT), carrying Temporal's ids and no email addresses.

Temporal's `workflow.logger` and `activity.logger` put the run's ids in a record's `extra`
(`temporal_workflow`, `temporal_activity`); a record logged by a plain logger while an activity
runs gets the same ids from the activity's context. Records may add `message_id` and
`contact_id` (ids are the only personal reference a line may hold). Anything shaped like an email
address, also URL-encoded, is masked in every line as a last guard: Nurture logs no names,
subjects or addresses, and a library's error message must not leak one either.
"""

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

from nurture.settings import Settings

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# `local@domain.tld`, also with `@` URL-encoded as in a logged query string.
EMAIL = re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
MASK = "<email>"
# Temporal's names for a run's ids, as Nurture's lines name them.
TEMPORAL_FIELDS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_id": "activity_id",
    "activity_type": "activity_type",
    "attempt": "attempt",
    "task_queue": "task_queue",
    "namespace": "namespace",
}
EXTRA_FIELDS = ("message_id", "contact_id", "http_method", "http_route", "http_status")
# Alembic narrates every revision lookup the diagnostics check makes; httpx logs each request's
# full URL at INFO (a webhook step's URL may carry a receiver's token or a contact's data).
QUIET_LOGGERS = ("alembic", "httpx")


def mask_emails(text: str) -> str:
    """`text` with every email address replaced by <email>."""
    return EMAIL.sub(MASK, text)


def _temporal_ids(details: object) -> dict[str, Any]:
    if not isinstance(details, Mapping):
        return {}
    return {TEMPORAL_FIELDS[key]: value for key, value in details.items() if key in TEMPORAL_FIELDS}


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The ids a record carries: its workflow's or activity's, and any message or contact id."""
    fields = _temporal_ids(getattr(record, "temporal_workflow", None))
    details = getattr(record, "temporal_activity", None)
    if details is None and activity.in_activity():
        # A plain logger inside an activity: the context is this thread's (or task's) own.
        info = activity.info()
        details = {
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
            "task_queue": info.task_queue,
            "workflow_id": info.workflow_id,
            "workflow_run_id": info.workflow_run_id,
            "workflow_type": info.workflow_type,
        }
    fields.update(_temporal_ids(details))
    for name in EXTRA_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            fields[name] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_emails(record.getMessage()),
            **context_of(record),
        }
        if record.exc_info:
            entry["exception"] = mask_emails(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """The usual one-line text, with email addresses masked."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return mask_emails(super().format(record))


def formatter(settings: Settings) -> logging.Formatter:
    """The formatter NURTURE_LOG_FORMAT asks for."""
    if settings.log_format == "json":
        # The ids are fields of their own; Temporal's loggers need not repeat them in the message.
        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
        return JsonFormatter()
    return TextFormatter()


def configure_logging(settings: Settings, *, level: int = logging.INFO) -> None:
    """Send this process's log records to stderr in the configured format (the worker's setup)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's `log_config` for the API: the configured format, and no uvicorn access log.

    uvicorn's access line holds the raw path and query (ids, signed tokens, `?email=`); the API
    logs each request by route template instead (`nurture.http`, from RequestMetrics).
    """
    json_lines = settings.log_format == "json"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"nurture": {"()": f"{__name__}.{'JsonFormatter' if json_lines else 'TextFormatter'}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "nurture", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }
