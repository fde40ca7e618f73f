"""Read a run report back as a user's browser would show it, and check it against the run.

The page is parsed with the standard library's ``html.parser`` into a small tree, and read only
through the report's stable hooks (ids, classes, ``data-*`` attributes; docs/report.md), never
through its wording. :func:`check_report` makes the checks every runner's report test shares:
the identity, the DAG, the boundaries and the quarantine counts equal the manifest and the
quarantine records read back from where the runner wrote them, and every sampled row is one of
those records.

Imported by the core tests (``from report_html import ...``) and by the plugins' tests
(``from tests.report_html import ...``, the repository root being on ``sys.path``); it imports
nothing from either.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
}  # fmt: skip


NO_COLUMN = {"", "<step>", "<dataframe>"}
"""How a count of a check without a column (``step_error``, a dataframe check) may be keyed."""


@dataclass(eq=False)
class Element:
    """One element of the page: its tag, attributes, children and own text pieces."""

    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        """The element's text, whitespace collapsed (what a reader sees)."""
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join("".join(parts).split())

    def iter(self) -> Iterator[Element]:
        """This element and every element under it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str | None) -> list[Element]:
        """Elements under this one (itself included) with ``tag`` and these attributes
        (``class_`` matches one of the classes; ``data_x`` is ``data-x``; ``None``: present)."""
        found = []
        for element in self.iter():
            if tag is not None and element.tag != tag:
                continue
            if all(element.has(name, value) for name, value in attrs.items()):
                found.append(element)
        return found

    def find(self, tag: str | None = None, **attrs: str | None) -> Element | None:
        """The first of :meth:`find_all`, or ``None``."""
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def has(self, name: str, value: str | None) -> bool:
        """Whether attribute ``name`` (spelt as in :meth:`find_all`) is there, equal ``value``."""
        if name == "class_":
            return value in self.attrs.get("class", "").split()
        key = name.replace("_", "-")
        return key in self.attrs and (value is None or self.attrs[key] == value)

    def fields(self) -> dict[str, str]:
        """The text of each ``data-field`` cell under this element, by field name."""
        return {
            cell.attrs["data-field"]: cell.text()
            for cell in self.iter()
            if cell is not self and "data-field" in cell.attrs
        }


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: "" if v is None else v for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: "" if v is None else v for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):  # tolerate an unclosed child
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def number(text: str) -> float:
    """A number as the page prints it for people: ``1,234``, ``1 234``, ``12.5 ms``."""
    match = re.search(r"-?[\d,\u202f\u00a0 _]*\.?\d+", text)
    if match is None:
        raise AssertionError(f"no number in {text!r}")
    return float(re.sub(r"[,\u202f\u00a0 _]", "", match.group()))


def count(text: str) -> int:
    """A whole number as the page prints it (see :func:`number`)."""
    value = number(text)
    assert value == int(value), f"{text!r} is not a whole number"
    return int(value)


class Report:
    """A parsed report page, read through the contract's hooks."""

    def __init__(self, html: str) -> None:
        builder = _TreeBuilder()
        builder.feed(html)
        builder.close()
        self.html = html
        self.root = builder.root

    def _one(self, tag: str, **attrs: str | None) -> Element:
        found = self.root.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    def has_marker(self) -> bool:
        """Whether the page carries ``<meta name="sdk-report" content="1">``."""
        return any(
            m.attrs.get("name") == "sdk-report" and m.attrs.get("content") == "1"
            for m in self.root.find_all("meta")
        )

    def external_resources(self) -> list[str]:
        """Every ``src``/``href`` (and ``xlink:href``) that would reach the network."""
        remote = re.compile(r"\s*(https?:)?//", re.IGNORECASE)
        return [
            value
            for element in self.root.iter()
            for name, value in element.attrs.items()
            if name in {"src", "href", "xlink:href", "action"} and remote.match(value)
        ] + re.findall(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)", self.html)

    def identity(self) -> dict[str, str]:
        """The ``<dl id="identity">`` fields, by name."""
        return self._one("dl", id="identity").fields()

    def dag(self) -> Element:
        """The ``<svg id="dag">``."""
        return self._one("svg", id="dag")

    def dag_steps(self) -> set[str]:
        """The steps drawn in the DAG."""
        return {g.attrs["data-step"] for g in self.dag().find_all("g", class_="step")}

    def dag_datasets(self) -> set[str]:
        """The datasets drawn in the DAG."""
        return {g.attrs["data-dataset"] for g in self.dag().find_all("g", class_="dataset")}

    def edges(self) -> dict[tuple[str, str], dict[str, str]]:
        """The DAG's edges: ``(from, to)`` → their ``data-*`` attributes."""
        edges: dict[tuple[str, str], dict[str, str]] = {}
        for g in self.dag().find_all("g", class_="edge"):
            key = (g.attrs["data-from"], g.attrs["data-to"])
            assert key not in edges, f"edge {key} drawn twice"
            edges[key] = g.attrs
        return edges

    def boundaries(self) -> dict[tuple[str, str], dict[str, str]]:
        """``(step, boundary)`` → the row's dataset and ``data-field`` texts."""
        table = self._one("table", id="boundaries")
        rows: dict[tuple[str, str], dict[str, str]] = {}
        for tr in table.find_all("tr", data_step=None):
            key = (tr.attrs["data-step"], tr.attrs["data-boundary"])
            assert key not in rows, f"boundary {key} listed twice"
            rows[key] = {"dataset": tr.attrs["data-dataset"], **tr.fields()}
        return rows

    def quarantine_counts(self) -> Counter[tuple[str, str, str]]:
        """``(step, column, check)`` → the count shown."""
        table = self._one("table", id="quarantine-counts")
        counts: Counter[tuple[str, str, str]] = Counter()
        for tr in table.find_all("tr", data_check=None):
            column = tr.attrs.get("data-column", "")
            key = (
                tr.attrs["data-step"],
                "" if column in NO_COLUMN else column,
                tr.attrs["data-check"],
            )
            assert key not in counts, f"count {key} listed twice"
            counts[key] = count(tr.fields()["count"])
        return counts

    def top_values(self) -> dict[str, list[tuple[str, int]]]:
        """``"COLUMN: CHECK"`` → its top offending values and their counts, as shown."""
        return {
            table.attrs["data-check"]: [
                (tr.fields()["value"], count(tr.fields()["count"]))
                for tr in table.find_all("tr")
                if "value" in tr.fields()
            ]
            for table in self.root.find_all("table", class_="top-values")
        }

    def sample(self) -> list[dict[str, str]]:
        """The quarantine sample's rows: their ``data-field`` texts (none without the table)."""
        table = self.root.find("table", id="quarantine-sample")
        if table is None:
            return []
        return [tr.fields() for tr in table.find_all("tr", data_check=None)]

    def error(self) -> dict[str, str] | None:
        """A failed run's ``<section id="error">``: its ``step`` (``""`` for none), ``type``
        and ``message``; ``None`` when the page shows no error."""
        section = self.root.find("section", id="error")
        if section is None:
            return None
        return {"step": section.attrs.get("data-step", ""), **section.fields()}

    def quarantine_location(self) -> tuple[bool, str] | None:
        """``<p id="quarantine-location">``: whether the records were read back, and the text
        saying where they are (``None`` when the page has no such paragraph)."""
        p = self.root.find("p", id="quarantine-location")
        return None if p is None else (p.attrs.get("data-readable") == "true", p.text())

    def records_said(self) -> tuple[int, int] | None:
        """The ``N records for M rows`` the quarantine paragraph states, if it states them."""
        location = self.quarantine_location()
        said = re.search(r"([\d,]+) records? for ([\d,]+) rows?", location[1]) if location else None
        return None if said is None else (count(said[1]), count(said[2]))

    def profiles(self) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
        """``(dataset, role)`` → column → the profile's ``data-field`` texts."""
        section = self._one("section", id="profiles")
        return {
            (table.attrs["data-dataset"], table.attrs["data-role"]): {
                tr.attrs["data-column"]: tr.fields()
                for tr in table.find_all("tr", data_column=None)
            }
            for table in section.find_all("table", class_="profile")
        }


