"""Run directories: ``run.json`` when a run opens, identity checks on resume, the manifest.

Each run has a folder ``<run dir>/<run_id>/`` holding ``run.json`` (identity, status, the pid
and host of the process running it), ``run.lock`` (held with ``flock`` by that process for the
whole run, so one run directory has one writer) and, once it ends, ``manifest.json``; runners
that checkpoint keep their units there too.

A run's status is one of :data:`STATUSES`. ``running`` is written when the run opens; the run
itself writes ``succeeded``, ``failed`` (with the error) or ``interrupted`` (a signal,
``KeyboardInterrupt``). A process killed outright (``kill -9``, a crash of the machine) cannot
write anything: its run stays ``running`` with a pid that is no longer alive, which
:func:`observed_status` reports as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sdk.errors import IOSchemeError, PipelineError
from sdk.io import redact
from sdk.logs import get_logger
from sdk.manifest import build_manifest, content_hash, now, write_json

if TYPE_CHECKING:
    from sdk.runners.session import RunRequest, RunSession

__all__ = [
    "DEFAULT_RUN_DIR",
    "STATUSES",
    "RunDirectory",
    "identity_inputs",
    "is_resumable",
    "new_run_id",
    "observed_status",
    "remove_temp_files",
    "run_identity",
    "run_root",
]

logger = get_logger("sdk.run")

DEFAULT_RUN_DIR = ".sdk/runs"
STATUSES = ("running", "succeeded", "failed", "interrupted")
"""Every status a run can have."""
LOCK = "run.lock"
_TEMP = r"\.{name}\.[0-9a-f]{{8}}\.tmp"  # sdk.io.StagedFile's temporary beside a target


def new_run_id() -> str:
    """Return a new run id: UTC time to the second plus a random suffix (sortable, unique)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def run_root(run_dir: str | Path | None = None) -> Path:
    """The folder holding run directories: ``run_dir``, ``$SDK_RUN_DIR`` or ``.sdk/runs``."""
    return Path(run_dir or os.environ.get("SDK_RUN_DIR") or DEFAULT_RUN_DIR)


def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _host() -> str:
    return os.uname().nodename


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def is_resumable(record: dict[str, Any]) -> bool:
    """Whether the run's runner checkpoints units (older records: any runner but local)."""
    return bool(record.get("resumable", record.get("runner") != "local"))


def observed_status(record: dict[str, Any]) -> str:
    """The status of a run as seen from this host: ``running`` when its process on this host
    is gone is ``interrupted``. A record without a pid (older versions) or from another host
    stays ``running``."""
    status = str(record.get("status", "?"))
    pid = record.get("pid")
    mine = isinstance(pid, int) and record.get("host") == _host()
    if status == "running" and mine and not _is_alive(int(pid)):  # type: ignore[arg-type]
        return "interrupted"
    return status


def _lock(folder: Path, run_id: str) -> int:
    """Hold ``run.lock`` of ``folder`` (released by :meth:`RunDirectory.release` or when the
    process ends, however it ends).

    Raises:
        PipelineError: another process holds it.
    """
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        record: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            record = _read(folder / "run.json")
        pid = record.get("pid", "unknown")
        resume = f", then resume it with --resume {run_id}" if is_resumable(record) else ""
        raise PipelineError(
            f"run {run_id!r} is in progress in another process (pid {pid}) on "
            f"{record.get('host', 'this host')}; wait for it to end, or stop that process "
            f"(kill {pid}){resume}"
        ) from None
    return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def remove_temp_files(destinations: Iterable[str], run_path: Path | None) -> list[Path]:
    """Remove temporary files a killed run of ours left: ``.<name>.<hex>.tmp`` beside each
    file destination (and nothing else there), and any such file in its run directory.

    Only the process holding the run's lock calls this, so no writer of ours is using them.
    Returns the files removed.
    """
    found: list[Path] = []
    for uri in destinations:
        if "://" in uri.removeprefix("file://") or uri == "-":
            continue
        target = Path(uri.removeprefix("file://"))
        pattern = re.compile(_TEMP.format(name=re.escape(target.name)))
        if target.parent.is_dir():
            found += [p for p in target.parent.iterdir() if pattern.fullmatch(p.name)]
    if run_path is not None and run_path.is_dir():
        anything = re.compile(_TEMP.format(name=".+"))
        found += [p for p in run_path.rglob(".*.tmp") if anything.fullmatch(p.name)]
    for path in found:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            logger.info("temp_file_removed", extra={"file": str(path)})
    return found


