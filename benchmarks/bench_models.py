"""Scoring a CSV in batch with a fitted model artifact: plain pandas vs pandera vs the sdk.

Usage (from the repository root)::

    python benchmarks/bench_models.py                           # 100k and 1M rows, median of 3
    python benchmarks/bench_models.py --quick                   # 100k rows, one run
    python benchmarks/bench_models.py --out docs/performance.md # also write the table there

A seeded CSV of features (an ``id`` and 8 numeric features) is generated in a temporary
directory (never committed), a ``LinearRegression`` is fitted on its first rows and saved with
:func:`sdk.io.artifacts.save_artifact` (a ``.skops`` file with its manifest). Then each variant
reads the CSV, scores it and writes the scored rows to CSV:

- **plain** — ``pd.read_csv(chunksize=N)``, ``model.predict`` per chunk, ``to_csv`` appended;
  the model loaded once with ``skops.io.load``;
- **plain-arrow** — the same, each chunk written with ``pyarrow.csv`` as the sdk writes CSV
  (``to_csv`` alone is most of plain's time, so this is the baseline that shows the sdk's own
  cost);
- **pandera** — the same, each chunk validated first with ``Features.validate(lazy=True)``;
- **sdk batch** — ``pipeline.run("batch", runner_options={"chunk_rows": N}, ...)`` of a one-step
  ``rows`` pipeline taking ``DataFrame[Features]`` and ``Artifact[LinearRegression]``;
- **sdk local** — the same pipeline with the local runner (the whole file in memory).

Every (variant, rows) cell runs ``--repeat`` times, each in a fresh subprocess (``--one``), so its
peak RSS (``VmHWM``, see :func:`_peak_rss_mb`) is its own; the median is reported. Imports happen
before the clock; the clock covers loading the model, reading, validating, predicting and writing.
The sdk's model load time is the ``duration_ms`` of its ``artifact_loaded`` event (captured with
:func:`sdk.testing.capture_logs` at INFO, the production level), and the number of those events is
the number of loads. The parent checks that every variant wrote the same rows and predictions,
renders a markdown table and, with ``--out``, writes it between the markers
``<!-- bench-models:start -->`` and ``<!-- bench-models:end -->``.
"""

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _report import cpu_model, write_section
from _report import versions as versions_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

RESULT_PREFIX = "BENCH_RESULT "
VARIANTS = ("plain", "plain-arrow", "pandera", "sdk-batch", "sdk-local")
FEATURES = [f"f{i}" for i in range(1, 9)]
TRAIN_ROWS = 100_000
SEED = 11
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Cell:
    """One run of one variant on one file (or, in the table, the median of its runs)."""

    variant: str
    rows: int
    seconds: float = math.nan
    setup_seconds: float = math.nan
    peak_rss_mb: float = math.nan
    load_ms: float = math.nan
    loads: int = 0
    rows_out: int = -1
    prediction_sum: float = math.nan
    error: str = ""


# --------------------------------------------------------------------------------------------
# The data, the model, the pipeline (built lazily: a variant imports only what it uses)
# --------------------------------------------------------------------------------------------


def make_csv(path: Path, rows: int) -> None:
    """Write ``rows`` seeded rows of features (ids from 1) to ``path``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    columns: dict[str, Any] = {"id": np.arange(1, rows + 1)}
    columns["f1"] = rng.uniform(0, 1, rows)
    columns["f2"] = rng.gamma(2.0, 50.0, rows)
    for name in FEATURES[2:]:
        columns[name] = rng.normal(0, 10, rows)
    frame = pd.DataFrame(columns).round(4)
    frame.to_csv(path, index=False)


def train_model(csv: Path, path: Path) -> None:
    """Fit a ``LinearRegression`` on the first rows of ``csv`` and save it with a manifest."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from sdk.io.artifacts import save_artifact

    frame = pd.read_csv(csv, nrows=TRAIN_ROWS)
    rng = np.random.default_rng(SEED + 1)
    weights = rng.normal(0, 3, len(FEATURES))
    target = frame[FEATURES].to_numpy() @ weights + rng.normal(0, 1, len(frame))
    model = LinearRegression().fit(frame[FEATURES], target)
    save_artifact(model, str(path), {})


def feature_models() -> tuple[Any, Any]:
    """The pandera models ``Features`` (id, 8 numeric features, range checks) and ``Scored``."""
    import pandera.pandas as pa

    class Features(pa.DataFrameModel):
        """A row to score: its id and the model's 8 features."""

        id: int = pa.Field(ge=1)
        f1: float = pa.Field(ge=0, le=1)
        f2: float = pa.Field(ge=0)
        f3: float
        f4: float
        f5: float
        f6: float
        f7: float
        f8: float

    class Scored(Features):
        """A row with its prediction."""

        prediction: float

    return Features, Scored


