"""Static contract check: does a producer's output model satisfy its consumer's input model?

For each column the consumer declares, the check compares presence, dtype, nullability and
the built-in range and set checks. What cannot be decided from the models alone is reported
as ``undecidable``, never guessed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import attrs
import pandas as pd
import pandera.pandas as pa

if TYPE_CHECKING:
    from sdk.step import Step

__all__ = ["ContractReport", "EdgeFinding", "artifact_problems", "check_edge", "pipeline_report"]

ERROR = "error"
WARNING = "warning"
UNDECIDABLE = "undecidable"

_LOWER = {"greater_than_or_equal_to": ("min_value", True), "greater_than": ("min_value", False)}
_UPPER = {"less_than_or_equal_to": ("max_value", True), "less_than": ("max_value", False)}


@attrs.frozen
class EdgeFinding:
    """One finding on one edge (producer -> consumer over a dataset).

    Attributes:
        producer: the producing step's name.
        consumer: the consuming step's name.
        dataset: the dataset on the edge.
        column: the column concerned (``None`` for the whole model).
        kind: ``missing_column``, ``dtype``, ``nullable_widened``, ``range_widened``,
            ``isin_widened`` or ``check_unproven``.
        severity: ``error`` (the pipeline is refused), ``warning`` (validated at run time,
            rows may be quarantined) or ``undecidable`` (cannot be decided statically).
        message: what was found and what to do.
    """

    producer: str
    consumer: str
    dataset: str
    column: str | None
    kind: str
    severity: str
    message: str


@attrs.frozen
class ContractReport:
    """The contract report of a pipeline: findings per edge and the skipped boundaries.

    Attributes:
        edges: every (producer, consumer, dataset) edge checked.
        findings: every finding, sorted by edge and column.
        skipped: ``(consumer, dataset)`` input boundaries whose run-time validation is skipped
            because it is statically proven redundant.
        policy: the policy report (``sdk.policy.PolicyReport``) with ``check(policy=True)``.
    """

    edges: tuple[tuple[str, str, str], ...]
    findings: tuple[EdgeFinding, ...]
    skipped: tuple[tuple[str, str], ...]
    policy: Any = None

    @property
    def errors(self) -> list[EdgeFinding]:
        """The findings that make the pipeline invalid."""
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def ok(self) -> bool:
        """Whether no finding is an error (and, when checked, no policy finding)."""
        return not self.errors and not (self.policy is not None and self.policy.findings)

    def to_frame(self) -> pd.DataFrame:
        """Return the findings as a DataFrame, one row per finding."""
        columns = [f.name for f in attrs.fields(EdgeFinding)]
        return pd.DataFrame([attrs.astuple(f) for f in self.findings], columns=columns)

    def __str__(self) -> str:
        lines = [f"{len(self.edges)} edge(s) checked, {len(self.findings)} finding(s)"]
        lines += [
            f"  [{f.severity}] {f.producer} -> {f.consumer} ({f.dataset}"
            f"{'.' + f.column if f.column else ''}): {f.message}"
            for f in self.findings
        ]
        lines += [f"  validation skipped (proven): input {d!r} of {s}" for s, d in self.skipped]
        if self.policy is not None:
            lines.append(self.policy.format("text"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = f"<p>{len(self.edges)} edge(s), {len(self.findings)} finding(s)</p>"
        return head + (self.to_frame().to_html(index=False) if self.findings else "")


def _stats(checks: list[Any]) -> dict[str, dict[str, Any]]:
    return {c.name: dict(c.statistics or {}) for c in checks}


def _numeric_kind(dtype: Any) -> str:
    t = getattr(dtype, "type", None)
    if t is None:
        return "other"
    if pd.api.types.is_bool_dtype(t):
        return "bool"
    if pd.api.types.is_integer_dtype(t):
        return "int"
    if pd.api.types.is_float_dtype(t):
        return "float"
    if pd.api.types.is_string_dtype(t) or t is object:
        return "str"
    if pd.api.types.is_datetime64_any_dtype(t):
        return "datetime"
    return "other"


def _bound(
    stats: dict[str, dict[str, Any]], table: dict[str, tuple[str, bool]]
) -> tuple[Any, bool] | None:
    for name, (key, inclusive) in table.items():
        if name in stats:
            return stats[name][key], inclusive
    if "in_range" in stats:
        s = stats["in_range"]
        if "min_value" in next(iter(table.values())):
            return s["min_value"], bool(s.get("include_min", True))
        return s["max_value"], bool(s.get("include_max", True))
    return None


def check_edge(
    producer: str,
    consumer: str,
    dataset: str,
    out_model: type[pa.DataFrameModel],
    in_model: type[pa.DataFrameModel],
) -> list[EdgeFinding]:
    """Compare what the producer guarantees (``out_model``) with what the consumer needs."""
    out_cols = out_model.to_schema().columns
    in_schema = in_model.to_schema()
    found: list[EdgeFinding] = []

    def add(column: str | None, kind: str, severity: str, message: str) -> None:
        found.append(EdgeFinding(producer, consumer, dataset, column, kind, severity, message))

    for name, need in in_schema.columns.items():
        have = out_cols.get(name)
        if have is None:
            if need.required:
                add(
                    name,
                    "missing_column",
                    ERROR,
                    f"{consumer} needs column {name!r}, which {out_model.__name__} does not "
                    f"declare; add it to {out_model.__name__} or rename the input",
                )
            continue
        a, b = _numeric_kind(have.dtype), _numeric_kind(need.dtype)
        if str(have.dtype) != str(need.dtype):
            if (a, b) in {("int", "float"), ("bool", "int"), ("bool", "float")} or b == "str":
                pass  # always coercible without loss
            elif (a, b) == ("float", "int") or a == "str" or "other" in (a, b):
                add(
                    name,
                    "dtype",
                    UNDECIDABLE,
                    f"{have.dtype} -> {need.dtype} depends on the values; rows that do not "
                    f"coerce are quarantined at run time",
                )
            else:
                add(
                    name,
                    "dtype",
                    ERROR,
                    f"{have.dtype} cannot become {need.dtype}; make the models agree",
                )
        if have.nullable and not need.nullable:
            add(
                name,
                "nullable_widened",
                WARNING,
                f"{out_model.__name__} allows missing values that {in_model.__name__} refuses; "
                f"they will be quarantined at run time",
            )
        have_s, need_s = _stats(have.checks), _stats(need.checks)
        for table, lower in ((_LOWER, True), (_UPPER, False)):
            needed = _bound(need_s, table)
            if needed is None:
                continue
            had = _bound(have_s, table)
            if (
                had is None
                or (had[0] < needed[0] if lower else had[0] > needed[0])
                or (had[0] == needed[0] and had[1] and not needed[1])
            ):
                add(
                    name,
                    "range_widened",
                    WARNING,
                    f"{in_model.__name__} requires {'>' if lower else '<'}"
                    f"{'=' if needed[1] else ''} {needed[0]}, which {out_model.__name__} does "
                    f"not guarantee; rows outside are quarantined at run time",
                )
        if "isin" in need_s:
            allowed = set(need_s["isin"]["allowed_values"])
            given = have_s.get("isin", {}).get("allowed_values")
            if given is None or not set(given) <= allowed:
                add(
                    name,
                    "isin_widened",
                    WARNING,
                    f"{out_model.__name__} does not restrict {name!r} to the values "
                    f"{in_model.__name__} allows; other values are quarantined at run time",
                )
        known = set(_LOWER) | set(_UPPER) | {"in_range", "isin"}
        for check in need.checks:
            if check.name in known:
                continue
            same = any(
                c.name == check.name and (c.statistics or {}) == (check.statistics or {})
                for c in have.checks
            )
            if not same:
                add(
                    name,
                    "check_unproven",
                    UNDECIDABLE,
                    f"{check.error or check.name} is not implied by {out_model.__name__}; it "
                    f"is checked at run time",
                )
    if in_schema.checks:
        add(
            None,
            "check_unproven",
            UNDECIDABLE,
            f"{in_model.__name__} has dataframe-wide checks; they are checked at run time",
        )
    return found


def is_redundant(
    out_model: type[pa.DataFrameModel],
    in_model: type[pa.DataFrameModel],
    findings: list[EdgeFinding],
) -> bool:
    """Whether validating ``in_model`` after ``out_model`` is proven redundant."""
    return issubclass(out_model, in_model) and not findings


# --- a whole pipeline ------------------------------------------------------------------


class Wired(Protocol):
    """What the pipeline-wide checks read of a pipeline: its steps in order and who produces
    and consumes each dataset (``sdk.Pipeline`` is one)."""

    @property
    def order(self) -> list[Step]: ...

    def producer(self, dataset: str) -> Step | None: ...

    def consumers(self, name: str) -> list[Step]: ...


def _model_edges(pipeline: Wired) -> list[EdgeFinding]:
    """A fitted model's features are known only once it exists: say when they are
    checked, for each step that takes one a step of this pipeline fits."""
    findings = []
    for step in pipeline.order:
        for dataset in step.artifact_inputs.values():
            producer = pipeline.producer(dataset)
            made = type(producer).contract().produces if producer is not None else None
            if producer is None or made is None or made.kind != "artifact":
                continue
            findings.append(
                EdgeFinding(
                    producer.name,
                    step.name,
                    dataset,
                    None,
                    "model_contract",
                    "undecidable",
                    f"the features {producer.name!r} fits {dataset!r} on are known only "
                    f"once it is fitted: the input model of {step.name!r} is checked "
                    f"against them right after {producer.name!r} returns it, before "
                    f"{step.name!r} runs",
                )
            )
    return findings


def artifact_problems(pipeline: Wired) -> list[str]:
    """Artifacts wired into frame parameters and back, or of the wrong declared type."""
    problems: list[str] = []
    for step in pipeline.order:
        contract = type(step).contract()
        for param, dataset in step.input_names.items():
            wanted = contract.artifacts.get(param)
            producer = pipeline.producer(dataset)
            if producer is None:
                kinds = {
                    p in type(s).contract().artifacts
                    for s in pipeline.consumers(dataset)
                    for p, d in s.input_names.items()
                    if d == dataset
                }
                if len(kinds) > 1 and wanted is not None:
                    problems.append(
                        f"input {dataset!r} is taken as a DataFrame by one step and as "
                        f"{wanted.label} by {step.name!r}; give them distinct names"
                    )
                continue
            made = type(producer).contract().produces
            if wanted is None and made is not None:
                problems.append(
                    f"step {step.name!r} takes {dataset!r} as a DataFrame, but "
                    f"{producer.name!r} returns {made.label}; annotate parameter "
                    f"{param!r} as {made.label}"
                )
            elif wanted is not None and made is None:
                problems.append(
                    f"step {step.name!r} takes {dataset!r} as {wanted.label}, but "
                    f"{producer.name!r} returns a DataFrame; annotate parameter {param!r} "
                    f"as DataFrame[...]"
                )
            elif wanted is not None and made is not None and not wanted.accepts(made):
                problems.append(
                    f"step {step.name!r} takes {dataset!r} as {wanted.label}, but "
                    f"{producer.name!r} returns {made.label}; make the annotations agree"
                )
    return problems


def pipeline_report(pipeline: Wired) -> ContractReport:
    """The contract report of every edge of ``pipeline`` (see :meth:`Pipeline.check`)."""
    edges: list[tuple[str, str, str]] = []
    findings: list[EdgeFinding] = []
    skipped: list[tuple[str, str]] = []
    for step in pipeline.order:
        contract = type(step).contract()
        for param, dataset in step.frame_inputs.items():
            producer = pipeline.producer(dataset)
            out_model = type(producer).contract().output if producer is not None else None
            if producer is None or out_model is None:
                continue  # an input, or an artifact wired wrongly (artifact_problems)
            in_model = contract.inputs[param]
            edge = check_edge(producer.name, step.name, dataset, out_model, in_model)
            edges.append((producer.name, step.name, dataset))
            findings += edge
            if is_redundant(out_model, in_model, edge):
                skipped.append((step.name, dataset))
    findings += _model_edges(pipeline)
    findings.sort(key=lambda f: (f.producer, f.consumer, f.dataset, f.column or ""))
    return ContractReport(tuple(edges), tuple(findings), tuple(skipped))
