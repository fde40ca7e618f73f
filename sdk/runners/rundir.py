"""Run directories: ``run.json`` when a run opens, identity checks on resume, the manifest.

Each run has a folder ``<run dir>/<run_id>/`` holding ``run.json`` (identity and status) and,
once it ends, ``manifest.json``; runners that checkpoint keep their units there too.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sdk.errors import PipelineError, SdkError
from sdk.io import redact
from sdk.manifest import build_manifest, content_hash, now, write_json

if TYPE_CHECKING:
    from sdk.runners.session import RunSession

__all__ = ["DEFAULT_RUN_DIR", "RunDirectory", "identity_inputs", "new_run_id", "run_root"]

DEFAULT_RUN_DIR = ".sdk/runs"


def new_run_id() -> str:
    """Return a new run id: UTC time to the second plus a random suffix (sortable, unique)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def run_root(run_dir: str | Path | None = None) -> Path:
    """The folder holding run directories: ``run_dir``, ``$SDK_RUN_DIR`` or ``.sdk/runs``."""
    return Path(run_dir or os.environ.get("SDK_RUN_DIR") or DEFAULT_RUN_DIR)


def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


class RunDirectory:
    """The folder of one run and its ``run.json`` record.

    Use :meth:`create` for a new run and :meth:`reopen` to resume one.
    """

    def __init__(self, path: Path, record: dict[str, Any]) -> None:
        self.path = path
        self.record = record

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.record["run_id"])

    @classmethod
    def create(cls, root: Path, run_id: str, identity: dict[str, Any]) -> RunDirectory:
        """Start a new run: write ``run.json`` with ``identity`` and status ``running``.

        Raises:
            PipelineError: a run with this id was interrupted (it must be resumed instead).
        """
        record = {
            "run_id": run_id,
            "status": "running",
            "started": now(),
            "host": os.uname().nodename,
            **identity,
        }
        path = root / run_id
        if (path / "run.json").exists():
            previous = _read(path / "run.json")
            if previous.get("status") == "running" and previous.get("runner") != "local":
                raise PipelineError(
                    f"run {run_id!r} in {root} was interrupted; resume it with --resume "
                    f"{run_id} or choose another run id"
                )
            shutil.rmtree(path)  # a finished run's id is reused: start afresh
        write_json(path / "run.json", record)
        return cls(path, record)

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
        record["status"] = "running"
        record["resumed"] = now()
        write_json(path, record)
        return cls(path.parent, record)

    def finish(
        self,
        session: RunSession,
        status: str,
        rows_out: dict[str, int],
        written: dict[str, str],
        error: SdkError | None = None,
    ) -> None:
        """Write ``manifest.json`` (here and beside file outputs) and the final ``run.json``."""
        state = session.state
        report = state.report()
        inputs = []
        for item in self.record["inputs"]:
            rows = report[(report["boundary"] == "input") & (report["dataset"] == item["name"])]
            inputs.append({**item, "rows": int(rows["rows"].iloc[0]) if len(rows) else None})
        quarantine_uri = session.request.quarantine
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
            error=None if error is None else {"type": type(error).__name__, "message": str(error)},
            options={"max_invalid": self.record["max_invalid"], **self.record.get("options", {})},
        )
        write_json(self.path / "manifest.json", manifest)
        write_json(self.path / "run.json", {**self.record, "status": status, "finished": now()})
        folders = {
            Path(uri).resolve().parent
            for uri in written.values()
            if "://" not in uri and uri != "-"
        }
        for folder in folders:
            write_json(folder / "manifest.json", manifest)


def identity_inputs(
    given: dict[str, pd.DataFrame | str], hash_frames: bool
) -> list[dict[str, Any]]:
    """The inputs as ``run.json`` records them: name, redacted URI, content hash."""
    return [
        {
            "name": k,
            "uri": redact(v) if isinstance(v, str) else "<DataFrame>",
            # hashing a frame costs ~0.1 s per million rows: only where resume needs it
            "content_hash": (
                content_hash(v) if hash_frames or not isinstance(v, pd.DataFrame) else None
            ),
        }
        for k, v in given.items()
    ]
