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
from sdk.policy import (
    DEFAULT_ALLOWED_IMPORTS,
    RULES,
    Finding,
    PolicyReport,
    check_paths,
    check_pipeline,
    load_config,
)

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


def write_step(
    folder: Path, body: str, imports: str = "", name: str = "probe.py", header: str = HEADER
) -> Path:
    """Write a module with one step whose run() body is ``body``; return its path."""
    text = header.format(imports=imports) + textwrap.indent(textwrap.dedent(body), " " * 8)
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


# --- data-science steps: models as artifacts (issue 11) ---------------------------------------

MODEL_HEADER = '''\
import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import DataFrame
from sklearn.linear_model import LinearRegression

from sdk import Artifact, Params, Step
{imports}

MODEL = LinearRegression()


class Rows(pa.DataFrameModel):
    """A row."""

    x: float


class Fit(Step):
    """A step that trains or scores."""

    model = LinearRegression()

    class Params(Params):
        """Params."""

        seed: int = 1

    def run(self, rows: DataFrame[Rows], regressor: Artifact[LinearRegression]) -> DataFrame[Rows]:
        """Run."""
'''

LOAD_FIX = (
    "declare the model as an input annotated sdk.Artifact[T] and let the runner load it "
    "(--input name=path.skops)"
)
UNSEEDED = (
    "without random_state gives a different result on every run; pass "
    "random_state=self.params.seed (a param of the step)"
)


def write_model_step(folder: Path, body: str, imports: str = "") -> Path:
    """A module whose step takes ``regressor: Artifact[LinearRegression]``, with a module-level
    ``MODEL`` and a class attribute ``model`` (both ``LinearRegression()``)."""
    return write_step(folder, body, imports, header=MODEL_HEADER)


def findings_at(path: Path, marker: str) -> list[tuple[str, int, str]]:
    """The (rule, line, message) of every finding on the line of ``marker``."""
    line = line_of(path, marker)
    return [(f.rule, f.line, f.message) for f in check_paths([path]).findings if f.line == line]


MODEL_LOADS = [
    (
        "pickle.load(rows)",
        "import pickle",
        f"pickle.load() unpickles an object, which can run any code; {LOAD_FIX}",
    ),
    (
        'pickle.loads(b"")',
        "import pickle",
        f"pickle.loads() unpickles an object, which can run any code; {LOAD_FIX}",
    ),
    (
        'joblib.load("m.joblib")',
        "import joblib",
        f"joblib.load() unpickles an object, which can run any code; {LOAD_FIX}",
    ),
    (
        'load("m.joblib")',
        "from joblib import load",
        f"joblib.load() unpickles an object, which can run any code; {LOAD_FIX}",
    ),
    (
        'dill.loads(b"")',
        "import dill",
        f"dill.loads() unpickles an object, which can run any code; {LOAD_FIX}",
    ),
    (
        'cloudpickle.load(b"")',
        "import cloudpickle",
        f"cloudpickle.load() unpickles an object, which can run any code; {LOAD_FIX}",
    ),
    (
        'pd.read_pickle("m.pkl")',
        "",
        "pandas.read_pickle() unpickles a file, which can run any code; declare what it holds "
        "as an input (a table: DataFrame[Model]; a model: sdk.Artifact[T]) and let the runner "
        "load it (--input name=path.parquet, --input name=path.skops)",
    ),
    (
        'np.load("m.npy", allow_pickle=True)',
        "",
        f"numpy.load(allow_pickle=...) can unpickle objects from the file; {LOAD_FIX}",
    ),
    (
        'skops.io.load("m.skops")',
        "import skops.io",
        f"skops.io.load() loads a model inside the step; {LOAD_FIX}",
    ),
    (
        'sm.load("m.pickle")',
        "import statsmodels.api as sm",
        f"statsmodels.api.load() unpickles a model, which can run any code; {LOAD_FIX}",
    ),
]


@pytest.mark.parametrize(
    ("code", "imports", "message"), MODEL_LOADS, ids=[c for c, _, _ in MODEL_LOADS]
)
def test_loading_a_model_inside_a_step_is_sdk103(
    tmp_path: Path, code: str, imports: str, message: str
) -> None:
    """Unpickling (or otherwise loading) a model in a step is SDK103, and the message says to
    declare it as an ``sdk.Artifact[T]`` input the runner loads."""
    path = write_model_step(tmp_path, f"m = {code}", imports)
    assert findings_at(path, code) == [("SDK103", line_of(path, code), message)]


