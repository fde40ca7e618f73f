"""Crash and resume of the ``batch`` runner, as a user meets it: ``sdk run`` in a subprocess.

A pipeline module (two fused ``rows`` steps, a ``partition_by`` step, a ``global`` step) is
written to a temporary folder and run with ``python -m sdk run --runner batch`` in its own
session. Its steps sleep a little per call (set through environment variables the module
reads), so the run can be killed with SIGKILL when its run directory (unit markers, part
files), its JSON log or the output's temporary file shows it reached a chosen point. Resuming
with ``--resume`` must then give exactly the output, quarantine and counts of an
uninterrupted run: no row lost, none duplicated, nothing published before the end.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require_service

from sdk.runs import list_runs

ROOT = Path(__file__).resolve().parents[1]
N_ROWS = 2000
CHUNK_ROWS = 700  # 3 input chunks, 3 spill units, 3 or 4 partitions, 1 global unit
RUN_ID = "crash-run"
POSTGRES_URL = os.environ.get("SDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SLOW = {  # a crashed run: rows and partition units >= 0.2 s, spill units >= 0.1 s, global >= 1 s
    "RESUME_TEST_DELAY": "0.1",
    "RESUME_TEST_GLOBAL_DELAY": "1.0",
}
SLOW_WRITE = {**SLOW, "RESUME_TEST_WRITE_DELAY": "0.3"}  # 0.3 s per chunk published

PIPELINE = '''
    """The crash/resume test pipeline: clean -> flag (rows) -> add_features (keyed) -> score."""

    import os
    import time

    import numpy as np
    import pandera.pandas as pa
    from pandera.typing import DataFrame

    from sdk import Params, Pipeline, Step

    DELAY = float(os.environ.get("RESUME_TEST_DELAY", "0"))
    GLOBAL_DELAY = float(os.environ.get("RESUME_TEST_GLOBAL_DELAY", "0"))
    WRITE_DELAY = float(os.environ.get("RESUME_TEST_WRITE_DELAY", "0"))

    if WRITE_DELAY:  # slow publishing down, so a kill can land in the middle of it
        from sdk.io import files

        def _slowed(write):
            def slow_write(self, frame):
                write(self, frame)
                time.sleep(WRITE_DELAY)

            return slow_write

        files.FileWriter.append = _slowed(files.FileWriter.append)
        try:
            from sdk.io import postgres
        except ImportError:
            pass
        else:
            postgres.PostgresWriter.append = _slowed(postgres.PostgresWriter.append)


    class Transactions(pa.DataFrameModel):
        """A raw transaction."""

        tx_id: str
        customer_id: int = pa.Field(ge=0)
        amount: float = pa.Field(ge=0, le=1_000_000)
        country: str = pa.Field(str_matches=r"^[A-Z]{2}$")

        class Config:
            coerce = True


    class Cleaned(Transactions):
        """With the amount in cents."""

        cents: int


    class Flagged(Cleaned):
        """With a flag for big amounts."""

        big: bool


    class Spendable(Flagged):
        """Amounts a customer can spend (the keyed step quarantines the others)."""

        amount: float = pa.Field(ge=0, le=200_000)

        @pa.check("amount", name="paced")
        def paced(cls, amount):
            """Always true; takes its time, so a run can be killed while it spills."""
            time.sleep(DELAY)
            return amount.notna()


    class Features(Spendable):
        """With per-customer aggregates."""

        mean_amount: float
        n_tx: int = pa.Field(ge=1)


    class Scored(Features):
        """With a global z-score (outliers are quarantined) and a score."""

        z: float = pa.Field(le=2.5)
        score: float = pa.Field(ge=0, le=1)


    class Clean(Step):
        """Amount in cents."""

        output = "clean"
        scope = "rows"

        def run(self, transactions: DataFrame[Transactions]) -> DataFrame[Cleaned]:
            time.sleep(DELAY)
            cents = (transactions["amount"] * 100).round().astype("int64")
            return transactions.assign(cents=cents)


    class Flag(Step):
        """Flag amounts over a threshold."""

        output = "flagged"
        scope = "rows"

        class Params(Params):
            """The threshold of a big amount."""

            threshold: float = 500.0

        def run(self, clean: DataFrame[Cleaned]) -> DataFrame[Flagged]:
            time.sleep(DELAY)
            return clean.assign(big=clean["amount"] > self.params.threshold)


    class AddFeatures(Step):
        """Per-customer mean amount and number of transactions."""

        output = "features"
        partition_by = "customer_id"

        def run(self, flagged: DataFrame[Spendable]) -> DataFrame[Features]:
            time.sleep(DELAY)
            g = flagged.groupby("customer_id")["amount"]
            return flagged.assign(mean_amount=g.transform("mean"), n_tx=g.transform("size"))


    class Score(Step):
        """z-score of the log amount over all rows, and its logistic."""

        output = "scored"
        scope = "global"

        def run(self, features: DataFrame[Features]) -> DataFrame[Scored]:
            time.sleep(GLOBAL_DELAY)
            x = np.log1p(features["amount"])
            z = (x - x.mean()) / x.std()
            return features.assign(z=z, score=1 / (1 + np.exp(-z)))


    pipeline = Pipeline([Clean(), Flag(), AddFeatures(), Score()], name="resume_test")
'''


def write_input(path: Path) -> None:
    """A seeded CSV of N_ROWS transactions, 2 % of them bad in one field each."""
    rng = np.random.default_rng(20240617)
    customers = rng.integers(1000, 1400, N_ROWS)
    amounts = np.clip(rng.lognormal(3.7, 1.2, N_ROWS), 0.5, 150_000)
    countries = ["US", "GB", "DE", "FR", "ES", "IT"]
    rows = [
        [f"t{i:06d}", str(c), f"{a:.2f}", countries[i % len(countries)]]
        for i, (c, a) in enumerate(zip(customers, amounts, strict=True))
    ]
    faults = [  # (column, value): all but the last fail at clean's input, it at add_features'
        (2, ""), (2, "abc"), (2, "-3.50"), (3, "usa"), (1, "C17"), (2, "2500000"), (3, ""),
        (2, "350000.00"),
    ]
    for k, i in enumerate(rng.choice(N_ROWS, N_ROWS // 50, replace=False)):
        column, value = faults[k % len(faults)]
        rows[i][column] = value
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["tx_id", "customer_id", "amount", "country"])
        writer.writerows(rows)


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The subprocess environment: no inherited log or delay settings, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("SDK_LOG_", "RESUME_TEST_")) and k != "SDK_RUN_DIR"
    }
    return {**env, **(extra or {})}


@dataclass
class Job:
    """One batch run's command line and files."""

    pipeline: Path
    data: Path
    out: Path
    run_dir: Path
    output: str = ""  # default: <out>/scored.csv
    chunk_rows: int = CHUNK_ROWS

    @property
    def scored(self) -> Path:
        return self.out / "scored.csv"

    @property
    def quarantine(self) -> Path:
        return self.out / "quarantine.csv"

    @property
    def run_path(self) -> Path:
        return self.run_dir / RUN_ID

    def args(self, *more: str) -> list[str]:
        """``python -m sdk run ...`` for this job, with ``more`` appended."""
        return [
            sys.executable, "-m", "sdk", "run", f"{self.pipeline}:pipeline",
            "--runner", "batch", "--run-id", RUN_ID, "--chunk-rows", str(self.chunk_rows),
            "--input", f"transactions={self.data}",
            "--output", f"scored={self.output or self.scored}",
            # an intermediate written too, so it is spilled mid-unit (the mid-unit kill point)
            "--output", f"clean={self.out / 'clean.parquet'}",
            "--quarantine", str(self.quarantine), "--max-invalid", "1",
            "--run-dir", str(self.run_dir), "--log-format", "json", *more,
        ]

    def run(self, *more: str) -> subprocess.CompletedProcess[str]:
        """Run to the end (no delays); return the completed process."""
        return subprocess.run(
            self.args(*more), cwd=ROOT, env=environment(), capture_output=True, text=True,
            timeout=120,
        )

    def resume(self, *more: str) -> subprocess.CompletedProcess[str]:
        """The same command again with ``--resume`` (and ``more``)."""
        return self.run("--resume", RUN_ID, *more)

    def markers(self) -> set[str]:
        """Names of the completed units."""
        return {p.stem for p in (self.run_path / "units").glob("*.json")}

    def status(self) -> str:
        """``status`` in ``run.json``."""
        return str(json.loads((self.run_path / "run.json").read_text())["status"])