class RunDirectory:
    """The folder of one run and its ``run.json`` record.

    Use :meth:`create` for a new run and :meth:`reopen` to resume one.
    """

    def __init__(self, path: Path, record: dict[str, Any], lock: int | None = None) -> None:
        self.path = path
        self.record = record
        self._lock = lock
        self.published: dict[str, str] = {}
        """Destinations published by this run so far, by dataset (``quarantine`` too)."""

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.record["run_id"])

    @classmethod
    def create(
        cls, root: Path, run_id: str, identity: dict[str, Any], resumable: bool = False
    ) -> RunDirectory:
        """Start a new run: take its lock, write ``run.json`` with ``identity``, status
        ``running``, this process's pid and host.

        Raises:
            PipelineError: a run with this id is in progress in another process, or was
                interrupted and can be resumed (it must be resumed instead).
        """
        path = root / run_id
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IOSchemeError(
                f"cannot write the run directory {str(path)!r}: {exc.strerror}; check --run-dir "
                f"(or $SDK_RUN_DIR) and its permissions"
            ) from None
        lock = _lock(path, run_id)
        try:
            if (path / "run.json").exists():
                previous = _read(path / "run.json")
                if previous.get("status") in ("running", "interrupted") and is_resumable(previous):
                    raise PipelineError(
                        f"run {run_id!r} in {root} was interrupted; resume it with --resume "
                        f"{run_id} or choose another run id"
                    )
                for entry in path.iterdir():  # a finished run's id is reused: start afresh
                    if entry.name != LOCK:
                        if entry.is_dir() and not entry.is_symlink():
                            shutil.rmtree(entry)
                        else:
                            entry.unlink()
            record = {
                "run_id": run_id,
                "status": "running",
                "started": now(),
                "host": _host(),
                "pid": os.getpid(),
                "resumable": resumable,
                **identity,
            }
            write_json(path / "run.json", record)
        except BaseException:
            _unlock(lock)
            raise
        return cls(path, record, lock)

    @classmethod
    def reopen(cls, root: Path, run_id: str, identity: dict[str, Any]) -> RunDirectory:
        """Resume run ``run_id``, refusing if anything in ``identity`` differs.

        Raises:
            PipelineError: no such run, it already succeeded, or it is not the same run
                (every difference is listed).
        """
        path = root / run_id / "run.json"
        if not path.exists():
            raise PipelineError(
                f"cannot resume run {run_id!r}: no run directory at {path.parent}; `sdk runs` "
                f"lists the runs there (or pass --run-dir)"
            )
        record = _read(path)
        if record.get("status") == "succeeded":
            raise PipelineError(f"run {run_id!r} already succeeded; nothing to resume")
        differences = [
            f"{key} differs (was {record.get(key)!r}, now {value!r})"
            for key, value in identity.items()
            if record.get(key) != json.loads(json.dumps(value, default=str))
        ]
        if differences:
            raise PipelineError(
                f"cannot resume run {run_id!r}: the run is not the same: "
                + "; ".join(differences)
                + ". Start a new run instead (without --resume).",
                differences,
            )
        lock = _lock(path.parent, run_id)
        try:
            record = _read(path)  # again, under the lock: it may have ended meanwhile
            if record.get("status") == "succeeded":
                raise PipelineError(f"run {run_id!r} already succeeded; nothing to resume")
            for key in ("finished", "interrupted", "signal", "error"):
                record.pop(key, None)
            record.update(status="running", resumed=now(), host=_host(), pid=os.getpid())
            write_json(path, record)
        except BaseException:
            _unlock(lock)
            raise
        return cls(path.parent, record, lock)

    def release(self) -> None:
        """Release the run's lock (once the run has ended)."""
        if self._lock is not None:
            _unlock(self._lock)
            self._lock = None

    def mark(
        self, status: str, error: BaseException | None = None, signal: str | None = None
    ) -> None:
        """Record ``status`` in ``run.json``: with the error of a failed run, the name of the
        signal that interrupted one."""
        record: dict[str, Any] = {**self.record, "status": status}
        if status == "interrupted":
            record["interrupted"] = now()
            if signal is not None:
                record["signal"] = signal
        else:
            record["finished"] = now()
        if error is not None:
            record["error"] = {"type": type(error).__name__, "message": str(error)}
        write_json(self.path / "run.json", record)

    def finish(
        self,
        session: RunSession,
        status: str,
        rows_out: dict[str, int],
        written: dict[str, str],
        error: BaseException | None = None,
    ) -> None:
        """Write ``manifest.json`` and the final ``run.json``, and the manifest beside each
        file in ``written`` (published destinations only) as ``<file name>.manifest.json``."""
        state = session.state
        report = state.report()
        inputs = []
        for item in self.record["inputs"]:
            rows = report[(report["boundary"] == "input") & (report["dataset"] == item["name"])]
            inputs.append({**item, "rows": int(rows["rows"].iloc[0]) if len(rows) else None})
        quarantine_uri = session.request.quarantine
        described = None if error is None else {"type": type(error).__name__, "message": str(error)}
        manifest = build_manifest(
            pipeline=session.request.pipeline,
            run_id=self.run_id,
            runner=self.record["runner"],
            status=status,
            started=self.record["started"],
            inputs=inputs,
            outputs=[
                {
                    "name": name,
                    "uri": redact(written[name]) if name in written else None,
                    "rows": rows,
                }
                for name, rows in rows_out.items()
            ],
            report=report,
            quarantine=state.quarantine(),
            quarantine_uri=redact(quarantine_uri) if quarantine_uri else None,
            error=described,
            options={"max_invalid": self.record["max_invalid"], **self.record.get("options", {})},
            artifacts=session.artifacts.manifest_entry(),
            metrics=session.artifacts.metrics,
        )
        write_json(self.path / "manifest.json", manifest)
        self.mark(status, error)
        # one manifest per file, named after it: two outputs in one folder keep their own
        for name, uri in written.items():
            if name in session.artifacts.objects:  # an artifact has its own manifest beside it
                continue
            local = uri.removeprefix("file://")
            if "://" not in local and uri != "-":
                target = Path(local).resolve()
                write_json(target.with_name(f"{target.name}.manifest.json"), manifest)