def _records(records: Iterable[Mapping[Any, Any]]) -> list[dict[str, str]]:
    """Quarantine records with every field as text (a missing value ``""``)."""

    def text(value: Any) -> str:
        missing = value is None or (isinstance(value, float) and value != value)
        return "" if missing else str(value)

    return [{str(k): text(v) for k, v in record.items()} for record in records]


def check_report(
    report: Report,
    manifest: Mapping[str, Any],
    records: Iterable[Mapping[Any, Any]],
    *,
    source: str,
    min_sample: int = 1,
    records_said: bool = True,
) -> None:
    """Assert that ``report`` shows the run of ``manifest`` with these quarantine ``records``
    (read back from where the runner wrote them, this run's only).

    Checked: the page is self-contained; identity = manifest; every step and dataset is in the
    DAG, each boundary its edge with the manifest's passed/quarantined/skipped; the boundaries
    table = ``manifest["validation"]``, conservation ``ok`` where it holds; counts by step x
    column x check = the records'; the top values = the records' values; each sampled row is a
    record (same source, step, boundary, column, check, value) and its source matches the
    regular expression ``source``; at least ``min_sample`` rows sampled; the numbers of records
    and rows the quarantine paragraph states (records unless ``records_said`` is false).
    """
    records = _records(records)
    assert report.has_marker()
    assert report.external_resources() == []

    identity = report.identity()
    for name in ("run_id", "status", "runner", "pipeline", "fingerprint"):
        assert identity[name] == str(manifest[name]), name
    assert count(identity["quarantined"]) == manifest["quarantine"]["rows"]

    steps = [step["name"] for step in manifest["steps"]]
    assert report.dag_steps() == set(steps)
    edges = report.edges()
    boundaries = report.boundaries()
    assert len(boundaries) == len(manifest["validation"])
    for check in manifest["validation"]:
        step, dataset = check["step"], check["dataset"]
        assert dataset in report.dag_datasets()
        edge = edges[(dataset, step) if check["boundary"] == "input" else (step, dataset)]
        assert count(edge["data-passed"]) == check["passed"]
        assert count(edge["data-quarantined"]) == check["quarantined"]
        assert edge["data-skipped"] == str(check["skipped"]).lower()
        row = boundaries[(step, check["boundary"])]
        assert row["dataset"] == dataset
        shown = {k: count(row[k]) for k in ("rows", "passed", "quarantined")}
        assert shown == {k: check[k] for k in ("rows", "passed", "quarantined")}, (step, check)
        balance = check["rows"] - check["passed"] - check["quarantined"]
        if balance == 0:
            assert row["conservation"] == "ok", (step, check["boundary"])
        else:
            assert count(row["conservation"]) == balance, (step, check["boundary"])

    expected = Counter((r["step"], r["column"], r["check"]) for r in records)
    counted = report.quarantine_counts()
    assert counted == expected, f"counts shown {dict(counted)} != records' {dict(expected)}"
    assert sum(expected.values()) == sum(
        n
        for c in manifest["validation"]
        for checks in c["failures"].values()
        for n in checks.values()
    )

    said = report.records_said()
    if said is not None:  # where the page says how many records and rows, they are the run's
        assert said[1] == manifest["quarantine"]["rows"], report.quarantine_location()
        if records_said:
            assert said[0] == len(records), f"{report.quarantine_location()}: {len(records)}"

    values = Counter((_label(r), r["value"]) for r in records)
    for label, shown_values in report.top_values().items():
        placeholders = [(v, n) for v, n in shown_values if (label, v) not in values]
        assert len(placeholders) <= 1, f"{label}: values no record has: {placeholders}"
        for value, n in shown_values:
            if (label, value) in values:
                assert values[(label, value)] == n, (label, value)
            else:  # a missing value, printed for people ("(missing)", "null", ...)
                assert values[(label, "")] == n, (label, value)

    by_source: dict[str, list[dict[str, str]]] = {}
    for record in records:
        by_source.setdefault(record["source"], []).append(record)
    sample = report.sample()
    assert len(sample) >= min(min_sample, len(records)), (
        f"{len(sample)} row(s) sampled of {len(records)} records"
    )
    for row in sample:
        assert re.fullmatch(source, row["source"]), row["source"]
        assert any(_same(row, record) for record in by_source.get(row["source"], [])), (
            f"sampled row {row} is not a quarantine record of this run"
        )