@dataclass
class Reference:
    """What an uninterrupted run produced."""

    job: Job
    scored: pd.DataFrame
    quarantine: pd.DataFrame
    manifest: dict
    finished: dict
    markers: set[str]

    def units(self, prefix: str) -> list[str]:
        """The reference's unit names starting with ``prefix``, in order."""
        return sorted(m for m in self.markers if m.startswith(prefix))


def errors(done: subprocess.CompletedProcess[str]) -> str:
    """The stderr lines of a run that are not JSON log records (errors, tracebacks)."""
    lines = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    return "\n".join(lines)[-3000:]


def records(stderr: str) -> list[dict]:
    """The JSON log records of a run's stderr."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def finished_event(stderr: str) -> dict:
    """The ``run_finished`` log record of a run's stderr."""
    (event,) = [r for r in records(stderr) if r.get("event") == "run_finished"]
    return event


def read_sorted(path: Path) -> pd.DataFrame:
    """A CSV as text, rows sorted by all columns (order-insensitive comparison)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The pipeline module and the input CSV."""
    folder = tmp_path_factory.mktemp("resume")
    module = folder / "resume_pipeline.py"
    module.write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
    data = folder / "transactions.csv"
    write_input(data)
    return module, data


def new_job(workspace: tuple[Path, Path], folder: Path, **kwargs: object) -> Job:
    """A job with its own output folder and run directory under ``folder``."""
    module, data = workspace
    (folder / "out").mkdir(parents=True, exist_ok=True)
    return Job(module, data, folder / "out", folder / "runs", **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference(
    workspace: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    """An uninterrupted batch run with the same chunking (and the same run id)."""
    return run_reference(new_job(workspace, tmp_path_factory.mktemp("reference")))


def run_reference(job: Job) -> Reference:
    """Run ``job`` uninterrupted and keep what it produced."""
    done = job.run("--log-level", "DEBUG")  # its units, from unit_committed events
    assert done.returncode == 0, errors(done)
    manifest = json.loads((job.run_path / "manifest.json").read_text())
    # a succeeded run's checkpoints are gone: its units are known from its log
    units = {r["unit"] for r in records(done.stderr) if r.get("event") == "unit_committed"}
    return Reference(
        job, read_sorted(job.scored), read_sorted(job.quarantine), manifest,
        finished_event(done.stderr), units,
    )


def kill_when(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    what: str,
    log: Path,
    timeout: float = 90,
) -> None:
    """Poll ``ready`` until true, then SIGKILL the run's process group; fail if it ends first."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                lines = log.read_text(errors="replace").splitlines()
                tail = "\n".join(line for line in lines if not line.startswith("{"))[-2000:]
                pytest.fail(
                    f"the run ended (exit {proc.returncode}) before the kill point ({what}); "
                    f"make the pipeline slower (RESUME_TEST_* delays)\n{tail}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"the kill point ({what}) was not reached in {timeout} s")
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed at {what}"


def crash(job: Job, ready: Callable[[Job], bool], what: str, env: dict[str, str]) -> None:
    """Start ``job`` slowed down by ``env`` and SIGKILL it when ``ready(job)`` holds."""
    log = job.out.parent / "crashed.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            job.args(), cwd=ROOT, env=environment(env), stdout=subprocess.DEVNULL, stderr=fh,
            start_new_session=True,
        )
        kill_when(proc, lambda: ready(job), what, log)


def logged(job: Job, event: str) -> bool:
    """Whether the crashed run's log holds ``event``."""
    log = job.out.parent / "crashed.log"
    return log.exists() and f'"event": "{event}"' in log.read_text(errors="replace")


def temp_files(job: Job, name: str) -> list[Path]:
    """The atomic writer's temporary files of ``name`` in the output folder."""
    found = []
    for path in job.out.glob(f".{name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):  # committed (renamed) meanwhile
            if path.stat().st_size > 0:
                found.append(path)
    return found


@dataclass
class KillPoint:
    """Where to kill a run (``ready``) and what must hold just after (``check``)."""

    name: str
    ready: Callable[[Job], bool]
    check: Callable[[Job, Reference], None]
    env: dict[str, str]


def _first_unit(job: Job, ref: Reference) -> None:
    done = job.markers()
    assert "s00-rows-000000" in done
    assert done < set(ref.units("s00-rows")), "the rows stage had already finished"


def _mid_unit_ready(job: Job) -> bool:
    part = job.run_path / "data" / "clean" / "s00-rows-000001.parquet"
    return part.exists() and "s00-rows-000001" not in job.markers()


def _mid_unit(job: Job, ref: Reference) -> None:
    assert (job.run_path / "data" / "clean" / "s00-rows-000001.parquet").exists()
    assert "s00-rows-000001" not in job.markers(), "the unit's marker was written after all"


def _mid_spill(job: Job, ref: Reference) -> None:
    done = job.markers()
    spilled = {m for m in done if m.startswith("s01-spill")}
    assert "s01-spill-flagged-000000" in spilled
    assert spilled < set(ref.units("s01-spill")), "the spill phase had already finished"
    assert not any(m.startswith("s02-part") for m in done)


def _mid_partition(job: Job, ref: Reference) -> None:
    done = job.markers()
    assert set(ref.units("s01-spill")) <= done
    parts = {m for m in done if m.startswith("s02-part")}
    assert "s02-part-000001" in parts
    assert parts < set(ref.units("s02-part")), "the partition phase had already finished"


def _global_ready(job: Job) -> bool:
    if not logged(job, "materialized"):
        return False
    time.sleep(0.3)  # now inside the global step's run (it sleeps 1 s)
    return True


def _global(job: Job, ref: Reference) -> None:
    done = job.markers()
    assert set(ref.units("s01")) | set(ref.units("s02")) <= done
    assert "s03-global" not in done, "the global step had already finished"


def _publish(job: Job, ref: Reference) -> None:
    assert job.markers() == ref.markers
    assert temp_files(job, "scored.csv"), "no partial output was being written"


KILL_POINTS = [
    KillPoint(
        "first-unit-marker",
        lambda job: (job.run_path / "units" / "s00-rows-000000.json").exists(),
        _first_unit,
        SLOW,
    ),
    KillPoint("mid-unit-part-without-marker", _mid_unit_ready, _mid_unit, SLOW),
    KillPoint(
        "partition-spill-phase",
        lambda job: (job.run_path / "units" / "s01-spill-flagged-000000.json").exists(),
        _mid_spill,
        SLOW,
    ),
    KillPoint(
        "partition-phase",
        lambda job: (job.run_path / "units" / "s02-part-000001.json").exists(),
        _mid_partition,
        SLOW,
    ),
    KillPoint("global-step", _global_ready, _global, SLOW),
    KillPoint(
        "publishing-output", lambda job: bool(temp_files(job, "scored.csv")), _publish, SLOW_WRITE
    ),
]


def assert_same_as_reference(
    job: Job, ref: Reference, done: subprocess.CompletedProcess[str]
) -> None:
    """The resumed run's output, quarantine and counts equal the uninterrupted run's."""
    assert done.returncode == 0, errors(done)
    scored, quarantine = read_sorted(job.scored), read_sorted(job.quarantine)
    assert len(scored) == len(ref.scored)
    assert not scored["tx_id"].duplicated().any(), "rows duplicated by the resume"
    assert set(scored["tx_id"]) == set(ref.scored["tx_id"]), "rows lost by the resume"
    pd.testing.assert_frame_equal(scored, ref.scored)
    assert len(quarantine) == len(ref.quarantine)
    assert set(quarantine["source"]) == set(ref.quarantine["source"])
    pd.testing.assert_frame_equal(quarantine, ref.quarantine)
    manifest = json.loads((job.run_path / "manifest.json").read_text())
    assert manifest["validation"] == ref.manifest["validation"], "counts differ after resume"
    assert [(o["name"], o["rows"]) for o in manifest["outputs"]] == [
        (o["name"], o["rows"]) for o in ref.manifest["outputs"]
    ]
    scored = next(o for o in manifest["outputs"] if o["name"] == "scored")
    assert scored["uri"] == str(job.scored)
    assert manifest["quarantine"]["records"] == ref.manifest["quarantine"]["records"]
    finished = finished_event(done.stderr)
    for key in ("rows_in", "rows_out", "quarantined"):
        assert finished[key] == ref.finished[key], key
    assert job.status() == "succeeded"
    (resumed,) = [r for r in records(done.stderr) if r.get("event") == "run_resumed"]
    assert resumed["units"] == len(ref.markers)
    assert 0 < resumed["reused"] <= resumed["units"]
    assert resumed["detail"] == f"resumed: reused {resumed['reused']} of {len(ref.markers)} units"
    assert sorted(p.name for p in job.run_path.iterdir()) == SUCCEEDED_RUN_DIR


SUCCEEDED_RUN_DIR = ["manifest.json", "profile.json", "run.json", "run.lock"]
"""What a succeeded run's directory keeps (its quarantine was published): no spills."""


def test_reference_run_keeps_no_spills(reference: Reference) -> None:
    """A succeeded run's directory keeps its record and manifest, not its spills."""
    assert sorted(p.name for p in reference.job.run_path.iterdir()) == SUCCEEDED_RUN_DIR


def test_reference_run_conserves_rows(reference: Reference, workspace: tuple[Path, Path]) -> None:
    """The uninterrupted run's output plus quarantined rows are exactly the input rows."""
    raw = pd.read_csv(workspace[1], dtype=str, keep_default_na=False)
    quarantined = {json.loads(row)["tx_id"] for row in reference.quarantine["row"]}
    assert len(reference.scored) + len(quarantined) == N_ROWS
    assert set(reference.scored["tx_id"]) | quarantined == set(raw["tx_id"])
    steps = set(reference.quarantine["step"])
    assert steps == {"clean", "add_features", "score"}  # rows, spill and global quarantine
    assert reference.units("s00-rows") == [f"s00-rows-{i:06d}" for i in range(3)]
    assert reference.units("s01-spill") == [f"s01-spill-flagged-{i:06d}" for i in range(3)]
    assert len(reference.units("s02-part")) >= 3
    assert "s03-global" in reference.markers


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
def test_crash_and_resume_gives_the_uninterrupted_result(
    point: KillPoint, reference: Reference, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    """SIGKILL at the kill point publishes nothing; --resume then gives the reference result."""
    job = new_job(workspace, tmp_path)
    crash(job, point.ready, point.name, point.env)
    point.check(job, reference)
    assert not job.scored.exists(), "the output was published before the run finished"
    assert job.status() == "running"
    assert "interrupted (resume with --resume)" in list_runs(job.run_dir)
    assert_same_as_reference(job, reference, job.resume())
    assert "succeeded" in list_runs(job.run_dir)


def test_runs_command_shows_interrupted_then_succeeded(
    reference: Reference, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    """`sdk runs` lists a killed run as interrupted, and as succeeded once resumed."""
    job = new_job(workspace, tmp_path)
    crash(job, KILL_POINTS[2].ready, KILL_POINTS[2].name, SLOW)

    def runs() -> str:
        out = subprocess.run(
            [sys.executable, "-m", "sdk", "runs", "--run-dir", str(job.run_dir)],
            cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        (line,) = [row for row in out.stdout.splitlines() if row.startswith(RUN_ID)]
        return line

    line = runs()
    assert "resume_test" in line and "batch" in line
    assert line.rstrip().endswith(" interrupted (resume with --resume)"), line
    assert_same_as_reference(job, reference, job.resume())
    line = runs()
    assert line.rstrip().endswith("succeeded"), line


def test_reference_run_counts_input_rows(reference: Reference) -> None:
    """The batch run counts its input rows (the error budget's denominator)."""
    assert reference.finished["rows_in"] == N_ROWS
    assert reference.finished["quarantined"] == len(set(reference.quarantine["source"]))


# -- resume refused -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def interrupted(
    workspace: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Job]:
    """A run killed after its first unit, with its own copy of the input."""
    folder = tmp_path_factory.mktemp("interrupted")
    module, data = workspace
    copy = folder / "transactions.csv"
    copy.write_bytes(data.read_bytes())
    job = new_job((module, copy), folder)
    crash(job, KILL_POINTS[0].ready, KILL_POINTS[0].name, SLOW)
    yield job


def assert_refused(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 2 without a traceback; the one error line contains ``expected``."""
    assert done.returncode == 2, errors(done)
    assert "Traceback" not in done.stderr
    (line,) = [row for row in done.stderr.splitlines() if row.startswith("sdk: error")]
    for text in expected:
        assert text in line, (text, line)
    return line


def snapshot(job: Job) -> tuple[bytes, set[str], bool]:
    """What a refused resume must leave as it was: run.json, the markers, no output."""
    return (job.run_path / "run.json").read_bytes(), job.markers(), job.scored.exists()


@dataclass
class Refused:
    """Refused commands' results by name, and the interrupted run's state before and after."""

    results: dict[str, subprocess.CompletedProcess[str]]
    before: tuple[bytes, set[str], bool]
    after: tuple[bytes, set[str], bool]


@pytest.fixture(scope="module")
def refused(interrupted: Job, reference: Reference) -> Refused:
    """Commands that must be refused, run at once (each only reads its run directory)."""
    before = snapshot(interrupted)
    commands = {
        "changed-param": interrupted.args("--resume", RUN_ID, "--param", "flag.threshold=600"),
        "chunk-rows": interrupted.args("--resume", RUN_ID, "--chunk-rows", str(CHUNK_ROWS - 100)),
        "unknown-run": interrupted.args("--resume", "no-such-run"),
        "finished-run": reference.job.args("--resume", RUN_ID),
        "new-run-same-id": interrupted.args(),
    }
    procs = {
        name: subprocess.Popen(
            command, cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for name, command in commands.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return Refused(results, before, snapshot(interrupted))


def test_resume_with_changed_param_is_refused(refused: Refused) -> None:
    """Resuming with another --param value exits 2 naming the changed param."""
    assert_refused(refused.results["changed-param"], f"cannot resume run '{RUN_ID}'", "threshold")
    assert refused.after == refused.before


def test_resume_with_other_chunk_rows_is_refused(refused: Refused) -> None:
    """Resuming with a different --chunk-rows exits 2 naming chunk_rows and both values."""
    line = assert_refused(refused.results["chunk-rows"], "options differs", "chunk_rows")
    assert f"'chunk_rows': {CHUNK_ROWS}," in line and f"'chunk_rows': {CHUNK_ROWS - 100}," in line
    assert refused.after == refused.before


def test_resume_of_unknown_run_is_refused(refused: Refused) -> None:
    """Resuming a run id that has no run directory exits 2."""
    assert_refused(
        refused.results["unknown-run"], "cannot resume run 'no-such-run'", "no run directory"
    )


def test_resume_of_finished_run_is_refused(refused: Refused, reference: Reference) -> None:
    """Resuming a run that succeeded exits 2 and leaves its outputs as they were."""
    assert_refused(refused.results["finished-run"], "already succeeded")
    assert read_sorted(reference.job.scored).equals(reference.scored)
    assert reference.job.status() == "succeeded"


def test_new_run_with_the_id_of_an_interrupted_run_is_refused(refused: Refused) -> None:
    """Starting (not resuming) a run under an interrupted run's id exits 2 and keeps its units."""
    assert_refused(refused.results["new-run-same-id"], "was interrupted", f"--resume {RUN_ID}")
    assert refused.after == refused.before


def test_resume_with_changed_input_content_is_refused(interrupted: Job, refused: Refused) -> None:
    """Resuming after the input file's content changed exits 2 naming the input's content hash."""
    original = interrupted.data.read_bytes()
    try:
        interrupted.data.write_bytes(original.replace(b",US\n", b",DE\n", 1))
        done = interrupted.resume()
    finally:
        interrupted.data.write_bytes(original)
    assert_refused(done, f"cannot resume run '{RUN_ID}'", "inputs differs", "content_hash")
    assert snapshot(interrupted) == refused.before


# -- PostgreSQL output --------------------------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[object]:
    """A psycopg connection (autocommit) to the test database, or a skip with the reason."""
    try:
        import psycopg
    except ImportError as exc:
        require_service("postgres", f"psycopg is not installed ({exc})")
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        conn = psycopg.connect(url, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        require_service("postgres", f"{POSTGRES_URL}: {' '.join(str(exc).split())}")
    with conn:
        yield conn


def test_crash_and_resume_into_postgres_table(
    postgres, reference: Reference, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    """Killed mid-COPY into PostgreSQL: no table; --resume writes exactly the reference rows."""
    table = f"resume_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    job = new_job(workspace, tmp_path, output=f"{POSTGRES_URL}{sep}table={table}")
    stage = f"_sdk_stage_{table}_"

    def copying(_: Job) -> bool:
        found = postgres.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE position(%s in query) > 0 "
            "AND pid <> pg_backend_pid()",
            (stage,),
        ).fetchone()
        return bool(found[0])

    try:
        crash(job, copying, "copying into the staging table", SLOW_WRITE)
        assert job.markers() == reference.markers
        deadline = time.monotonic() + 30
        while copying(job):  # the server notices the lost client and rolls back
            assert time.monotonic() < deadline, "the killed writer's session stayed open"
            time.sleep(0.05)
        exists = "SELECT to_regclass(%s) IS NOT NULL"
        assert not postgres.execute(exists, (table,)).fetchone()[0], "table published early"
        staged = postgres.execute(
            "SELECT count(*) FROM pg_tables WHERE position(%s in tablename) = 1", (stage,)
        ).fetchone()[0]
        assert staged == 0, "a staging table was left behind"

        done = job.resume()
        assert done.returncode == 0, errors(done)
        count, distinct = postgres.execute(
            f'SELECT count(*), count(DISTINCT tx_id) FROM "{table}"'
        ).fetchone()
        assert count == distinct == len(reference.scored)
        cursor = postgres.execute(f'SELECT * FROM "{table}"')
        columns = [d.name for d in cursor.description]
        got = pd.DataFrame(cursor.fetchall(), columns=columns)
        expected = pd.read_csv(reference.job.scored)
        assert columns == list(expected.columns)
        got = got.astype(expected.dtypes.to_dict()).sort_values("tx_id").reset_index(drop=True)
        expected = expected.sort_values("tx_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        pd.testing.assert_frame_equal(read_sorted(job.quarantine), reference.quarantine)
        assert job.status() == "succeeded"
    finally:
        postgres.execute(f'DROP TABLE IF EXISTS "{table}"')
