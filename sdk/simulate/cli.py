"""``sdk simulate``: synthesize rows, inject faults and replay a file into a stream.

::

    sdk simulate synthesize examples.fraud.pipeline:Transactions -n 10000 --seed 1 --out tx.csv
    sdk simulate faults tx.csv examples.fraud.pipeline:Transactions \\
        --out faulty.csv --truth truth.csv --missing 0.01 --malformed 0.01 --out-of-range 0.01
    sdk simulate replay faulty.csv --to 'redis://127.0.0.1:6379/0?stream=tx' --rate 1000

Files are read and written through the SDK's I/O schemes (CSV, Parquet, JSON lines, ``-``
for standard input and output, and any scheme a plugin adds). Status lines go to standard
error, so that ``--out -`` leaves standard output to the data. Errors derived from
:class:`sdk.SdkError` propagate to :mod:`sdk.cli`, which prints them and exits 2.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time

import pandas as pd
import pandera.pandas as pa

from sdk.errors import PipelineError
from sdk.io import redact
from sdk.logs import configure_logging
from sdk.plugins import resolve_scheme
from sdk.simulate._faults import FAULTS, inject_faults
from sdk.simulate._replay import replay
from sdk.simulate._synthesis import synthesize
from sdk.targets import load_object

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sdk simulate`` actions (``synthesize``, ``faults``, ``replay``) to ``parser``."""
    parser.set_defaults(debug=False)
    actions = parser.add_subparsers(dest="simulate_action", metavar="ACTION", required=True)

    synth = actions.add_parser(
        "synthesize", help="valid rows drawn from a pandera model's dtypes and checks"
    )
    synth.add_argument(
        "model", metavar="MODULE:MODEL", help="e.g. examples.fraud.pipeline:Transactions"
    )
    synth.add_argument("-n", "--rows", dest="n", type=int, required=True, help="how many rows")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--out", required=True, metavar="URI", help="where to write the rows")
    synth.add_argument("--debug", action="store_true", help="show tracebacks")

    faults = actions.add_parser(
        "faults",
        help="write faults into valid rows, and their ground truth",
        description="Write missing, malformed, out-of-range and duplicated values into the "
        "valid rows of FILE. The truth has one row per fault: row (the 0-based row of the "
        "faulty file, i.e. line row+2 of a CSV file with its header), column and fault.",
    )
    faults.add_argument("file", metavar="FILE", help="valid rows of the model")
    faults.add_argument("model", metavar="MODULE:MODEL", help="the model deciding what is a fault")
    faults.add_argument("--out", required=True, metavar="URI", help="where to write the rows")
    faults.add_argument("--truth", required=True, metavar="URI", help="where to write the truth")
    for fault, default in (("missing", 0.01), ("malformed", 0.01), ("out-of-range", 0.01)):
        faults.add_argument(
            f"--{fault}", type=float, default=default, metavar="SHARE",
            help=f"share of rows given a {fault} value (default {default})",
        )  # fmt: skip
    faults.add_argument(
        "--duplicates", type=float, default=0.0, metavar="SHARE",
        help="copies of rows appended, as a share of the rows (default 0)",
    )  # fmt: skip
    faults.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    faults.add_argument(
        "--overlap", action="store_true", help="let one row have faults of several kinds"
    )
    faults.add_argument("--debug", action="store_true", help="show tracebacks")

    play = actions.add_parser(
        "replay", help="write a file's rows into a stream (Redis, JSON lines) at a steady rate"
    )
    play.add_argument("file", metavar="FILE", help="the rows (CSV, Parquet, JSON lines, ...)")
    play.add_argument(
        "--to", required=True, metavar="URI",
        help="redis://HOST:PORT/DB?stream=NAME or a .jsonl file",
    )  # fmt: skip
    play.add_argument(
        "--rate", type=float, metavar="ROWS_PER_S", help="default: as fast as possible"
    )
    play.add_argument("--batch", type=int, default=1000, help="most rows per round (default 1000)")
    play.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args: argparse.Namespace) -> int:
    """Run ``sdk simulate``; return the exit code."""
    configure_logging()  # a skipped fault kind is a warning the user should see
    if args.simulate_action == "synthesize":
        model = load_model(args.model)
        frame = synthesize(model, args.n, seed=args.seed)
        _write(frame, args.out)
        _status(f"wrote {len(frame)} rows of {model.__name__} to {redact(args.out)}")
    elif args.simulate_action == "faults":
        model = load_model(args.model)
        faulty, truth = inject_faults(
            _read(args.file),
            model,
            missing=args.missing,
            malformed=args.malformed,
            out_of_range=args.out_of_range,
            duplicates=args.duplicates,
            seed=args.seed,
            overlap=args.overlap,
        )
        _write(faulty.reset_index(drop=True), args.out)
        _write(truth, args.truth)
        counts = truth.drop_duplicates(["row", "fault"])["fault"].value_counts()
        summary = ", ".join(f"{int(counts.get(f, 0))} {f}" for f in FAULTS)
        _status(
            f"wrote {len(faulty)} rows to {redact(args.out)} and {len(truth)} faults to "
            f"{redact(args.truth)} (rows: {summary})"
        )
    else:
        frame = _read(args.file)
        started = time.monotonic()
        rows = replay(frame, args.to, rate=args.rate, batch=args.batch)
        seconds = time.monotonic() - started
        _status(
            f"replayed {rows} rows to {redact(args.to)} in {seconds:.2f} s "
            f"({rows / seconds if seconds > 0 else 0:,.0f} rows/s)"
        )
    return 0


def load_model(target: str) -> type[pa.DataFrameModel]:
    """Import the pandera model named by ``module:Model`` or ``path/to/file.py:Model``.

    Raises:
        PipelineError: the target is malformed, cannot be imported, or is not a model.
    """
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise PipelineError(
            f"model {target!r} must be module:Model (e.g. examples.fraud.pipeline:Transactions) "
            f"or path/to/file.py:Model"
        )
    value = load_object(target)
    if not (inspect.isclass(value) and issubclass(value, pa.DataFrameModel)):
        found = "nothing" if value is None else type(value).__name__
        raise PipelineError(
            f"model {target!r}: {attr!r} in {module_name} is {found}, not a pandera DataFrameModel"
        )
    return value


def _read(uri: str) -> pd.DataFrame:
    return resolve_scheme(uri).read(uri).frame


def _write(frame: pd.DataFrame, uri: str) -> None:
    resolve_scheme(uri).write(frame, uri)


def _status(line: str) -> None:
    print(f"sdk simulate: {line}", file=sys.stderr)
