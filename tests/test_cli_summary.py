"""The summary `sdk run` ends with: for people on stdout, or a `summary` event on stderr when
stdout carries data."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, cli

DEPLOY = "examples/fraud/deploy.toml"
TARGET = "examples.fraud.pipeline:pipeline"
TRANSACTIONS = str(ROOT / "examples/fraud/transactions.csv")


def json_lines(stderr: str) -> list[dict]:
    """The JSON log lines of `stderr`, parsed."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_summary_on_stdout_while_stderr_carries_json(tmp_path: Path) -> None:
    """A run ends with a summary on stdout — rows read, passed, quarantined by step and check,
    each output with its destination, run id, duration, `sdk runs show` — and stderr stays
    JSON lines only."""
    scored, quarantine = tmp_path / "scored.csv", tmp_path / "quarantine.csv"
    out = cli(
        "run", DEPLOY, "--output", f"scored={scored}", "--quarantine", str(quarantine),
        "--run-id", "summary-run",
    )
    assert out.returncode == 0, out.stderr
    assert all(line.startswith("{") for line in out.stderr.splitlines() if line.strip())
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Run summary-run of fraud succeeded in ")
    assert lines[0].endswith(" s (runner local)")
    assert "Rows: 2,000 read, 1,970 passed, 30 quarantined (1.50%)" in lines
    assert "  add_features, input transactions: 30 rows" in lines
    checks = {line.split()[-2]: int(line.split()[-1]) for line in lines if line.startswith("    ")}
    assert checks["not_nullable"] in (3, 5)
    assert sum(int(line.split()[-1]) for line in lines if line.startswith("    ")) == 30
    listed = [line.split() for line in lines]
    assert ["scored", "1,970", "rows", "->", str(scored)] in listed
    assert ["quarantine", "30", "rows", "->", str(quarantine)] in listed
    assert lines[-1] == "More: sdk runs show summary-run"
    shown = cli("runs", "show", "summary-run")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["run_id"] == "summary-run"


def test_summary_with_text_logs_too(tmp_path: Path) -> None:
    """With `--log-format text` the summary is on stdout as well, the log on stderr."""
    out = cli(
        "run", DEPLOY, "--output", f"scored={tmp_path / 's.csv'}",
        "--quarantine", str(tmp_path / "q.csv"), "--log-format", "text",
    )
    assert out.returncode == 0, out.stderr
    assert "run_finished" in out.stderr
    assert "Run " in out.stdout and "run_finished" not in out.stdout


def test_summary_names_the_run_dir_to_look_in(tmp_path: Path) -> None:
    """With `--run-dir`, the hint says `sdk runs show RUN_ID --run-dir DIR`, which works."""
    runs = tmp_path / "elsewhere"
    out = cli(
        "run", TARGET, "--input", f"transactions={TRANSACTIONS}",
        "--output", f"scored={tmp_path / 's.csv'}", "--run-dir", str(runs), "--run-id", "r1",
    )
    assert out.returncode == 0, out.stderr
    more = out.stdout.splitlines()[-1]
    assert more == f"More: sdk runs show r1 --run-dir {runs}"
    shown = cli(*more.removeprefix("More: sdk ").split())
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "succeeded"


def test_summary_without_outputs_says_none_was_written() -> None:
    """A run given no output says so, and how to write one."""
    out = cli("run", TARGET, "--input", f"transactions={TRANSACTIONS}")
    assert out.returncode == 0, out.stderr
    assert "Outputs: none written (--output NAME=URI writes a dataset)" in out.stdout


def test_summary_is_a_log_event_when_stdout_carries_data(tmp_path: Path) -> None:
    """`--output scored=-`: stdout holds only the rows (JSON lines); the summary is a `summary`
    event on stderr with the same facts."""
    quarantine = tmp_path / "q.csv"
    out = cli(
        "run", TARGET, "--input", f"transactions={TRANSACTIONS}", "--output", "scored=-",
        "--quarantine", str(quarantine), "--run-id", "to-stdout",
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 1970 and all("score" in row for row in rows)
    (summary,) = [r for r in json_lines(out.stderr) if r["event"] == "summary"]
    assert summary["run_id"] == "to-stdout"
    assert summary["status"] == "succeeded"
    assert (summary["rows_in"], summary["passed"], summary["quarantined"]) == (2000, 1970, 30)
    (where,) = summary["quarantined_by_step"]
    assert (where["step"], where["boundary"], where["dataset"], where["rows"]) == (
        "add_features", "input", "transactions", 30,
    )
    assert where["checks"]["country"]["not_nullable"] == 3
    assert summary["outputs"] == {
        "scored": {"uri": "-", "rows": 1970},
        "quarantine": {"uri": str(quarantine), "rows": 30},
    }
    assert summary["more"] == "sdk runs show to-stdout"
    assert summary["duration_ms"] > 0


def test_failed_run_summary_from_its_manifest(tmp_path: Path) -> None:
    """A run over its error budget still ends with a summary (from its manifest): failed, why,
    what was quarantined and where, nothing published."""
    scored, quarantine = tmp_path / "scored.csv", tmp_path / "q.csv"
    out = cli(
        "run", DEPLOY, "--output", f"scored={scored}", "--quarantine", str(quarantine),
        "--max-invalid", "0.001",
    )
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert " failed (DataQualityError) in " in lines[0]
    assert "Rows: 2,000 read, 1,970 passed, 30 quarantined (1.50%)" in lines
    assert ["quarantine", "30", "rows", "->", str(quarantine)] in [line.split() for line in lines]
    assert "Outputs: none published (the run failed)" in lines
    assert lines[-1].startswith("More: sdk runs show ")
    assert not scored.exists()