def test_numpy_load_without_pickles_stays_file_io(tmp_path: Path) -> None:
    """``np.load(path)`` (pickles refused, numpy's default) is plain file I/O: SDK101."""
    path = write_model_step(tmp_path, 'm = np.load("m.npy")')
    assert findings_at(path, "np.load") == [
        ("SDK101", line_of(path, "np.load"), "numpy.load() reads or writes a file")
    ]


def test_model_load_finding_text_names_the_fix(tmp_path: Path) -> None:
    """What ``sdk check`` prints for ``joblib.load``: rule, place, the artifact fix."""
    path = write_model_step(tmp_path, 'm = joblib.load("m.joblib")', "import joblib")
    result = cli("check", str(path))
    assert result.returncode == 1
    line = line_of(path, "joblib.load")
    assert (
        f"probe.py:{line}:13: SDK103 [dynamic-code] joblib.load() unpickles an object, which can "
        f"run any code; {LOAD_FIX}; instead: "
    ) in result.stdout


UNSEEDED_SKLEARN = [
    (
        "train_test_split(rows)",
        "from sklearn.model_selection import train_test_split",
        "sklearn.model_selection.train_test_split()",
    ),
    (
        "train_test_split(rows, test_size=0.2, random_state=None)",
        "from sklearn.model_selection import train_test_split",
        "sklearn.model_selection.train_test_split()",
    ),
    (
        "RandomForestRegressor(n_estimators=10)",
        "from sklearn.ensemble import RandomForestRegressor",
        "sklearn.ensemble.RandomForestRegressor()",
    ),
    (
        "ensemble.GradientBoostingClassifier()",
        "from sklearn import ensemble",
        "sklearn.ensemble.GradientBoostingClassifier()",
    ),
    (
        "KFold(n_splits=5, shuffle=True)",
        "from sklearn.model_selection import KFold",
        "sklearn.model_selection.KFold(shuffle=True)",
    ),
    (
        'LogisticRegression(solver="saga")',
        "from sklearn.linear_model import LogisticRegression",
        "sklearn.linear_model.LogisticRegression(solver='saga')",
    ),
    ("KMeans(n_clusters=3)", "from sklearn.cluster import KMeans", "sklearn.cluster.KMeans()"),
    (
        "MLPRegressor()",
        "from sklearn.neural_network import MLPRegressor",
        "sklearn.neural_network.MLPRegressor()",
    ),
    (
        "make_classification(n_samples=10)",
        "from sklearn.datasets import make_classification",
        "sklearn.datasets.make_classification()",
    ),
    ("resample(rows)", "from sklearn.utils import resample", "sklearn.utils.resample()"),
]


@pytest.mark.parametrize(
    ("code", "imports", "shown"), UNSEEDED_SKLEARN, ids=[c for c, _, _ in UNSEEDED_SKLEARN]
)
def test_unseeded_sklearn_randomness_is_sdk104(
    tmp_path: Path, code: str, imports: str, shown: str
) -> None:
    """A scikit-learn splitter or estimator that draws random numbers, called without
    ``random_state``, is SDK104 (the unseeded-randomness rule), naming what was called."""
    path = write_model_step(tmp_path, f"m = {code}", imports)
    assert findings_at(path, code) == [("SDK104", line_of(path, code), f"{shown} {UNSEEDED}")]


