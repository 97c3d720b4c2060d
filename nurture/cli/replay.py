"""`nurture replay`: replay workflow histories against today's workflow code to catch non-determinism."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from nurture.settings import Settings, get_settings

# Temporal and the workflows are imported when the command runs: `nurture --help` starts without them.
if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHistory

console = Console(soft_wrap=True, highlight=False)
errors = Console(stderr=True, soft_wrap=True, highlight=False)
CONNECT_TIMEOUT = 10.0
# The core reports a failed replay as the Debug text of its Failure: the first `message` is the reason.
_FAILURE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Loaded:
    """One history to replay, or why it could not be had."""

    source: str
    history: WorkflowHistory | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Replayed:
    """What replaying one history gave: None as `error` when it replayed OK."""

    source: str
    workflow_type: str
    events: int
    error: str | None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def failure_message(exc: BaseException) -> str:
    """The reason a replay failed, in one line, without the SDK's wrapping."""
    text = str(exc)
    found = _FAILURE_MESSAGE.search(text)
    if found is not None:
        text = re.sub(r"\\(.)", r"\1", found.group(1))
    return _one_line(text) or type(exc).__name__


def load_history(path: Path) -> WorkflowHistory:
    """A history file as the Temporal UI downloads it or `temporal workflow show --output json` prints it.

    Raises:
        ValueError: the file is not such a history, saying why.
    """
    from google.protobuf.json_format import ParseError
    from temporalio.client import WorkflowHistory

    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read it: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if isinstance(data, list):
        data = {"events": data}
    try:
        history = WorkflowHistory.from_json(path.stem, data)
    except (ValueError, ParseError) as exc:
        raise ValueError(f"not a workflow history: {_one_line(str(exc))}") from exc
    if not history.events or not history.events[0].HasField("workflow_execution_started_event_attributes"):
        raise ValueError("not a workflow history: its first event is not WorkflowExecutionStarted")
    # Newer servers record the workflow id in the start event; the file name stands in otherwise.
    workflow_id = history.events[0].workflow_execution_started_event_attributes.workflow_id
    return WorkflowHistory(workflow_id or path.stem, history.events)


async def _connect(settings: Settings) -> Client:
    from nurture.temporal.client import connect

    return await asyncio.wait_for(connect(settings), CONNECT_TIMEOUT)


async def fetch_histories(settings: Settings, workflow_ids: list[str]) -> list[Loaded]:
    """The history of the latest run of each workflow id, from the configured Temporal.

    Raises:
        typer.Exit: Temporal cannot be reached (said on stderr).
    """
    from temporalio.service import RPCError, RPCStatusCode

    from nurture.temporal.client import connect_failure

    where = f"Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace})"
    try:
        client = await _connect(settings)
    except Exception as exc:
        reason = (
            f"no answer in {CONNECT_TIMEOUT:g} s" if isinstance(exc, TimeoutError) else connect_failure(exc)
        )
        if reason is None:
            raise
        errors.print(f"Cannot reach {where}: {reason}", style="red", markup=False)
        raise typer.Exit(1) from None
    loaded: list[Loaded] = []
    for workflow_id in workflow_ids:
        try:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                problem = f"no workflow with this id on {where}"
            else:
                problem = f"{where} refused: {_one_line(exc.message)}"
            loaded.append(Loaded(workflow_id, problem=problem))
            continue
        loaded.append(Loaded(workflow_id, history=history))
    return loaded


def _quiet_sdk() -> Any:
    """A runtime whose core logs only errors, and the SDK's Python loggers silenced: a failed
    replay is reported once, by this command, rather than as warnings and tracebacks."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    logging.getLogger("temporalio.worker").setLevel(logging.CRITICAL)
    quiet = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    return Runtime(telemetry=TelemetryConfig(logging=quiet))


async def replay_all(loaded: list[Loaded], *, verbose: bool = False) -> list[Replayed]:
    """Replay each history with the worker's workflows and data converter, one after another."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    # The CLI names the app layers by string: the nurture package never imports workers/.
    workflows: list[type] = importlib.import_module("workers.registration").WORKFLOWS
    replayer = Replayer(
        workflows=workflows,
        data_converter=pydantic_data_converter,
        runtime=None if verbose else _quiet_sdk(),
    )
    results: list[Replayed] = []
    for item in loaded:
        if item.history is None:
            results.append(Replayed(item.source, "", 0, item.problem))
            continue
        start = item.history.events[0].workflow_execution_started_event_attributes
        try:
            outcome = await replayer.replay_workflow(item.history, raise_on_replay_failure=False)
            failure: BaseException | None = outcome.replay_failure
        except Exception as exc:
            failure = exc
        error = failure_message(failure) if failure is not None else None
        results.append(Replayed(item.source, start.workflow_type.name, len(item.history.events), error))
    return results


def replay(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="HISTORY.json",
            help="Histories from the Temporal UI (Download) or `temporal workflow show -w ID --output json`",
            show_default=False,
        ),
    ] = None,
    from_server: Annotated[
        list[str] | None,
        typer.Option(
            "--from-server",
            metavar="WORKFLOW_ID",
            help="Fetch this workflow's latest run from NURTURE_TEMPORAL_ADDRESS (repeatable)",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show the SDK's own logs and stack traces")
    ] = False,
) -> None:
    """Replay workflow histories against this code; exit 1 if any cannot be replayed (non-determinism)."""
    paths, workflow_ids = files or [], from_server or []
    if not paths and not workflow_ids:
        errors.print("Give history files, or --from-server WORKFLOW_ID", style="red", markup=False)
        raise typer.Exit(2)
    loaded: list[Loaded] = []
    for path in paths:
        try:
            loaded.append(Loaded(str(path), history=load_history(path)))
        except ValueError as exc:
            loaded.append(Loaded(str(path), problem=str(exc)))
    if workflow_ids:
        loaded += asyncio.run(fetch_histories(get_settings(), workflow_ids))
    results = asyncio.run(replay_all(loaded, verbose=verbose))
    for result in results:
        what = f"{result.workflow_type}, {result.events} events" if result.workflow_type else ""
        if result.error is None:
            console.print(f"{result.source}: replayed OK ({what})", markup=False)
        else:
            where = f" ({what})" if what else ""
            console.print(f"{result.source}: FAILED{where}: {result.error}", style="red", markup=False)
    failed = sum(result.error is not None for result in results)
    if failed:
        errors.print(f"{failed} of {len(results)} failed to replay", style="red", markup=False)
        raise typer.Exit(1)
