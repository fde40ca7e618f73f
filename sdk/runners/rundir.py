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
from typing import Any

from sdk.errors import IOSchemeError, PipelineError
from sdk.logs import get_logger
from sdk.manifest import now, write_json
from sdk.runners.identity import differences, differing

__all__ = [
    "DEFAULT_RUN_DIR",
    "STATUSES",
    "RunDirectory",
    "host_name",
    "is_resumable",
    "latest_interrupted",
    "new_run_id",
    "observed_status",
    "remove_temp_files",
    "run_root",
    "write_beside",
]

logger = get_logger("sdk.run")

DEFAULT_RUN_DIR = ".sdk/runs"
STATUSES = ("running", "succeeded", "failed", "interrupted")
"""Every status a run can have."""
LOCK = "run.lock"
KEPT = ("run.json", "manifest.json", LOCK, "quarantine.parquet", "profile.json")
"""What a succeeded run's directory keeps: its spills and checkpoints are removed."""
_TEMP = r"\.{name}\.[0-9a-f]{{8}}\.tmp"  # sdk.io.StagedFile's temporary beside a target


def new_run_id() -> str:
    """Return a new run id: UTC time to the second plus a random suffix (sortable, unique)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def run_root(run_dir: str | Path | None = None) -> Path:
    """The folder holding run directories: ``run_dir``, ``$SDK_RUN_DIR`` or ``.sdk/runs``."""
    return Path(run_dir or os.environ.get("SDK_RUN_DIR") or DEFAULT_RUN_DIR)


def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def host_name() -> str:
    """This machine's name, as run records give it."""
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
    mine = isinstance(pid, int) and record.get("host") == host_name()
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
                "host": host_name(),
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
        differing = differences(record, identity)
        if differing:
            raise PipelineError(
                f"cannot resume run {run_id!r}: the run is not the same: "
                + "; ".join(differing)
                + ". Start a new run instead (without --resume).",
                differing,
            )
        lock = _lock(path.parent, run_id)
        try:
            record = _read(path)  # again, under the lock: it may have ended meanwhile
            if record.get("status") == "succeeded":
                raise PipelineError(f"run {run_id!r} already succeeded; nothing to resume")
            for key in ("finished", "interrupted", "signal", "error"):
                record.pop(key, None)
            record.update(status="running", resumed=now(), host=host_name(), pid=os.getpid())
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
        manifest: dict[str, Any],
        written: dict[str, str],
        beside: Iterable[str] = (),
        error: BaseException | None = None,
    ) -> None:
        """Write ``manifest.json``, the final ``run.json`` (status from the manifest), and the
        manifest beside each file in ``written`` named in ``beside`` as
        ``<file name>.manifest.json``."""
        write_json(self.path / "manifest.json", manifest)
        self.mark(str(manifest["status"]), error)
        write_beside(manifest, {name: written[name] for name in beside if name in written})

    def remove_work(self) -> int:
        """Remove what only an unfinished run needs (spills, checkpoints, row sources): all
        but :data:`KEPT`. Returns the bytes freed (logged as ``spills_removed``)."""
        freed, files = 0, 0
        for entry in self.path.iterdir():
            if entry.name in KEPT:
                continue
            found = [entry] if not entry.is_dir() or entry.is_symlink() else entry.rglob("*")
            for path in found:
                with contextlib.suppress(OSError):
                    if path.is_file() and not path.is_symlink():
                        freed += path.stat().st_size
                        files += 1
            with contextlib.suppress(FileNotFoundError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        if files:
            logger.info("spills_removed", extra={"files": files, "bytes": freed})
        return freed


def write_beside(manifest: dict[str, Any], written: dict[str, str]) -> None:
    """Write ``manifest`` beside each local file in ``written`` as ``<file>.manifest.json``
    (one per file, named after it: two outputs in one folder keep their own)."""
    for uri in written.values():
        local = uri.removeprefix("file://")
        if "://" not in local and uri != "-":
            target = Path(local).resolve()
            write_json(target.with_name(f"{target.name}.manifest.json"), manifest)


_LISTED = 5
"""Runs of the pipeline named in the error when none can be resumed."""


def latest_interrupted(root: Path, identity: dict[str, Any]) -> str:
    """The id of the most recently active interrupted run under ``root`` with ``identity``
    (by the latest of its start, resume and interruption times).

    A run counts as interrupted when its ``run.json`` says so, or says ``running`` while its
    process on this host is gone (killed outright).

    Raises:
        PipelineError: there is none; the message lists the pipeline's most recent runs, with
            what differs for the interrupted ones.
    """
    pipeline = identity["pipeline"]
    runs: list[tuple[str, str, dict[str, Any]]] = []  # (started, run id, record)
    for path in root.glob("*/run.json") if root.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            record = dict(json.loads(path.read_text(encoding="utf-8")))
            if record.get("pipeline") == pipeline:
                # its last activity: started, resumed, or interrupted by a signal
                last = max(str(record.get(k) or "") for k in ("started", "resumed", "interrupted"))
                runs.append((last, path.parent.name, record))
    runs.sort(key=lambda r: (r[0], r[1]), reverse=True)
    for _, run_id, record in runs:
        if observed_status(record) == "interrupted" and not differing(record, identity):
            return run_id
    listed = []
    for _, run_id, record in runs[:_LISTED]:
        status = observed_status(record)
        if status == "interrupted":
            status += f", other {', '.join(differing(record, identity))}"
        listed.append(f"{run_id} ({status})")
    more = f" and {len(runs) - _LISTED} more" if len(runs) > _LISTED else ""
    shown = ", ".join(listed) + more if listed else f"none in {root}"
    raise PipelineError(
        f"no interrupted run of pipeline {pipeline!r} with these inputs/params to resume; "
        f"runs: {shown}. Start a new run (without --resume), or resume one by its id "
        f"(`sdk runs` lists them)"
    )