SEEDED_OR_DETERMINISTIC = [
    ("LinearRegression()", ""),
    ("LinearRegression().fit(rows[['x']], rows['x'])", ""),
    (
        "train_test_split(rows, random_state=self.params.seed)",
        "from sklearn.model_selection import train_test_split",
    ),
    (
        "train_test_split(rows, shuffle=False)",
        "from sklearn.model_selection import train_test_split",
    ),
    (
        "RandomForestRegressor(random_state=self.params.seed)",
        "from sklearn.ensemble import RandomForestRegressor",
    ),
    ("RandomForestRegressor(random_state=0)", "from sklearn.ensemble import RandomForestRegressor"),
    (
        "RandomForestRegressor(**self.params.options)",
        "from sklearn.ensemble import RandomForestRegressor",
    ),
    ("np.random.default_rng(self.params.seed)", ""),
    ("KFold(n_splits=5)", "from sklearn.model_selection import KFold"),
    (
        "KFold(n_splits=5, shuffle=True, random_state=self.params.seed)",
        "from sklearn.model_selection import KFold",
    ),
    ("LogisticRegression(max_iter=500)", "from sklearn.linear_model import LogisticRegression"),
    ('LogisticRegression(solver="lbfgs")', "from sklearn.linear_model import LogisticRegression"),
    ("PCA(n_components=2)", "from sklearn.decomposition import PCA"),
    (
        "cross_val_score(LinearRegression(), rows, rows['x'], cv=5)",
        "from sklearn.model_selection import cross_val_score",
    ),
    (
        "make_pipeline(StandardScaler(), LinearRegression())",
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler",
    ),
    ("sm.OLS(rows['x'], rows[['x']]).fit()", "import statsmodels.api as sm"),
]


@pytest.mark.parametrize(
    ("code", "imports"), SEEDED_OR_DETERMINISTIC, ids=[c for c, _ in SEEDED_OR_DETERMINISTIC]
)
def test_seeded_or_deterministic_modelling_is_not_flagged(
    tmp_path: Path, code: str, imports: str
) -> None:
    """Seeds from params (or constants), estimators without randomness (``LinearRegression``),
    and splitters that do not shuffle give no finding."""
    path = write_model_step(tmp_path, f"m = {code}", imports)
    assert check_paths([path]).findings == (), check_paths([path]).to_text()


def _fit_message(expr: str, attr: str, kept: str, kind: str | None) -> str:
    create = f" (model = {kind}())" if kind else ""
    return (
        f"{expr}.{attr}() fits {expr}, an estimator kept {kept}, so its fitted state leaks into "
        f"later runs; create the estimator inside run(){create} and return it as "
        f"sdk.Artifact[{kind or 'T'}]"
    )


SHARED_FITS = [
    (
        "MODEL.fit(rows[['x']], rows['x'])",
        _fit_message("MODEL", "fit", "at module level", "LinearRegression"),
    ),
    (
        "MODEL.partial_fit(rows[['x']])",
        _fit_message("MODEL", "partial_fit", "at module level", "LinearRegression"),
    ),
    (
        "self.model.fit(rows[['x']], rows['x'])",
        _fit_message("self.model", "fit", "as a class attribute", "LinearRegression"),
    ),
    (
        "type(self).model.fit(rows[['x']], rows['x'])",
        _fit_message("type(self).model", "fit", "as a class attribute", "LinearRegression"),
    ),
    (
        "self.__class__.model.fit_transform(rows)",
        _fit_message(
            "self.__class__.model", "fit_transform", "as a class attribute", "LinearRegression"
        ),
    ),
    (
        "regressor.fit(rows[['x']], rows['x'])",
        "regressor.fit() changes the input artifact regressor, the same object in every unit; "
        "fit a copy (model = sklearn.base.clone(regressor)) and return it as "
        "sdk.Artifact[LinearRegression]",
    ),
]


@pytest.mark.parametrize(("code", "message"), SHARED_FITS, ids=[c for c, _ in SHARED_FITS])
def test_fitting_a_shared_estimator_is_sdk106(tmp_path: Path, code: str, message: str) -> None:
    """Fitting an estimator kept at module level, on the class, or handed in as an input
    artifact changes state every later run (or unit) sees: SDK106, naming the estimator and the
    fix."""
    path = write_model_step(tmp_path, code)
    assert findings_at(path, code) == [("SDK106", line_of(path, code), message)]


LOCAL_FITS = [
    "model = LinearRegression()\nmodel.fit(rows[['x']], rows['x'])",
    "model = LinearRegression().fit(rows[['x']], rows['x'])",
    "regressor.predict(rows[['x']])",
    "MODEL.predict(rows[['x']])\nself.model.predict(rows[['x']])",
    "regressor = clone(regressor)\nregressor.fit(rows[['x']], rows['x'])",
    "fresh = clone(MODEL)\nfresh.fit(rows[['x']], rows['x'])",
    "self.own = LinearRegression()\nself.own.fit(rows[['x']], rows['x'])",
]


