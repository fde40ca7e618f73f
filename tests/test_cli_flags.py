"""Command-line flags over a deployment file: a flag replaces the file's setting of the same name
and leaves the others as the file says; the summary shows the destinations finally used."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, cli

TRANSACTIONS = str(ROOT / "examples/fraud/transactions.csv")
DEPLOYMENT = """\
pipeline = "examples.fraud.pipeline:pipeline"
runner = "{runner}"
overwrite = true
quarantine = "file_quarantine.csv"

[inputs]
transactions = "not_here.csv"

[outputs]
scored = "file_scored.csv"
features = "file_features.csv"

[params]
"score.weight" = 0.7
"score.bias" = 0.1
{more}"""


def deployment(folder: Path, runner: str = "local", more: str = "") -> Path:
    """A deployment file in `folder` whose input does not exist (the tests give it)."""
    path = folder / "deploy.toml"
    path.write_text(DEPLOYMENT.format(runner=runner, more=more), encoding="utf-8")
    return path


def json_lines(stderr: str) -> list[dict]:
    """The JSON log lines of `stderr`, parsed."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def written(stdout: str) -> dict[str, str]:
    """The destinations the summary lists: `name  N rows  -> uri` lines."""
    found = {}
    for line in stdout.splitlines():
        if "  -> " in line:
            found[line.split()[0]] = line.split("  -> ", 1)[1]
    return found


def test_output_flag_replaces_the_files_output_of_that_name_only(tmp_path: Path) -> None:
    """`--output scored=new.csv --overwrite` writes scored to new.csv and leaves the file's
    destination of scored untouched (no rows, no manifest beside it); the file's other output
    is still written; the summary shows where each went."""
    deploy = deployment(tmp_path)
    original = tmp_path / "file_scored.csv"
    original.write_text("another run's rows\n", encoding="utf-8")
    new = tmp_path / "new.csv"
    out = cli(
        "run", str(deploy), "--input", f"transactions={TRANSACTIONS}",
        "--output", f"scored={new}", "--overwrite",
    )
    assert out.returncode == 0, out.stderr
    assert original.read_text(encoding="utf-8") == "another run's rows\n"
    assert not (tmp_path / "file_scored.csv.manifest.json").exists()
    assert len(pd.read_csv(new)) == 1970
    assert len(pd.read_csv(tmp_path / "file_features.csv")) == 1970
    assert written(out.stdout) == {
        "scored": str(new),
        "features": str(tmp_path / "file_features.csv"),
        "quarantine": str(tmp_path / "file_quarantine.csv"),
    }
    finished = json_lines(out.stderr)[-1]
    assert finished["outputs"]["scored"] == str(new)


def test_output_flag_without_uri_drops_the_files_output(tmp_path: Path) -> None:
    """`--output features=` (no URI): the file's features output is not written."""
    deploy = deployment(tmp_path)
    out = cli(
        "run", str(deploy), "--input", f"transactions={TRANSACTIONS}", "--output", "features=",
    )
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "file_features.csv").exists()
    assert (tmp_path / "file_scored.csv").exists()
    assert set(written(out.stdout)) == {"scored", "quarantine"}


def test_quarantine_and_param_flags_replace_by_name(tmp_path: Path) -> None:
    """`--quarantine` replaces the file's quarantine (which is not written); `--param
    score.bias=0.2` replaces that param only: weight stays the file's 0.7."""
    deploy = deployment(tmp_path)
    quarantine = tmp_path / "elsewhere.csv"
    out = cli(
        "run", str(deploy), "--input", f"transactions={TRANSACTIONS}",
        "--quarantine", str(quarantine), "--param", "score.bias=0.2",
    )
    assert out.returncode == 0, out.stderr
    assert quarantine.exists() and not (tmp_path / "file_quarantine.csv").exists()
    started = json_lines(out.stderr)[0]
    assert started["params"]["score"] == {"weight": 0.7, "bias": 0.2}
    assert written(out.stdout)["quarantine"] == str(quarantine)


