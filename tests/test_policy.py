"""The static policy check: rules, near misses, config, suppression, formats, CLI, notebooks."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, cli

from sdk import Pipeline, PolicyError
from sdk.policy import RULES, Finding, PolicyReport, check_paths, check_pipeline, load_config

SCHEMA = ROOT / "tests" / "data" / "sarif-2.1.0.json"

HEADER = '''\
import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame

from sdk import Params, Step
{imports}

CACHE = {{}}
COUNTER = 0


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class Probe(Step):
    """A probe step."""

    class Params(Params):
        """Params."""

        seed: int = 1

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Run."""
'''


def write_step(folder: Path, body: str, imports: str = "", name: str = "probe.py") -> Path:
    """Write a module with one step whose run() body is ``body``; return its path."""
    text = HEADER.format(imports=imports) + textwrap.indent(textwrap.dedent(body), " " * 8)
    text = text.rstrip("\n") + "\n"
    if "return" not in body:
        text += "        return rows\n"
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of the first line of ``path`` containing ``marker``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


BAD = [
    ("SDK101", 'open("x.csv")', ""),
    ("SDK101", 'Path("x.csv").read_text()', "from pathlib import Path"),
    ("SDK101", 'Path("x.csv").write_text("a")', "from pathlib import Path"),
    ("SDK101", 'Path("x.csv").open()', "from pathlib import Path"),
    ("SDK101", 'pd.read_csv("x.csv")', ""),
    ("SDK101", 'read_csv("x.csv")', "from pandas import read_csv"),
    ("SDK101", 'rows.to_csv("x.csv")', ""),
    ("SDK101", 'rows.to_parquet("x.parquet")', ""),
    ("SDK101", 'rows.to_sql("t", "sqlite://")', ""),
    ("SDK101", 'rows.to_json("x.json")', ""),
    ("SDK101", 'rows.to_pickle("x.pkl")', ""),
    ("SDK101", 'rows.to_excel("x.xlsx")', ""),
    ("SDK101", 'os.listdir(".")', "import os"),
    ("SDK101", 'p.exists("x")', "from os import path as p"),
    ("SDK101", 'shutil.copy("a", "b")', "import shutil"),
    ("SDK101", 'subprocess.run(["ls"])', "import subprocess"),
    ("SDK101", "socket.socket()", "import socket"),
    ("SDK101", 'urllib.request.urlopen("http://x")', "import urllib.request"),
    ("SDK101", 'requests.get("http://x")', "import requests"),
    ("SDK101", 'httpx.get("http://x")', "import httpx"),
    ("SDK101", 'sqlite3.connect("x.db")', "import sqlite3"),
    ("SDK101", 'create_engine("sqlite://")', "from sqlalchemy import create_engine"),
    ("SDK102", "print(rows)", ""),
    ("SDK102", "input()", ""),
    ("SDK103", 'eval("1")', ""),
    ("SDK103", 'exec("y = 1")', ""),
    ("SDK103", 'compile("1", "f", "eval")', ""),
    ("SDK103", '__import__("os")', ""),
    ("SDK103", 'importlib.import_module("os")', "import importlib"),
    ("SDK103", 'pickle.loads(b"")', "import pickle"),
    ("SDK103", 'marshal.loads(b"")', "import marshal"),
    ("SDK103", 'shelve.open("x")', "import shelve"),
    ("SDK104", "random.random()", "import random"),
    ("SDK104", "np.random.rand(3)", ""),
    ("SDK104", "np.random.seed(1)", ""),
    ("SDK104", "np.random.default_rng()", ""),
    ("SDK104", "rows.sample(2)", ""),
    ("SDK104", "rows.sample(2, random_state=None)", ""),
    ("SDK105", "time.time()", "import time"),
    ("SDK105", "datetime.now()", "from datetime import datetime"),
    ("SDK105", "dt.datetime.utcnow()", "import datetime as dt"),
    ("SDK105", "datetime.datetime.today()", "import datetime"),
    ("SDK105", "date.today()", "from datetime import date"),
    ("SDK105", "pd.Timestamp.now()", ""),
    ("SDK105", "pd.Timestamp.today()", ""),
    ("SDK106", "global COUNTER", ""),
    ("SDK106", 'CACHE["k"] = 1', ""),
    ("SDK106", "CACHE.update(k=1)", ""),
    ("SDK106", "Probe.calls = 1", ""),
    ("SDK106", "type(self).calls = 1", ""),
    ("SDK106", "self.__class__.calls = 1", ""),
]


@pytest.mark.parametrize(("rule", "code", "imports"), BAD, ids=[f"{r}-{c}" for r, c, _ in BAD])
def test_rule_is_found_at_its_line(tmp_path: Path, rule: str, code: str, imports: str) -> None:
    """A step breaking a rule is reported with that rule id at the offending line."""
    path = write_step(tmp_path, code, imports)
    report = check_paths([path])
    found = {(f.rule, f.line) for f in report.findings}
    assert (rule, line_of(path, code)) in found, report.to_text()


def test_finding_names_file_line_column_rule_and_alternative(tmp_path: Path) -> None:
    """The text of a finding names file, line, column, rule id and the allowed alternative."""
    path = write_step(tmp_path, "print(rows)")
    (finding,) = check_paths([path]).findings
    assert finding.col == 9
    assert str(finding).startswith(f"{finding.path}:{line_of(path, 'print(')}:9: SDK102 [print]")
    assert "self.log.info" in str(finding)


NEAR_MISSES = [
    "np.random.default_rng(self.params.seed).normal(size=3)",
    "np.random.default_rng(seed=42)",
    "rows.sample(2, random_state=self.params.seed)",
    "open = rows.copy\nopen()",
    "rows.to_numpy()\nrows.to_dict()\nrows.to_frame()",
    "rows.to_string()",
    'self.log.info("event", extra={"n": 1})',
    'pd.Timestamp("2020-01-01")',
    'pd.to_datetime("2020-01-01")',
    "local = {}\nlocal['k'] = 1\nlocal.update(k=2)",
    "self.total = 1",
    "np.log1p(rows['x'])",
    "rows.assign(y=rows['x'].sum())",
]


@pytest.mark.parametrize("code", NEAR_MISSES)
def test_near_miss_is_not_flagged(tmp_path: Path, code: str) -> None:
    """Code that only looks like a breach produces no finding."""
    report = check_paths([write_step(tmp_path, code)])
    assert report.findings == (), report.to_text()


def test_timedelta_is_not_a_clock_read(tmp_path: Path) -> None:
    """`datetime.timedelta(...)` is not a wall-clock read."""
    path = write_step(tmp_path, "datetime.timedelta(days=1)", "import datetime")
    assert check_paths([path]).findings == ()


def test_parameter_named_open_is_not_the_builtin(tmp_path: Path) -> None:
    """A method parameter named `open` shadows the builtin: calling it is not file I/O."""
    path = write_step(tmp_path, "return self.apply(rows, open=rows.copy)")
    text = path.read_text() + (
        '\n    def apply(self, rows, open):\n        """Apply."""\n        return open()\n'
    )
    path.write_text(text)
    assert check_paths([path]).findings == ()


def test_module_level_import_outside_allow_list(tmp_path: Path) -> None:
    """A module-level import outside the allow-list is SDK107 at the import line."""
    path = write_step(tmp_path, "", "import requests")
    findings = check_paths([path]).findings
    assert [(f.rule, f.line) for f in findings] == [("SDK107", line_of(path, "import requests"))]


def test_import_inside_run_outside_allow_list(tmp_path: Path) -> None:
    """An import inside run() outside the allow-list is SDK107 at its line."""
    path = write_step(tmp_path, "import yaml")
    assert [(f.rule, f.line) for f in check_paths([path]).findings] == [
        ("SDK107", line_of(path, "import yaml"))
    ]


def test_allowed_imports_are_clean(tmp_path: Path) -> None:
    """Imports from the default allow-list are not findings."""
    imports = "import math\nimport scipy\nfrom collections import Counter\nimport re, json"
    assert check_paths([write_step(tmp_path, "", imports)]).findings == ()


def test_helpers_are_checked_transitively(tmp_path: Path) -> None:
    """A module-level helper called from run(), and the helper it calls, are checked too."""
    path = write_step(tmp_path, "return outer(rows)")
    path.write_text(
        path.read_text()
        + "\n\ndef outer(rows):\n    return inner(rows)\n\n\ndef inner(rows):\n"
        + "    print(rows)\n    return rows\n\n\ndef unused():\n    print('never called')\n"
    )
    findings = check_paths([path]).findings
    assert [(f.rule, f.line) for f in findings] == [("SDK102", line_of(path, "print(rows)"))]


def test_modules_without_steps_are_not_checked(tmp_path: Path) -> None:
    """A script without Step subclasses (a data generator) may do I/O."""
    script = tmp_path / "make_data.py"
    script.write_text("import os\nprint(os.listdir('.'))\n")
    assert check_paths([tmp_path]).findings == ()


def test_suppression_with_reason(tmp_path: Path) -> None:
    """`# sdk: allow[RULE] reason` on the line suppresses that rule there."""
    path = write_step(tmp_path, "print(rows)  # sdk: allow[SDK102] debugging the demo only")
    assert check_paths([path]).findings == ()


def test_suppression_of_another_rule_does_not_hide(tmp_path: Path) -> None:
    """A suppression names its rule; other rules on the line are still found."""
    path = write_step(tmp_path, "print(rows)  # sdk: allow[SDK101] wrong rule")
    assert [f.rule for f in check_paths([path]).findings] == ["SDK102"]


def test_suppression_without_reason_is_a_finding(tmp_path: Path) -> None:
    """A suppression without a reason is itself reported, as SDK108 at its line."""
    path = write_step(tmp_path, "print(rows)  # sdk: allow[SDK102]")
    findings = check_paths([path]).findings
    assert [(f.rule, f.line) for f in findings] == [("SDK108", line_of(path, "print(rows)"))]


def test_configuration_from_pyproject(tmp_path: Path) -> None:
    """[tool.sdk.policy] disables rules, allows imports, enables opt-in rules, overrides paths."""
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "analysis"

            [tool.sdk.policy]
            disable = ["SDK104"]
            enable = ["SDK109"]
            allow_imports = ["requests"]

            [[tool.sdk.policy.overrides]]
            paths = ["legacy/*.py"]
            disable = ["SDK101"]
            """
        )
    )
    body = "np.random.rand(3)\ntry:\n    rows = rows.copy()\nexcept Exception:\n    pass\n"
    current = write_step(tmp_path / "steps", body + 'open("x")', "import requests")
    legacy = write_step(tmp_path / "legacy", 'open("x")', "import requests", name="old.py")
    report = check_paths([tmp_path])
    by_file = {(Path(f.path).name, f.rule) for f in report.findings}
    assert by_file == {("probe.py", "SDK101"), ("probe.py", "SDK109")}
    config = load_config(current)
    assert config.root == tmp_path.resolve()
    assert "SDK101" not in config.rules_for(legacy)


def test_invalid_configuration_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown rule id in [tool.sdk.policy] is refused by `sdk check` with exit code 2."""
    (tmp_path / "pyproject.toml").write_text('[tool.sdk.policy]\ndisable = ["SDK999"]\n')
    write_step(tmp_path, "")
    with pytest.raises(PolicyError, match="SDK999"):
        load_config(tmp_path)
    result = cli("check", str(tmp_path))
    assert result.returncode == 2
    assert "SDK999" in result.stderr


def test_every_rule_has_an_alternative() -> None:
    """Every rule has a stable SDK1xx id, a name, a summary and an allowed alternative."""
    assert all(
        rid.startswith("SDK1") and r.name and r.summary and r.alternative
        for rid, r in RULES.items()
    )


def test_sarif_output_is_valid(tmp_path: Path) -> None:
    """`--format sarif` validates against the SARIF 2.1.0 schema and locates each finding."""
    jsonschema = pytest.importorskip("jsonschema")
    folder = tmp_path / "my steps"
    folder.mkdir()
    path = write_step(folder, "print(rows)\nnp.random.rand(2)")
    result = cli("check", str(path), "--format", "sarif")
    assert result.returncode == 1
    log = json.loads(result.stdout)
    validator = jsonschema.Draft4Validator(
        json.loads(SCHEMA.read_text()), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    assert [e.message for e in validator.iter_errors(log)] == []
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": path.as_uri()} and "my%20steps" in uri["uri"]
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["SDK102", "SDK104"]
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": line_of(path, "print(rows)"), "startColumn": 9}
    assert {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]} == set(RULES)


def test_json_output(tmp_path: Path) -> None:
    """`--format json` lists findings with file, line, column, rule and alternative."""
    path = write_step(tmp_path, "print(rows)")
    result = cli("check", str(path), "--format", "json")
    assert result.returncode == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["rule"] == "SDK102"
    assert finding["line"] == line_of(path, "print(rows)")
    assert finding["col"] == 9
    assert Path(finding["path"]).name == "probe.py"
    assert "self.log" in finding["alternative"]


def test_text_output_and_exit_code(tmp_path: Path) -> None:
    """The default text output has one line per finding and the exit code is 1."""
    path = write_step(tmp_path, "print(rows)")
    result = cli("check", str(path))
    assert result.returncode == 1
    assert f"probe.py:{line_of(path, 'print(rows)')}:9: SDK102" in result.stdout


def test_examples_are_clean() -> None:
    """`sdk check examples/` exits 0 and is fast."""
    result = cli("check", "examples/")
    assert result.returncode == 0, result.stdout
    started = time.perf_counter()
    report = check_paths([ROOT / "examples"])
    assert report.is_clean
    assert time.perf_counter() - started < 2


def test_pipeline_target_and_deployment_file() -> None:
    """`sdk check` accepts module:attr targets and deployment files."""
    result = cli("check", "examples.fraud.pipeline:pipeline", "examples/fraud/deploy.toml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_path_is_exit_2() -> None:
    """A path that does not exist is a usage error (exit code 2)."""
    result = cli("check", "no/such/dir")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_bad_target_is_exit_2() -> None:
    """A module:attr target that cannot be imported is a usage error (exit code 2)."""
    assert cli("check", "no_such_module:pipeline").returncode == 2


def test_check_pipeline_of_a_file_pipeline() -> None:
    """check_pipeline on the fraud example reports nothing."""
    from examples.fraud.pipeline import pipeline

    report = check_pipeline(pipeline)
    assert isinstance(report, PolicyReport)
    assert report.findings == ()


def test_source_unavailable_is_reported() -> None:
    """A step whose source cannot be read is reported as SDK100, not silently passed."""
    import pandera.pandas as pa
    from pandera.typing import DataFrame

    from sdk import Step

    class Rows(pa.DataFrameModel):
        """A row."""

        x: float

    namespace = {"Step": Step, "DataFrame": DataFrame, "Rows": Rows}
    source = (
        "class Hidden(Step):\n    '''Hidden.'''\n\n"
        "    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:\n        return rows\n"
    )
    exec(compile(source, "<generated>", "exec", dont_inherit=True), namespace)
    report = check_pipeline(Pipeline([namespace["Hidden"]()]))
    assert [f.rule for f in report.findings] == ["SDK100"]
    assert "Hidden" in report.findings[0].message


def strict_project(tmp_path: Path) -> tuple[Path, Path]:
    """A pipeline file whose step prints, and its input CSV."""
    path = write_step(tmp_path, "print(rows)")
    path.write_text(path.read_text() + "\n\npipeline = Pipeline([Probe()], name='probe')\n")
    path.write_text(
        path.read_text().replace(
            "from sdk import Params, Step", "from sdk import Params, Pipeline, Step"
        )
    )
    data = tmp_path / "rows.csv"
    pd.DataFrame({"x": [1.0, 2.0]}).to_csv(data, index=False)
    return path, data


def test_strict_run_refuses_with_exit_3(tmp_path: Path) -> None:
    """`sdk run FILE:pipeline --strict` refuses a breaching pipeline: exit 3, findings listed."""
    path, data = strict_project(tmp_path)
    out = tmp_path / "out.csv"
    result = cli(
        "run",
        f"{path}:pipeline",
        "--strict",
        "--input",
        f"rows={data}",
        "--output",
        f"probe={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr
    assert "PolicyError" in result.stderr
    assert f"probe.py:{line_of(path, 'print(rows)')}:9: SDK102" in result.stderr
    assert not out.exists()
    plain = cli(
        "run",
        f"{path}:pipeline",
        "--input",
        f"rows={data}",
        "--output",
        f"probe={out}",
        cwd=tmp_path,
    )
    assert plain.returncode == 0, plain.stderr


def test_strict_deployment_file_refuses(tmp_path: Path) -> None:
    """`strict = true` in a deployment file refuses a breaching pipeline with exit 3."""
    path, data = strict_project(tmp_path)
    deploy = tmp_path / "deploy.toml"
    deploy.write_text(
        f'pipeline = "{path.name}:pipeline"\nstrict = true\n[inputs]\nrows = "{data.name}"\n'
    )
    result = cli("run", str(deploy), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "SDK102" in result.stderr


def test_strict_run_of_clean_pipeline_proceeds(tmp_path: Path) -> None:
    """`--strict` lets a clean pipeline (the fraud example) run."""
    out = tmp_path / "scored.csv"
    result = cli("run", "examples/fraud/deploy.toml", "--strict", "--output", f"scored={out}")
    assert result.returncode == 0, result.stderr
    assert out.exists()


def test_findings_sort_and_str() -> None:
    """Findings sort by file, line and column."""
    a = Finding("a.py", 2, 1, "SDK102", "print() inside a step")
    b = Finding("a.py", 1, 5, "SDK101", "open() reads or writes a file")
    assert sorted([a, b]) == [b, a]


def test_policy_in_a_jupyter_kernel(tmp_path: Path) -> None:
    """In a real Jupyter kernel, check_pipeline reads a step from its cell and finds print(),
    and follows helpers imported from the analyst's own module file."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    cells = [
        "import pandera.pandas as pa\nfrom pandera.typing import DataFrame\n"
        "from sdk import Pipeline, Step",
        "class Rows(pa.DataFrameModel):\n    x: float",
        "def shout(rows):\n    print(len(rows))\n    return rows",
        "import nbhelpers\nfrom nbhelpers import load",
        "class Loud(Step):\n    '''Prints.'''\n\n"
        "    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:\n"
        "        print('running')\n        load('x.csv')\n        nbhelpers.ping()\n"
        "        return shout(rows)",
        "from sdk.policy import check_pipeline\n"
        "report = check_pipeline(Pipeline([Loud()]))\n"
        "found = sorted((f.path.rsplit('/', 1)[-1], f.rule, f.line) for f in report.findings)\n"
        "cells = sorted(f[1:] for f in found if f[0] != 'nbhelpers.py')\n"
        "assert cells == [('SDK102', 2), ('SDK102', 5)], report.to_text()\n"
        "files = [f[1:] for f in found if f[0] == 'nbhelpers.py']\n"
        "assert files == [('SDK101', 5), ('SDK105', 9), ('SDK107', 1)], files\n"
        "print('CHECKED', found)",
    ]
    (tmp_path / "nbhelpers.py").write_text(
        "import time\n\n\ndef load(path):\n    return open(path)\n\n\n"
        "def ping():\n    return time.time()\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=180,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    shown = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert "CHECKED" in shown


def test_suppression_of_several_rules(tmp_path: Path) -> None:
    """`allow[A,B] reason` suppresses both rules on the line."""
    path = write_step(tmp_path, "print(np.random.rand(1))  # sdk: allow[SDK102, SDK104] demo")
    assert check_paths([path]).findings == ()


def test_docs_describe_every_rule() -> None:
    """docs/policy.md has a section for every rule id."""
    text = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    assert all(f"### {rule}" in text or f"| {rule} |" in text for rule in RULES)


def test_pre_commit_hook_is_declared() -> None:
    """.pre-commit-hooks.yaml declares the sdk-check hook running `sdk check` on Python files."""
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "- id: sdk-check" in text
    assert "entry: sdk check" in text
    assert "language: python" in text
    assert "types: [python]" in text


def test_step_with_base_from_another_module(tmp_path: Path) -> None:
    """A pipeline target's step whose base step lives in another module is still checked."""
    base = write_step(tmp_path, "", name="base.py")
    (tmp_path / "child.py").write_text(
        textwrap.dedent(
            '''\
            from base import Probe, Rows
            from pandera.typing import DataFrame
            from sdk import Pipeline


            class Loud(Probe):
                """Prints."""

                def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
                    print(rows)
                    return rows


            pipeline = Pipeline([Loud()])
            '''
        )
    )
    assert base.exists()
    result = cli("check", "child.py:pipeline", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "child.py:10:9: SDK102" in result.stdout


def test_helpers_imported_from_own_modules_are_followed(tmp_path: Path) -> None:
    """Helpers from the analyst's own modules (from-import, module import, re-export) are checked
    in their own file, with their own imports; importing an own module is not SDK107."""
    (tmp_path / "helpers.py").write_text(
        "import pandas as pd\nimport requests\n\n\n"
        "def load(path):\n    return pd.read_csv(path)\n\n\n"
        "def fetch(url):\n    return requests.get(url)\n\n\n"
        "def clean(rows):\n    return rows.dropna()\n"
    )
    (tmp_path / "facade.py").write_text("from helpers import fetch as get\n")
    path = write_step(
        tmp_path,
        'rows = ld("x.csv")\nget("http://x")\nreturn helpers.clean(rows)',
        "import helpers\nfrom helpers import load as ld\nfrom facade import get",
    )
    findings = check_paths([path]).findings
    helpers = tmp_path / "helpers.py"
    assert [(Path(f.path).name, f.line, f.rule) for f in findings] == [
        ("helpers.py", 2, "SDK107"),
        ("helpers.py", line_of(helpers, "pd.read_csv"), "SDK101"),
        ("helpers.py", line_of(helpers, "requests.get"), "SDK101"),
    ]


def test_relative_imports_and_base_classes_in_a_package(tmp_path: Path) -> None:
    """In a package, `from .util import f` and `from . import util` are followed, and methods
    inherited from a base class in another module are checked as the step's own."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "util.py").write_text(
        "import datetime\n\n\ndef stamp(rows):\n"
        "    rows['t'] = datetime.datetime.now()\n    return rows\n"
    )
    (package / "base.py").write_text(
        HEADER.format(imports="").replace("class Probe(Step)", "class Base(Step)")
        + "        return rows\n\n    def describe_me(self):\n        print(self)\n"
    )
    (package / "steps.py").write_text(
        textwrap.dedent(
            '''\
            from pandera.typing import DataFrame

            from . import util
            from .base import Base, Rows
            from .util import stamp


            class Child(Base):
                """Stamps."""

                def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
                    return util.stamp(stamp(rows))
            '''
        )
    )
    findings = check_paths([package / "steps.py"]).findings
    assert [(Path(f.path).name, f.rule) for f in findings] == [
        ("base.py", "SDK102"),
        ("util.py", "SDK105"),
    ]


def test_clean_helpers_from_own_modules_are_not_flagged(tmp_path: Path) -> None:
    """A pure helper in an own module gives no finding, and neither does importing it."""
    (tmp_path / "features.py").write_text(
        "import numpy as np\n\n\ndef score(rows):\n    return rows.assign(x=np.log1p(rows['x']))\n"
    )
    path = write_step(tmp_path, "return score(rows)", "from features import score")
    assert check_paths([path]).findings == ()