def _label(record: Mapping[str, str]) -> str:
    """A record's check label, ``"COLUMN: CHECK"`` (``<dataframe>`` for no column)."""
    return f"{record['column'] or '<dataframe>'}: {record['check']}"


def _same(row: Mapping[str, str], record: Mapping[str, str]) -> bool:
    """Whether a sampled row shows ``record`` (a long value may be cut, ending with ``…``)."""
    for key in ("step", "boundary", "dataset", "column", "check", "value"):
        shown, value = row.get(key), record[key]
        if shown is None or shown == value:
            continue
        if not (key == "value" and shown.endswith("…") and value.startswith(shown[:-1])):
            return False
    return True


def check_profile(report: Report, profile: Mapping[str, Any]) -> None:
    """Assert that the page's ``<section id="profiles">`` shows ``profile`` (``profile.json``):
    every dataset and column, its dtype, count and nulls, min and max (as printed, to 3
    significant digits), and its top values in order."""
    datasets = profile["datasets"]
    shown = report.profiles()
    assert set(shown) == {(name, d["role"]) for name, d in datasets.items()}
    for name, dataset in datasets.items():
        columns = shown[(name, dataset["role"])]
        assert set(columns) == set(dataset["columns"]), name
        for column, stats in dataset["columns"].items():
            cells, where = columns[column], (name, column)
            assert cells["dtype"] == stats["dtype"], where
            assert count(cells["count"]) == stats["count"], where
            assert count(cells["nulls"]) == stats["nulls"], where
            for bound in ("min", "max"):
                value = stats[bound]
                if isinstance(value, int | float) and not isinstance(value, bool):
                    printed = number(cells[bound])
                    assert math.isclose(printed, value, rel_tol=1e-3, abs_tol=1e-9), where
            position = 0
            for value, n in stats["top"] or []:
                found = cells["top"].find(f"{value} ({n})", position)
                assert found >= 0, f"{where}: top {value!r} ({n}) not in {cells['top']!r}"
                position = found + 1
