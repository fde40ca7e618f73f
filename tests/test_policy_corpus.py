"""The policy check against an adversarial corpus of step modules it was not written against.

``tests/policy_corpus/bad/**.py`` are step modules that break the policy; every line that must be
reported carries a trailing marker comment, ``tests/policy_corpus/good/**.py`` are near misses
that must produce no finding at all. Markers (in a comment, several per line allowed):

``# expect: SDK101``            the line must have a SDK101 finding
``# expect: SDK105,SDK101``     ... a SDK105 *and* a SDK101 finding
``# expect: SDK104|SDK101``     ... a finding with one of these rules
``# expect-next: SDK108``       on a comment-only line: the same, for the next line (used where a
                                trailing comment would be read as a suppression's reason)
``# tolerate: SDK101``          a finding with this rule is accepted here, not required (redundant
                                or debatable: ``f.write`` after a flagged ``open``)
``# gap: SDK101``               a documented blind spot of a static check (docs/policy.md, "What a
                                static check cannot see", or code outside the checked scope): a
                                finding is accepted, not required
``# reached: SDK101``           in an own helper module without steps: must be reported when the
                                module is reached from a step module (checking that module, or the
                                whole folder), and must not be when the helper module is checked
                                alone

Any finding on a line without a marker that names its rule is a false positive. Text after the
rule ids (``beyond-docs``) is a note: the construct is forbidden by the policy's intent but not
listed by name in docs/policy.md.

``python tests/test_policy_corpus.py`` prints a summary of misses, false positives and gaps.

The corpus is never collected by pytest: its files are not named ``test_*.py``/``*_test.py``
(checked below), and it has no ``conftest.py`` (a second top-level ``conftest`` module would
shadow ``tests/conftest.py`` for the tests that import from it).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "policy_corpus"
BAD = CORPUS / "bad"
GOOD = CORPUS / "good"

MARKER = re.compile(r"#\s*(expect-next|expect|tolerate|gap|reached):\s*([A-Z0-9|,]+)([^#]*)")


@dataclass
class Markers:
    """The markers of one corpus file, by line."""

    required: dict[int, list[frozenset[str]]] = field(default_factory=dict)
    allowed: dict[int, set[str]] = field(default_factory=dict)
    gaps: dict[int, set[str]] = field(default_factory=dict)
    reached: dict[int, set[str]] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)


def corpus_files(folder: Path) -> list[Path]:
    """The ``.py`` files of a corpus folder, recursively, sorted."""
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


_MARKERS: dict[Path, Markers] = {}


def markers_of(path: Path) -> Markers:
    """Parse (once) the marker comments of ``path``."""
    path = path.resolve()
    if path in _MARKERS:
        return _MARKERS[path]
    m = Markers()
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        line = tok.start[0]
        for kind, spec, note in MARKER.findall(tok.string):
            if kind == "expect-next":
                assert lines[line - 1].strip().startswith("#"), f"{path}:{line}: expect-next"
                line_for = line + 1
            else:
                line_for = line
            rules = {r for r in re.split(r"[|,]", spec) if r}
            if kind == "reached":
                m.reached.setdefault(line_for, set()).update(rules)
                continue
            m.allowed.setdefault(line_for, set()).update(rules)
            if kind in ("expect", "expect-next"):
                reqs = [frozenset(alt.split("|")) for alt in spec.split(",") if alt]
                m.required.setdefault(line_for, []).extend(reqs)
                if note.strip():
                    m.notes[line_for] = note.strip()
            elif kind == "gap":
                m.gaps.setdefault(line_for, set()).update(rules)
    _MARKERS[path] = m
    return m


@dataclass(frozen=True)
class Hit:
    """A finding, reduced to what the corpus compares."""

    path: Path
    line: int
    rule: str
    message: str


def run_checker(paths: list[Path]) -> list[Hit]:
    """Run the public checker: ``sdk.policy.check_paths``, else ``sdk check --format json``."""
    try:
        from sdk.policy import check_paths
    except ImportError:  # pragma: no cover - fall back to the CLI
        check_paths = None
    if check_paths is not None:
        report = check_paths([str(p) for p in paths])
        rows = [
            {"path": f.path, "line": f.line, "rule": f.rule, "message": f.message}
            for f in report.findings
        ]
    else:  # pragma: no cover
        sdk_exe = Path(sys.executable).with_name("sdk")
        proc = subprocess.run(
            [str(sdk_exe), "check", "--format", "json", *map(str, paths)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        rows = json.loads(proc.stdout)["findings"]
    return [
        Hit(Path(r["path"]).resolve(), int(r["line"] or 0), r["rule"], r.get("message", ""))
        for r in rows
    ]


def source_line(path: Path, line: int) -> str:
    """Line ``line`` of ``path``, stripped (or ``<file>`` for line 0)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else "<file>"


