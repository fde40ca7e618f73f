"""Replaying a quarantine through a fixed pipeline: ``sdk quarantine replay``.

The rows a run quarantined are rebuilt from the ``row`` column and run again; each now passes,
still fails its check, or fails another one. Decisions where the issue was silent:

* A row is ``(dataset, source)`` and counts once, by its first record in the quarantine. Its
  rebuilt frame is indexed by the original sources, so the new records name the original line.
* "Same check": equal ``(dataset, column, check)`` of the first new and first original record
  (not the step, so renaming a step does not make a failure new).
* Only rows quarantined at the input of a pipeline input are replayed; rows from a step's
  output or an intermediate dataset, malformed records (``field_count``), rows whose sensitive
  values are hashed, and rows of an input given explicitly are ``not_replayable``, with reasons.
* Inputs without rows in the quarantine must be given (``--input``, the deployment's inputs,
  ``inputs=``): an empty frame would make a join drop every row and count it as passed.
* ``max_invalid=1.0``; a deployment file gives its pipeline, params, trusted artifacts and
  missing inputs, never its outputs, quarantine, runner or runner options (production's).
* A row passes when no new record names it (a step filtering rows out drops it unseen).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs
import pandas as pd

from sdk.errors import IOSchemeError, PipelineError
from sdk.io import redact
from sdk.logs import ensure_logging, get_logger, run_context
from sdk.quarantine import QUARANTINE_COLUMNS

if TYPE_CHECKING:
    from sdk.deploy import Deployment
    from sdk.pipeline import Pipeline
    from sdk.result import RunResult

__all__ = ["ReplayReport", "add_arguments", "main", "replay_quarantine"]

logger = get_logger("sdk.run")

OUTCOMES = ("passed", "same_check", "new_check", "not_replayable")
"""What became of each quarantined row, in report order."""

_KEY = ["dataset", "column", "check"]
_MALFORMED = "__sdk_malformed__"
_HASHED = re.compile(r"sha256:[0-9a-f]{16}")


@attrs.frozen
class ReplayReport:
    """What became of the quarantined rows when replayed through a (fixed) pipeline.

    Attributes:
        quarantine: the quarantine replayed (its URI, passwords hidden, or ``<DataFrame>``).
        replayed: rows run through the pipeline again.
        passed: replayed rows that no new quarantine record names.
        same_check: replayed rows whose first new failure is the (dataset, column, check) of
            their first original one.
        new_check: replayed rows that now fail first at another (dataset, column, check).
        not_replayable: quarantined rows that cannot be rebuilt as rows of a pipeline input.
        rows: one row per quarantined row: ``dataset``, ``source``, the first original
            failure (``step``, ``column``, ``check``), ``outcome`` (one of :data:`OUTCOMES`),
            the first new failure (``new_step``, ``new_column``, ``new_check``) and, for rows
            not replayed, the ``reason``.
        result: the replay's run (its outputs and new quarantine); ``None`` when no row could
            be replayed, so nothing ran.
        other_records: new quarantine records naming no replayed row (rows of inputs given
            explicitly, rows a join made anew).
    """

    quarantine: str
    replayed: int
    passed: int
    same_check: int
    new_check: int
    not_replayable: int
    rows: pd.DataFrame = attrs.field(repr=False)
    result: RunResult | None = attrs.field(repr=False)
    other_records: int = 0

    @property
    def by_check(self) -> pd.DataFrame:
        """Rows per original (dataset, column, check) and outcome, largest first."""
        counts = pd.crosstab([self.rows[k].fillna("") for k in _KEY], self.rows["outcome"]).reindex(
            columns=list(OUTCOMES), fill_value=0
        )
        counts.columns.name = None
        counts.insert(0, "rows", counts.sum(axis=1))
        return counts.sort_values("rows", ascending=False, kind="stable").reset_index()

    def summary(self) -> dict[str, Any]:
        """The counts and the quarantine's URI, as logged in the ``replay_finished`` event."""
        fields = attrs.asdict(self, recurse=False)
        return {k: v for k, v in fields.items() if k not in ("rows", "result", "other_records")}

    def __str__(self) -> str:
        run = self.result
        ran = f" (run {run.run_id}, pipeline {run.pipeline!r}, runner {run.runner})" if run else ""
        lines = [
            f"replay of {self.quarantine}: {len(self.rows)} quarantined row(s){ran}",
            f"  replayed        {self.replayed:>7}",
            f"  passed          {self.passed:>7}  (no longer quarantined)",
            f"  same check      {self.same_check:>7}  (still fail the check they failed first)",
            f"  new check       {self.new_check:>7}  (now fail another check first)",
            f"  not replayable  {self.not_replayable:>7}",
        ]
        if len(self.rows):
            lines += ["", "by original check:", self.by_check.to_string(index=False)]
        new = self.rows[self.rows["outcome"] == "new_check"]
        if len(new):
            pairs = Counter(zip(new["check"], new["new_check"], new["new_column"], strict=True))
            lines += ["", "failing another check now (was -> now):"]
            lines += [f"  {n:>7}  {a} -> {b} ({c})" for (a, b, c), n in pairs.items()]
        reasons = self.rows["reason"].dropna().value_counts()
        if len(reasons):
            lines += ["", "not replayable:"]
            lines += [f"  {n:>7}  {reason}" for reason, n in reasons.items()]
        if self.other_records:
            lines.append(f"\n{self.other_records} new record(s) name no replayed row")
        for name, uri in (run.written if run else {}).items():
            lines.append(f"written: {name} -> {redact(uri)}")
        return "\n".join(lines)


