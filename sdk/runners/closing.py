"""How a run ends on record: its manifest written, its spills removed, or its failure kept.

:func:`record_run` writes the manifest (and the profile) of a finished or failed run where
the run writes; :func:`abandon_run` closes a run that did not succeed. The runner base calls
both (its ``close`` and ``abandon``), so every runner ends alike.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from sdk.errors import SdkError
from sdk.io import redact
from sdk.logs import get_logger
from sdk.manifest import add_run_totals, write_json
from sdk.profile import profile_document
from sdk.runners.publish import keep_quarantine, publish
from sdk.runners.rundir import remove_temp_files
from sdk.runners.signals import RunInterrupted, ending

if TYPE_CHECKING:
    from sdk.runners.session import RunSession

__all__ = ["PROFILE_FILE", "abandon_run", "record_run", "run_profile"]

logger = get_logger("sdk.run")

PROFILE_FILE = "profile.json"
"""The run's profile in its run directory (:func:`sdk.profile.profile_document`)."""


def run_profile(session: RunSession) -> dict[str, Any] | None:
    """The profile of the run's inputs and outputs merged so far (``profile.json``), or
    ``None`` when the run does not profile (runner option ``profile=false``)."""
    if not session.context.profiled:
        return None
    return profile_document(session.state.profiles)


def record_run(
    session: RunSession,
    status: str,
    rows_out: dict[str, int],
    written: dict[str, str],
    error: BaseException | None = None,
    *,
    appends: bool = False,
) -> dict[str, Any]:
    """The run's manifest, written where the run writes: ``manifest.json`` and the final
    ``run.json`` in its directory, ``<file>.manifest.json`` beside each file output.

    A run directory also keeps the quarantine when it was not published anywhere
    (``quarantine.parquet``: nothing is lost when the checkpoints go) and the profile of its
    inputs and outputs (``profile.json``, what was merged so far for a failed run). The
    manifest names that profile and each step's time summed over units. A succeeded run's
    spills and checkpoints are removed: only an unfinished run can be resumed. A resumed run
    logs ``run_resumed``: how many of its units it reused.

    Args:
        appends: the runner wrote outputs and quarantine as it went (a stream).
    """
    directory, request = session.directory, session.request
    if session.resuming:
        reused, units = session.reused, session.units
        logger.info(
            "run_resumed",
            extra={
                "reused": reused,
                "units": units,
                "detail": f"resumed: reused {reused} of {units} units",
            },
        )
    kept = None
    if directory is not None and not request.quarantine and not appends:
        kept = keep_quarantine(session.state.quarantine(), directory.path)
    profile_path = None
    profile = run_profile(session)
    if directory is not None and profile is not None:
        profile_path = directory.path / PROFILE_FILE
        write_json(profile_path, profile)
    manifest = session.manifest(status, rows_out, written, error, quarantine_uri=kept)
    add_run_totals(
        manifest,
        {name: totals.duration_ms for name, totals in session.state.steps.items()},
        str(profile_path) if profile_path is not None else None,
    )
    if directory is not None:
        beside = [name for name in written if name not in session.artifacts.objects]
        directory.finish(manifest, written, beside, error)
        if status == "succeeded":
            directory.remove_work()
    return manifest


def abandon_run(
    session: RunSession,
    exc: BaseException,
    started: float,
    *,
    resumable: bool,
    appends: bool = False,
) -> None:
    """Close a run that did not succeed.

    Interrupted (``KeyboardInterrupt``, :class:`RunInterrupted`): nothing is published,
    ``run.json`` says ``interrupted`` (a runner that checkpoints resumes it). Failed (any
    other exception): the quarantine so far is written, then the manifest (``failed``, with
    the error) and ``sdk_on_run_error``.

    Args:
        resumable: the runner checkpoints units (an interrupted run can be resumed).
        appends: the runner wrote outputs and quarantine as it went (a stream).
    """
    state, uri, directory = session.state, session.request.quarantine, session.directory
    duration = (time.perf_counter() - started) * 1000
    status, _, signal_name = ending(exc)
    if status == "interrupted":
        if isinstance(exc, RunInterrupted):
            exc.run_id, exc.resumable = session.info.run_id, resumable
        if directory is not None:
            # if this fails too, `sdk runs` still tells the run apart by its dead pid
            with contextlib.suppress(OSError, SdkError):
                remove_temp_files((), directory.path)
                directory.mark("interrupted", signal=signal_name)
        logger.warning(
            "run_finished",
            extra={
                "status": "interrupted",
                "error": type(exc).__name__,
                "error_message": str(exc),
                "resumable": resumable,
                "rows_in": state.rows_in,
                "quarantined": state.quarantined,
                "duration_ms": round(duration, 3),
            },
        )
        return
    if uri and not appends:
        try:  # nothing lost: what was quarantined before the failure is kept
            publish("quarantine", [state.quarantine()], uri)
            if directory is not None:
                directory.published["quarantine"] = uri
        except SdkError:
            logger.warning("quarantine_not_written", extra={"uri": redact(uri)})
    if directory is not None:
        try:
            record_run(session, "failed", {}, dict(directory.published), exc, appends=appends)
        except (OSError, SdkError):
            logger.warning("manifest_not_written", extra={"run_dir": str(session.path)})
    logger.error(
        "run_finished",
        extra={
            "status": "failed",
            "error": type(exc).__name__,
            "error_message": str(exc),
            "rows_in": state.rows_in,
            "quarantined": state.quarantined,
            "duration_ms": round(duration, 3),
        },
    )
    if isinstance(exc, Exception):
        session.hook.sdk_on_run_error(run=session.info, error=exc)