def short(path: Path) -> str:
    """``path`` relative to the corpus (or the cwd)."""
    try:
        return str(path.relative_to(CORPUS))
    except ValueError:
        return os.path.relpath(path)


@dataclass
class Outcome:
    """What the checker got right and wrong on one target."""

    missed: list[tuple[Path, int, str, str]] = field(default_factory=list)
    false_positives: list[tuple[Path, int, str, str]] = field(default_factory=list)
    gaps_found: list[tuple[Path, int, str]] = field(default_factory=list)
    gaps_silent: list[tuple[Path, int, str]] = field(default_factory=list)

    def problems(self) -> str:
        """A readable list of misses and false positives."""
        out = []
        for path, line, want, note in self.missed:
            extra = f" ({note})" if note else ""
            got = sorted({h.rule for h in self._hits if h.path == path and h.line == line})
            out.append(
                f"MISSED   {short(path)}:{line}: expected {want}{extra}, got {got or 'nothing'}"
                f"\n             {source_line(path, line)}"
            )
        for path, line, rule, message in self.false_positives:
            out.append(
                f"UNEXPECTED {short(path)}:{line}: {rule} {message}"
                f"\n             {source_line(path, line)}"
            )
        return "\n".join(out)

    _hits: list[Hit] = field(default_factory=list)


def evaluate(target: Path, hits: list[Hit]) -> Outcome:
    """Compare ``hits`` (from checking ``target``, a file or a folder) with the markers.

    Checking one file: its ``expect`` markers are required; findings in the file itself must be
    marked ``expect``/``tolerate``/``gap``; findings in other (followed) files may also match their
    ``reached`` markers. Checking a folder: ``reached`` markers are required as well.
    """
    outcome = Outcome(_hits=hits)
    folder_mode = target.is_dir()
    files = corpus_files(target) if folder_mode else [target]
    target = target.resolve()
    by_line: dict[tuple[Path, int], set[str]] = {}
    for h in hits:
        by_line.setdefault((h.path, h.line), set()).add(h.rule)
    for path in files:
        path = path.resolve()
        m = markers_of(path)
        required = {line: list(reqs) for line, reqs in m.required.items()}
        if folder_mode:
            for line, rules in m.reached.items():
                required.setdefault(line, []).extend(frozenset([r]) for r in sorted(rules))
        for line, reqs in sorted(required.items()):
            got = by_line.get((path, line), set())
            for req in reqs:
                if not req & got:
                    outcome.missed.append(
                        (path, line, "|".join(sorted(req)), m.notes.get(line, ""))
                    )
        for line, rules in sorted(m.gaps.items()):
            got = by_line.get((path, line), set())
            for rule in sorted(rules):
                (outcome.gaps_found if rule in got else outcome.gaps_silent).append(
                    (path, line, rule)
                )
    for h in hits:
        if not h.path.is_file() or h.path.suffix != ".py":
            outcome.false_positives.append((h.path, h.line, h.rule, h.message))
            continue
        m = markers_of(h.path)
        allowed = set(m.allowed.get(h.line, set()))
        if folder_mode or h.path != target:
            allowed |= m.reached.get(h.line, set())
        if h.rule not in allowed:
            outcome.false_positives.append((h.path, h.line, h.rule, h.message))
    return outcome


BAD_FILES = corpus_files(BAD)
GOOD_FILES = corpus_files(GOOD)


def _id(path: Path) -> str:
    return short(path)