def identity_inputs(given: dict[str, Any], hash_frames: bool) -> list[dict[str, Any]]:
    """The inputs as ``run.json`` records them: name, redacted URI, content hash (an
    artifact given as an object has none: its type is recorded instead)."""
    records = []
    for name, value in given.items():
        if isinstance(value, str):
            records.append(
                {"name": name, "uri": redact(value), "content_hash": content_hash(value)}
            )
        elif isinstance(value, pd.DataFrame):
            # hashing a frame costs ~0.1 s per million rows: only where resume or lineage
            # needs it
            digest = content_hash(value) if hash_frames else None
            records.append({"name": name, "uri": "<DataFrame>", "content_hash": digest})
        else:
            records.append({"name": name, "uri": f"<{type(value).__name__}>", "content_hash": None})
    return records


def run_identity(
    request: RunRequest,
    runner: str,
    settings: dict[str, Any],
    on_step_error: str,
    hash_frames: bool,
) -> dict[str, Any]:
    """What makes a run the same run (``run.json``; compared on resume): pipeline, its
    fingerprint and params, inputs with content hashes, destinations (redacted), budget,
    runner and the options that shape its units."""
    pipeline = request.pipeline
    return {
        "pipeline": pipeline.name,
        "fingerprint": pipeline.fingerprint(),
        "params": {s.name: s.params.as_dict() for s in pipeline.order},
        # a produced artifact records the identity of the data it was computed from
        "inputs": identity_inputs(
            request.inputs, hash_frames=hash_frames or bool(pipeline.artifacts)
        ),
        "outputs": {k: redact(v) for k, v in request.outputs.items()},
        "quarantine": redact(request.quarantine) if request.quarantine else None,
        "max_invalid": request.max_invalid,
        "runner": runner,
        "options": {**settings, "on_step_error": on_step_error},
    }