@pytest.mark.parametrize("code", LOCAL_FITS)
def test_fitting_an_estimator_created_in_run_is_not_flagged(tmp_path: Path, code: str) -> None:
    """An estimator created in run() (or a clone of a shared one) may be fitted; predicting
    with a shared or input model changes nothing."""
    path = write_model_step(tmp_path, code, "from sklearn.base import clone")
    assert check_paths([path]).findings == (), check_paths([path]).to_text()


def test_class_estimator_rebound_per_instance_is_instance_state(tmp_path: Path) -> None:
    """A class-level estimator that run() replaces on the instance (``self.model = ...``) is
    instance state: fitting it is not flagged."""
    path = write_model_step(tmp_path, "self.model = LinearRegression()\nself.model.fit(rows, rows)")
    assert check_paths([path]).findings == (), check_paths([path]).to_text()


def test_modelling_libraries_are_on_the_allow_list(tmp_path: Path) -> None:
    """sklearn, scipy and statsmodels (and their submodules) may be imported by default."""
    assert {"sklearn", "scipy", "statsmodels"} <= set(DEFAULT_ALLOWED_IMPORTS)
    imports = (
        "import sklearn\nimport sklearn.linear_model\nfrom sklearn.ensemble import "
        "RandomForestRegressor\nimport scipy.stats as st\nfrom scipy import optimize\n"
        "import statsmodels.api as sm\nimport statsmodels.formula.api as smf"
    )
    body = "from sklearn.metrics import r2_score\nimport statsmodels.tsa.api as tsa"
    path = write_model_step(tmp_path, body, imports)
    assert check_paths([path]).findings == (), check_paths([path]).to_text()


def test_dataset_loaders_of_modelling_libraries_are_io(tmp_path: Path) -> None:
    """``sklearn.datasets.load_*/fetch_*`` and statsmodels' dataset readers are SDK101; the
    process-wide ``sklearn.set_config`` is SDK106."""
    body = (
        'a = fetch_openml("houses")\nb = load_iris()\n'
        'c = sm.datasets.get_rdataset("Guerry", "HistData")\nsklearn.set_config(assume_finite=True)'
    )
    imports = (
        "import sklearn\nimport statsmodels.api as sm\n"
        "from sklearn.datasets import fetch_openml, load_iris"
    )
    path = write_model_step(tmp_path, body, imports)
    found = [(f.rule, f.line, f.message) for f in check_paths([path]).findings]
    assert found == [
        (
            "SDK101",
            line_of(path, "fetch_openml("),
            "sklearn.datasets.fetch_openml() reads or writes dataset files (or downloads them)",
        ),
        (
            "SDK101",
            line_of(path, "load_iris()"),
            "sklearn.datasets.load_iris() reads or writes dataset files (or downloads them)",
        ),
        (
            "SDK101",
            line_of(path, "get_rdataset("),
            "statsmodels.api.datasets.get_rdataset() reads a dataset from a file or the network",
        ),
        (
            "SDK106",
            line_of(path, "set_config("),
            "sklearn.set_config() changes process-wide settings",
        ),
    ]


def test_sklearn_randomness_table_matches_scikit_learn() -> None:
    """Every callable of the documented list exists in the installed scikit-learn and takes a
    keyword-only ``random_state`` (so a positional seed cannot be missed), and every condition
    names one of its keyword-only parameters."""
    import importlib
    import inspect
    import warnings

    from sdk.policy.estimators import SKLEARN_RANDOM

    pytest.importorskip("sklearn")
    from sklearn.utils import all_estimators

    known: dict[str, object] = dict(all_estimators())
    for module in ("model_selection", "inspection", "feature_selection", "utils", "datasets"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = importlib.import_module(f"sklearn.{module}")
        known.update({n: getattr(found, n) for n in dir(found) if not n.startswith("_")})
    makers = [n for n in known if n.startswith("make_") and hasattr(known[n], "__module__")]
    for name in [*SKLEARN_RANDOM, *(n for n in makers if "datasets" in known[n].__module__)]:
        assert name in known, name
        params = inspect.signature(known[name]).parameters  # type: ignore[arg-type]
        assert params["random_state"].kind is inspect.Parameter.KEYWORD_ONLY, name
        when = SKLEARN_RANDOM.get(name)
        if when is not None:
            assert params[when.keyword].kind is inspect.Parameter.KEYWORD_ONLY, name