def test_input_flag_replaces_the_files_input(tmp_path: Path) -> None:
    """The file's input does not exist: without `--input` the run names it; with `--input`
    the run reads the given file (recorded in the manifest)."""
    deploy = deployment(tmp_path)
    missing = cli("run", str(deploy))
    assert missing.returncode == 2
    assert "not_here.csv" in missing.stderr
    out = cli("run", str(deploy), "--input", f"transactions={TRANSACTIONS}", "--run-id", "in1")
    assert out.returncode == 0, out.stderr
    shown = json.loads(cli("runs", "show", "in1").stdout)
    assert [i["uri"] for i in shown["inputs"]] == [TRANSACTIONS]


def test_runner_option_flags_replace_by_key(tmp_path: Path) -> None:
    """`--chunk-rows 500` replaces the file's chunk_rows; the file's on_step_error stays."""
    deploy = deployment(
        tmp_path, "batch", '\n[runner_options]\nchunk_rows = 100\non_step_error = "quarantine"\n'
    )
    out = cli(
        "run", str(deploy), "--input", f"transactions={TRANSACTIONS}", "--chunk-rows", "500",
        "--run-id", "opts",
    )
    assert out.returncode == 0, out.stderr
    options = json.loads(cli("runs", "show", "opts").stdout)["options"]
    assert options["chunk_rows"] == 500
    assert options["on_step_error"] == "quarantine"


def test_no_overwrite_flag_overrides_the_files_overwrite(tmp_path: Path) -> None:
    """The file says `overwrite = true`; `--no-overwrite` refuses to replace an existing output
    (exit 2) and leaves it as it was."""
    deploy = deployment(tmp_path)
    original = tmp_path / "file_scored.csv"
    original.write_text("keep me\n", encoding="utf-8")
    out = cli("run", str(deploy), "--input", f"transactions={TRANSACTIONS}", "--no-overwrite")
    assert out.returncode == 2, out.stderr
    assert "file_scored.csv" in out.stderr
    assert original.read_text(encoding="utf-8") == "keep me\n"


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('[outputs_sort]\nscored = "customer_id"\n', "non-empty list of column names"),
        ("[outputs_sort]\nscored = []\n", "non-empty list of column names"),
        ('[outputs_sort]\nscore = ["customer_id"]\n', "'score', which is not in [outputs]"),
        ('outputs_sort = "customer_id"\n', "'outputs_sort' must be a table"),
    ],
)
def test_outputs_sort_is_checked_when_the_file_is_read(
    tmp_path: Path, table: str, named: str
) -> None:
    """A wrong `[outputs_sort]` exits 2 before anything runs, naming the problem."""
    text = DEPLOYMENT.format(runner="local", more="")
    if not table.startswith("["):  # a top-level key: above the first table
        text = table + text
    else:
        text += "\n" + table
    (tmp_path / "deploy.toml").write_text(text, encoding="utf-8")
    out = cli("run", str(tmp_path / "deploy.toml"), "--input", f"transactions={TRANSACTIONS}")
    assert out.returncode == 2, out.stderr
    assert named in out.stderr
    assert not (tmp_path / "file_scored.csv").exists()


@pytest.mark.parametrize("runner", ["local", "batch"])
def test_outputs_sort_orders_the_published_rows(tmp_path: Path, runner: str) -> None:
    """`[outputs_sort] scored = ["customer_id"]`: the published scored rows are sorted by
    customer_id on any runner."""
    deploy = deployment(
        tmp_path, runner, '\n[outputs_sort]\nscored = ["customer_id"]\n'
        + ("\n[runner_options]\nchunk_rows = 300\n" if runner == "batch" else "")
    )
    out = cli("run", str(deploy), "--input", f"transactions={TRANSACTIONS}")
    assert out.returncode == 0, out.stderr
    scored = pd.read_csv(tmp_path / "file_scored.csv")
    assert len(scored) == 1970
    assert scored["customer_id"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--output", "nothing="), "--output nothing= drops an output the deployment does not"),
        (("--input", "transactions="), "--input transactions= needs a URI"),
    ],
)
def test_empty_flag_values_are_refused_where_they_mean_nothing(
    tmp_path: Path, flags: tuple[str, ...], named: str
) -> None:
    """`--output NAME=` for an output the file does not have, or `--input NAME=`, exits 2 with
    one line saying so, before anything runs."""
    deploy = deployment(tmp_path)
    out = cli("run", str(deploy), "--input", f"transactions={TRANSACTIONS}", *flags)
    assert out.returncode == 2, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if not x.startswith("{")]
    assert named in line
    assert not (tmp_path / "file_scored.csv").exists()