def scoring_pipeline() -> Any:
    """A one-step ``rows`` pipeline: ``features`` and ``regressor`` -> ``scored``."""
    from pandera.typing import DataFrame
    from sklearn.linear_model import LinearRegression

    from sdk import Artifact, Pipeline, Step

    features_model, scored_model = feature_models()

    class Score(Step):
        """Predict each row with the fitted regressor."""

        scope = "rows"
        output = "scored"

        def run(
            self,
            features: DataFrame[features_model],  # type: ignore[valid-type]
            regressor: Artifact[LinearRegression],
        ) -> DataFrame[scored_model]:  # type: ignore[valid-type]
            predicted = regressor.predict(features[FEATURES])  # type: ignore[attr-defined]
            return features.assign(prediction=predicted)

    return Pipeline([Score()], name="bench-models")


# --------------------------------------------------------------------------------------------
# Inside the subprocess: one run of one variant
# --------------------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB.

    On Linux ``ru_maxrss`` survives ``fork`` and ``exec``: a child started by a parent that held
    500 MB reports at least 500 MB, whatever it used itself. ``VmHWM`` belongs to the process's
    own address space, so it is read first.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def _chunked(
    validate: Callable[[Any], Any] | None, writer: str = "pandas"
) -> Callable[..., tuple[float, int]]:
    """The hand-written chunk loop, with ``validate`` applied to each chunk when given, each
    chunk written with ``DataFrame.to_csv`` or (``writer="arrow"``) ``pyarrow.csv``."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import skops.io

    def write(chunk: Any, handle: Any, first: bool) -> None:
        if writer == "pandas":
            chunk.to_csv(handle, index=False, header=first)
        else:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=first))

    def score(csv: Path, model_path: Path, out: Path, chunk_rows: int) -> tuple[float, int]:
        started = time.perf_counter()
        model = skops.io.load(model_path)
        load_ms = (time.perf_counter() - started) * 1000
        with out.open("wb") as handle:
            for i, chunk in enumerate(pd.read_csv(csv, chunksize=chunk_rows)):
                if validate is not None:
                    chunk = validate(chunk)
                chunk["prediction"] = model.predict(chunk[FEATURES])
                write(chunk, handle, i == 0)
        return load_ms, 1

    return score


def _sdk(runner: str) -> Callable[..., tuple[float, int]]:
    """The sdk pipeline with ``runner``; load time and count from ``artifact_loaded``."""
    import logging

    from sdk.testing import capture_logs

    pipeline = scoring_pipeline()

    def score(csv: Path, model_path: Path, out: Path, chunk_rows: int) -> tuple[float, int]:
        options: dict[str, Any] = {"progress": False, "run_dir": str(out.parent / "runs")}
        if runner == "batch":
            options["chunk_rows"] = chunk_rows
        with capture_logs(logging.INFO) as logs:
            result = pipeline.run(
                runner,
                runner_options=options,
                features=str(csv),
                regressor=str(model_path),
                outputs={"scored": str(out)},
            )
        if len(result.quarantine):
            raise RuntimeError(f"{len(result.quarantine)} rows quarantined on clean data")
        loaded = logs.events("artifact_loaded")
        return sum(e["duration_ms"] for e in loaded), len(loaded)

    return score


def _variant(name: str) -> Callable[..., tuple[float, int]]:
    if name == "plain":
        return _chunked(None)
    if name == "plain-arrow":
        return _chunked(None, writer="arrow")
    if name == "pandera":
        features_model, _ = feature_models()
        return _chunked(lambda chunk: features_model.validate(chunk, lazy=True))
    return _sdk(name.removeprefix("sdk-"))


def measure(variant: str, csv: Path, model: Path, chunk_rows: int, rows: int) -> Cell:
    """Run ``variant`` once on ``csv`` into a scratch directory; time it after the imports.

    ``skops.io`` is imported before the clock by every variant: importing it the first time
    costs about a second (it imports scikit-learn's estimators to list the types it trusts),
    which plain code pays at import and the sdk at its first load; timed in the clock of one
    variant and not of the others, it would be mistaken for a cost of loading.
    """
    started = time.perf_counter()
    import pandas as pd
    import skops.io  # noqa: F401  (see above)

    score = _variant(variant)
    setup_seconds = time.perf_counter() - started

    work = Path(tempfile.mkdtemp(prefix=f"bench-{variant}-", dir=csv.parent))
    try:
        out = work / "scored.csv"
        started = time.perf_counter()
        load_ms, loads = score(csv, model, out, chunk_rows)
        seconds = time.perf_counter() - started
        peak = _peak_rss_mb()
        written = pd.read_csv(out, usecols=["prediction"])["prediction"]
        return Cell(
            variant, rows, seconds, setup_seconds, peak, load_ms, loads, len(written), written.sum()
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def probe_load(model: Path) -> dict[str, float]:
    """Time, in this fresh process, importing ``skops.io`` (which the sdk does lazily, at the
    first load), then a first and a second :func:`sdk.io.artifacts.load_artifact`."""
    import sklearn.linear_model  # noqa: F401  (a scoring process has it already)

    from sdk.io.artifacts import load_artifact

    times = {}
    started = time.perf_counter()
    import skops.io  # noqa: F401

    times["import_ms"] = (time.perf_counter() - started) * 1000
    for key in ("first_ms", "again_ms"):
        started = time.perf_counter()
        load_artifact(str(model))
        times[key] = (time.perf_counter() - started) * 1000
    return times


# --------------------------------------------------------------------------------------------
# In the parent: data, model, every cell, checks, table
# --------------------------------------------------------------------------------------------


def run_cell(variant: str, csv: Path, model: Path, chunk_rows: int, rows: int) -> Cell:
    """Measure one run in a fresh Python process; a failure becomes the cell's ``error``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", variant, "--csv", str(csv)]
    cmd += ["--model", str(model), "--chunk-rows", str(chunk_rows), "--n", str(rows)]
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return Cell(**json.loads(line.removeprefix(RESULT_PREFIX)))
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return Cell(variant, rows, error=f"exit {proc.returncode}: {tail}")


def run_probe(model: Path, repeat: int) -> dict[str, float]:
    """The median of :func:`probe_load` over ``repeat`` fresh processes."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe-load", str(model)]
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))
    probes = []
    for _ in range(repeat):
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, check=True
        )
        probes.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(p[key] for p in probes) for key in probes[0]}


def median_cell(runs: Sequence[Cell]) -> Cell:
    """The median of each measure over the runs that succeeded (the first error otherwise)."""
    good = [r for r in runs if not r.error]
    if not good:
        return runs[0]
    first = good[0]
    return Cell(
        first.variant,
        first.rows,
        seconds=statistics.median(r.seconds for r in good),
        setup_seconds=statistics.median(r.setup_seconds for r in good),
        peak_rss_mb=statistics.median(r.peak_rss_mb for r in good),
        load_ms=statistics.median(r.load_ms for r in good),
        loads=max(r.loads for r in good),
        rows_out=first.rows_out,
        prediction_sum=first.prediction_sum,
        error="" if len(good) == len(runs) else f"{len(runs) - len(good)} run(s) failed",
    )


def consistency_warnings(runs: Sequence[Cell]) -> list[str]:
    """Say where a run wrote other rows or predictions than the plain baseline, or where the
    sdk loaded the model other than once."""
    warnings = []
    for rows in sorted({r.rows for r in runs}):
        group = [r for r in runs if r.rows == rows and not r.error]
        if any(r.loads != 1 for r in group):
            loads = sorted({(r.variant, r.loads) for r in group if r.loads != 1})
            warnings.append(f"{rows:,} rows: the model was not loaded exactly once: {loads}")
        if not group:
            continue
        first = group[0]
        if any(
            r.rows_out != rows
            or not math.isclose(r.prediction_sum, first.prediction_sum, rel_tol=1e-9, abs_tol=1e-3)
            for r in group
        ):
            detail = ", ".join(
                sorted({f"{r.variant}={r.rows_out} (Σ {r.prediction_sum:.6g})" for r in group})
            )
            warnings.append(f"{rows:,} rows: outputs differ: {detail}")
    return warnings


def _ratio(cell: Cell, base: Cell | None) -> str:
    if base is None or cell.error or base.error or not base.seconds:
        return "n/a"
    return f"{cell.seconds / base.seconds:.2f}"


def machine_info(
    repeat: int, chunk_rows: int, size_mb: dict[int, float], probe: dict[str, float]
) -> str:
    """Describe the machine, the library versions, the date and the method."""
    cpu = cpu_model()
    versions = versions_of(("pandas", "pandera", "numpy", "scikit-learn", "skops", "pipeline-sdk"))
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    files = ", ".join(f"{rows:,} rows = {mb:.0f} MB" for rows, mb in size_mb.items())
    return (
        f"Measured {today} on {os.cpu_count()} CPUs ({cpu}), {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, {', '.join(versions)}. "
        f"CSV of an id and 8 numeric features ({files}); chunks of {chunk_rows:,} rows for "
        f"every chunked variant. Seconds and peak RSS: median of {repeat} runs, each in a fresh "
        "process; the clock starts after the imports and covers loading the model, reading, "
        "validating, predicting and writing the CSV. *model load ms*: `skops.io.load` for "
        "plain and pandera, the `artifact_loaded` event's `duration_ms` for the sdk "
        "(hash check against the manifest, skops type audit, load), with `skops.io` imported "
        "before the clock. *imports s*: importing the variant's libraries (`skops.io` included) "
        "and building its schema or pipeline, before the clock. In a fresh process with "
        f"scikit-learn imported, importing `skops.io` takes {probe['import_ms']:,.0f} ms (the "
        "sdk does it at the first artifact load), then a first `load_artifact` "
        f"{probe['first_ms']:.1f} ms and a second one {probe['again_ms']:.1f} ms (median of "
        f"{repeat} processes)."
    )


def render(cells: Sequence[Cell], warnings: Sequence[str], info: str) -> str:
    """Render the median cells as the markdown section (without the markers)."""
    bases = ("plain", "plain-arrow", "pandera")
    empty = "| " * (len(bases) + 6)
    lines = [
        info,
        "",
        "| rows | variant | seconds | rows/s | "
        + " | ".join(f"{TIMES} {b}" for b in bases)
        + " | peak RSS MB | model load ms | loads | imports s |",
        "|---:|---|" + "---:|" * (len(bases) + 6),
    ]
    index = {(c.rows, c.variant): c for c in cells}
    for c in cells:
        if c.error and math.isnan(c.seconds):
            error = c.error.replace("|", "\\|")
            lines.append(f"| {c.rows:,} | {c.variant} | error: {error} {empty}")
            continue
        ratios = " | ".join(_ratio(c, index.get((c.rows, b))) for b in bases)
        lines.append(
            f"| {c.rows:,} | {c.variant} | {c.seconds:.2f} | {c.rows / c.seconds:,.0f} "
            f"| {ratios} | {c.peak_rss_mb:.0f} | {c.load_ms:.1f} | {c.loads} "
            f"| {c.setup_seconds:.2f} |"
        )
    lines += [f"| | **WARNING** | {w} {empty}" for w in warnings]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes",
        type=_int_list,
        default=[100_000, 1_000_000],
        help="comma-separated row counts (default: 100000,1000000)",
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=100_000, help="rows per chunk (default: 100000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is kept")
    parser.add_argument("--quick", action="store_true", help="100000 rows, one run")
    parser.add_argument("--out", type=Path, help="markdown file to write the table into")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--probe-load", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat = [100_000], 1
    if args.repeat < 1 or args.chunk_rows < 1:
        parser.error("--repeat and --chunk-rows must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one``, a single run) and report it."""
    args = parse_args(argv)
    if args.probe_load:
        print(json.dumps(probe_load(args.probe_load)), flush=True)
        return 0
    if args.one:
        cell = measure(args.one, args.csv, args.model, args.chunk_rows, args.n)
        print(RESULT_PREFIX + json.dumps(asdict(cell)), flush=True)
        return 0

    sys.path.append(str(ROOT))  # the working tree's sdk when it is not installed
    runs: list[Cell] = []
    size_mb: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        folder = Path(tmp)
        model = folder / "model.skops"
        for n, rows in enumerate(sorted(args.sizes)):
            csv = folder / f"features-{rows}.csv"
            make_csv(csv, rows)
            size_mb[rows] = csv.stat().st_size / 2**20
            if n == 0:
                train_model(csv, model)
                probe = run_probe(model, args.repeat)
                print(f"  load_artifact {probe}", file=sys.stderr)
            for repeat in range(args.repeat):
                for variant in VARIANTS:
                    print(f"… {variant:9} {rows:>11,} rows, run {repeat + 1}", file=sys.stderr)
                    runs.append(run_cell(variant, csv, model, args.chunk_rows, rows))
                    print(f"  {asdict(runs[-1])}", file=sys.stderr)
            csv.unlink()
    cells = [
        median_cell([r for r in runs if (r.rows, r.variant) == (rows, variant)])
        for rows in sorted(args.sizes)
        for variant in VARIANTS
    ]
    warnings = consistency_warnings(runs)
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    info = machine_info(args.repeat, args.chunk_rows, size_mb, probe)
    section = render(cells, warnings, info)
    print(section)
    if args.out:
        write_section(args.out, "bench-models", section)
    return 1 if warnings or any(c.error for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