def test_corpus_is_present_and_labelled() -> None:
    """The corpus exists, and its bad files carry many distinct expectations."""
    assert BAD_FILES and GOOD_FILES
    n = sum(len(r) for p in BAD_FILES for r in markers_of(p).required.values())
    assert n >= 120, n
    for path in GOOD_FILES:
        assert not markers_of(path).required, f"{short(path)} is a good file with expectations"
    for path in CORPUS.rglob("*.py"):
        name = path.name
        assert not (name.startswith("test_") or name.endswith("_test.py")), path
        assert name != "conftest.py", path


@pytest.mark.parametrize("path", BAD_FILES, ids=_id)
def test_bad_step_module(path: Path) -> None:
    """Every marked construct is found at its line with its rule; nothing else is reported."""
    outcome = evaluate(path, run_checker([path]))
    if outcome.missed or outcome.false_positives:
        pytest.fail(
            f"{short(path)}: {len(outcome.missed)} missed, "
            f"{len(outcome.false_positives)} unexpected\n{outcome.problems()}",
            pytrace=False,
        )


@pytest.mark.parametrize("path", GOOD_FILES, ids=_id)
def test_good_step_module(path: Path) -> None:
    """A near-miss module produces no finding (except on lines marked ``tolerate``)."""
    outcome = evaluate(path, run_checker([path]))
    if outcome.missed or outcome.false_positives:
        pytest.fail(f"{short(path)}: expected no findings\n{outcome.problems()}", pytrace=False)


@pytest.mark.parametrize("folder", [BAD, GOOD], ids=["bad/", "good/"])
def test_whole_folder(folder: Path) -> None:
    """Checking a corpus folder at once: every expect and reached marker met, nothing else."""
    outcome = evaluate(folder, run_checker([folder]))
    if outcome.missed or outcome.false_positives:
        pytest.fail(
            f"{short(folder)}/: {len(outcome.missed)} missed, "
            f"{len(outcome.false_positives)} unexpected\n{outcome.problems()}",
            pytrace=False,
        )


@pytest.mark.parametrize("folder", [BAD, GOOD], ids=["bad/", "good/"])
def test_folder_check_matches_file_checks(folder: Path) -> None:
    """Checking a corpus folder at once reports exactly what checking its files one by one does."""
    together = {(h.path, h.line, h.rule) for h in run_checker([folder])}
    one_by_one = {(h.path, h.line, h.rule) for p in corpus_files(folder) for h in run_checker([p])}
    only_folder = sorted(together - one_by_one)
    only_files = sorted(one_by_one - together)
    assert together == one_by_one, (
        "folder-only: "
        + "; ".join(f"{short(p)}:{ln} {r}" for p, ln, r in only_folder)
        + " | file-only: "
        + "; ".join(f"{short(p)}:{ln} {r}" for p, ln, r in only_files)
    )


def main() -> None:  # pragma: no cover - a report for humans
    """Print every miss, false positive and documented gap over the whole corpus."""
    total = found = 0
    all_missed, all_fp, gaps_found, gaps_silent = [], [], [], []
    for path in [*BAD_FILES, *GOOD_FILES]:
        hits = run_checker([path])
        outcome = evaluate(path, hits)
        total += sum(len(r) for r in markers_of(path).required.values())
        all_missed += outcome.missed
        all_fp += outcome.false_positives
        gaps_found += outcome.gaps_found
        gaps_silent += outcome.gaps_silent
        outcome_text = outcome.problems()
        if outcome_text:
            print(f"== {short(path)}\n{outcome_text}")
    found = total - len(all_missed)
    print(
        f"\nexpectations: {total}, met: {found}, missed: {len(all_missed)}, "
        f"unexpected findings: {len(all_fp)}"
    )
    print(
        "documented gaps reported anyway: "
        + ", ".join(f"{short(p)}:{ln} {r}" for p, ln, r in gaps_found)
    )
    print(
        "documented gaps silent: " + ", ".join(f"{short(p)}:{ln} {r}" for p, ln, r in gaps_silent)
    )


if __name__ == "__main__":  # pragma: no cover
    main()