def _text(value: Any) -> str | None:
    """A value as a CSV gives it: text, ``None`` when missing."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return json.dumps(value) if isinstance(value, bool | dict | list) else str(value)


def _read(records: pd.DataFrame | str) -> tuple[pd.DataFrame, str]:
    """The quarantine's records (missing values ``None``) and how to name it."""
    if isinstance(records, pd.DataFrame):
        frame, label = records, "<DataFrame>"
    else:
        from sdk.plugins import resolve_scheme

        frame, label = resolve_scheme(records).read(records).frame, redact(records)
    missing = [c for c in QUARANTINE_COLUMNS if c not in frame.columns]
    if missing:
        raise IOSchemeError(
            f"{label} is not a quarantine: column(s) {', '.join(missing)} missing; expected "
            f"{', '.join(QUARANTINE_COLUMNS)} (see docs/quarantine.md)"
        )
    frame = frame.loc[:, list(QUARANTINE_COLUMNS)].astype(object)
    return frame.where(frame.notna(), None).reset_index(drop=True), label


def _parse(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _why_not(
    record: dict[str, Any], row: Any, pipeline: Pipeline, given: Mapping[str, Any]
) -> str | None:
    """Why a quarantined row cannot be replayed, or ``None`` when it can."""
    dataset, step = record["dataset"], record["step"]
    if record["boundary"] != "input":
        return f"quarantined at the output of step {step!r} ({dataset}): not a pipeline input row"
    if dataset not in pipeline.inputs or pipeline.artifact(dataset) is not None:
        return f"dataset {dataset!r} is not a table input of pipeline {pipeline.name!r}"
    if dataset in given:
        return f"input {dataset!r} was given explicitly, so its quarantined rows are not replayed"
    if not isinstance(row, dict):
        return "its row is not a JSON object"
    if row.get(_MALFORMED) is not None:
        return "a malformed record (field_count): its raw text has no columns to replay"
    hashed = [c for c, v in row.items() if isinstance(v, str) and _HASHED.fullmatch(v)]
    if hashed:
        return f"column {hashed[0]!r} is sensitive: the quarantine holds only its hash"
    return None


def _rebuild(rows: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """The original rows as text, indexed by their original ``source`` strings."""
    columns = list(dict.fromkeys(c for _, row in rows for c in row if c != _MALFORMED))
    data = {c: [_text(row.get(c)) for _, row in rows] for c in columns}
    return pd.DataFrame(data, index=pd.Index([s for s, _ in rows], dtype=object), dtype=object)


def replay_quarantine(
    pipeline: Pipeline,
    records: pd.DataFrame | str,
    runner: str = "local",
    *,
    inputs: Mapping[str, pd.DataFrame | str] | None = None,
    **run_options: Any,
) -> ReplayReport:
    """Run the rows of a quarantine through ``pipeline`` again and report what became of them.

    Args:
        pipeline: the (fixed) pipeline.
        records: the quarantine, as a frame or a URI any I/O scheme reads.
        runner: the runner to replay on.
        inputs: the pipeline's inputs that have no rows in the quarantine (a frame or a URI
            each); an input given here that has rows in the quarantine is used instead of them.
        **run_options: passed to :meth:`Pipeline.run`: ``outputs`` (where the passing rows
            go), ``quarantine`` (where the rows that still fail go), ``params``,
            ``runner_options``, ``overwrite``, ``trusted_artifacts``, ``run_id``.

    Returns:
        The report; its ``result`` holds the replay's outputs and new quarantine.

    Raises:
        IOSchemeError: ``records`` is not a quarantine.
        PipelineError: an input with no rows in the quarantine was not given, or
            ``max_invalid`` was passed (a replay never fails for the error budget).
    """
    if "max_invalid" in run_options:
        raise PipelineError("a replay never fails for the error budget; drop max_invalid")
    frame, label = _read(records)
    return _replay(pipeline, frame, label, runner, inputs or {}, run_options)


def _replay(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    label: str,
    runner: str,
    given: Mapping[str, pd.DataFrame | str],
    run_options: Mapping[str, Any],
    fallback: Mapping[str, str] | None = None,
) -> ReplayReport:
    """The replay of ``frame``; ``fallback`` inputs (a deployment's) fill only the inputs that
    have no rows to replay."""
    ensure_logging()
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for record in cast(list[dict[str, Any]], frame.to_dict("records")):
        first.setdefault((str(record["dataset"]), str(record["source"])), record)
    reasons: dict[tuple[str, str], str] = {}
    rows: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for (dataset, source), record in first.items():
        row = _parse(record["row"])
        reason = _why_not(record, row, pipeline, given)
        if reason is None:
            rows.setdefault(dataset, []).append((source, row))
        else:
            reasons[dataset, source] = reason
    given = {**{k: v for k, v in (fallback or {}).items() if k not in rows}, **given}
    missing = [d for d in pipeline.inputs if d not in rows and d not in given]
    if rows and missing:
        raise PipelineError(
            f"input(s) {', '.join(map(repr, missing))} of pipeline {pipeline.name!r} are not in "
            f"the quarantine; give them (--input NAME=URI, or inputs=) to replay the others"
        )
    result = None
    if rows:
        kwargs = {**run_options, **given, **{d: _rebuild(r) for d, r in rows.items()}}
        result = pipeline.run(runner, max_invalid=1.0, **kwargs)
    new = cast(list[dict[str, Any]], result.quarantine.to_dict("records")) if result else []
    report = _judge(first, reasons, new, label, result)
    context = {"run_id": result.run_id if result else None, "pipeline": pipeline.name}
    with run_context(**context, runner=runner):
        logger.info("replay_finished", extra=report.summary())
    return report


def _judge(
    first: dict[tuple[str, str], dict[str, Any]],
    reasons: dict[tuple[str, str], str],
    new: list[dict[str, Any]],
    label: str,
    result: RunResult | None,
) -> ReplayReport:
    """Compare each replayed row's first new record (if any) with its first original one."""
    by_source: dict[str, list[tuple[str, str]]] = {}
    for key in first:
        if key not in reasons:
            by_source.setdefault(key[1], []).append(key)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    other = 0
    for record in new:  # a step's output keeps its input rows' sources, not their dataset
        keys = by_source.get(str(record["source"]), [])
        if len(keys) > 1:
            keys = [k for k in keys if k[0] == record["dataset"]]
        if len(keys) == 1:
            found.setdefault(keys[0], record)
        else:
            other += 1
    table = []
    for key, record in first.items():
        again = found.get(key, {})
        if key in reasons:
            outcome = "not_replayable"
        elif not again:
            outcome = "passed"
        else:
            same = all(_text(again[k]) == _text(record[k]) for k in _KEY)
            outcome = "same_check" if same else "new_check"
        table.append(
            {k: record[k] for k in ("dataset", "source", "step", "column", "check")}
            | {"outcome": outcome, "reason": reasons.get(key)}
            | {f"new_{k}": again.get(k) for k in ("step", "column", "check")}
        )
    columns = ["dataset", "source", "step", "column", "check", "outcome", "new_step"]
    columns += ["new_column", "new_check", "reason"]
    n = Counter(row["outcome"] for row in table)
    return ReplayReport(
        label,
        len(table) - n["not_replayable"],
        n["passed"],
        n["same_check"],
        n["new_check"],
        n["not_replayable"],
        pd.DataFrame(table, columns=columns, dtype=object),
        result,
        other,
    )


def _pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` from the command line."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} must be written NAME=VALUE")
    return key.strip(), value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sdk quarantine`` arguments to ``parser``."""
    parser.set_defaults(debug=False)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    replay = sub.add_parser(
        "replay", help="run a quarantine's rows through a (fixed) pipeline and report the outcome"
    )
    replay.add_argument("quarantine", metavar="QUARANTINE_URI", help="the quarantine to replay")
    replay.add_argument("target", help="module:attr, path/to/file.py:attr, or a deployment .toml")
    replay.add_argument("--runner", default="local", help="runner name (default local)")
    for flag, metavar, text in (
        ("--input", "NAME=URI", "an input with no rows in the quarantine (repeatable)"),
        ("--output", "NAME=URI", "a dataset to write: it receives the rows that pass"),
        ("--param", "STEP.FIELD=VALUE", "override a param"),
        ("--runner-option", "KEY=VALUE", "a runner option (see `sdk runners`)"),
    ):
        replay.add_argument(flag, action="append", type=_pair, metavar=metavar, help=text)
    replay.add_argument(
        "--quarantine", dest="requarantine", metavar="URI", help="where the rows still failing go"
    )
    replay.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    replay.add_argument("--log-format", choices=("json", "text"), help="json or text")
    replay.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING, ...")
    replay.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args: argparse.Namespace, pipeline: Pipeline, deployment: Deployment | None) -> int:
    """Run ``sdk quarantine replay`` of ``pipeline`` (loaded by the command line from
    ``args.target``, with its deployment file if it is one); return the exit code (0 when the
    replay ran)."""
    from sdk.env import expand_env
    from sdk.logs import configure_logging, route_warnings

    configure_logging(args.log_format, level=args.log_level.upper() if args.log_level else None)
    route_warnings()
    records, label = _read(expand_env(args.quarantine, "QUARANTINE_URI"))
    inputs = {k: expand_env(v, f"--input {k}") for k, v in args.input or ()}
    run_options = {
        "outputs": {k: expand_env(v, f"--output {k}") for k, v in args.output or ()},
        "quarantine": expand_env(args.requarantine, "--quarantine") if args.requarantine else None,
        "params": {**(deployment.params if deployment else {}), **dict(args.param or ())},
        "runner_options": dict(args.runner_option or ()),
        "overwrite": args.overwrite,
        "trusted_artifacts": deployment.trusted_artifacts if deployment else (),
    }
    fallback = {k: str(v) for k, v in deployment.inputs.items()} if deployment else None
    print(_replay(pipeline, records, label, args.runner, inputs, run_options, fallback))
    return 0
