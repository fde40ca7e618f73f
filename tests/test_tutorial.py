"""The tutorial notebook runs top to bottom in a real Jupyter kernel and shows what it promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import redis_client

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"


def require_redis() -> None:
    """The tutorial's simulated production streams into Redis: skip without a server (a
    failure under SDK_REQUIRE_SERVICES=1, as in CI)."""
    redis_client().close()


def output_text(output: dict[str, Any]) -> str:
    """The text a user sees for one cell output (stream, result, display or error)."""
    if output["output_type"] == "stream":
        return str(output["text"])
    if output["output_type"] == "error":
        return f"{output['ename']}: {output['evalue']}"
    data = output.get("data", {})
    return "\n".join(str(data.get(kind, "")) for kind in ("text/plain", "text/html"))


def cell_text(cell: Any) -> str:
    """Everything a code cell displayed."""
    return "\n".join(output_text(o) for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def executed() -> Any:
    """The tutorial, executed from the docs folder (as the documentation build does)."""
    require_redis()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=300, allow_errors=True,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    return notebook


def code_cells(notebook: Any) -> list[Any]:
    """The notebook's code cells."""
    return [c for c in notebook.cells if c.cell_type == "code"]


def test_no_cell_errors(executed: Any) -> None:
    """Every code cell of the tutorial runs without an error."""
    errors = [
        (i, output_text(o))
        for i, cell in enumerate(executed.cells)
        for o in cell.get("outputs", [])
        if o["output_type"] == "error"
    ]
    assert errors == []
    assert all(c.get("execution_count") for c in code_cells(executed))


def test_assertions_cell_ran(executed: Any) -> None:
    """The cell tagged "assertions" exists and was executed without an error."""
    tagged = [c for c in code_cells(executed) if "assertions" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    (cell,) = tagged
    assert cell.get("execution_count")
    assert not any(o["output_type"] == "error" for o in cell.get("outputs", []))


def test_quarantine_display_shows_reasons(executed: Any) -> None:
    """The `result.quarantine` cell displays quarantined rows with their checks."""
    (cell,) = [c for c in code_cells(executed) if c.source.strip() == "result.quarantine"]
    shown = cell_text(cell)
    assert "not_nullable" in shown
    assert "coerce_dtype" in shown


def test_params_error_message_is_shown(executed: Any) -> None:
    """The tutorial shows the ParamsError for `weight`, naming step, param and types."""
    shown = [cell_text(c) for c in code_cells(executed)]
    matches = [t for t in shown if "'weight'" in t and "score" in t]
    assert matches, shown
    assert "float" in matches[0]


def test_run_logs_render_as_text_in_the_notebook(executed: Any) -> None:
    """In a notebook, a run's records are rendered for people (text lines), not as JSON."""
    (cell,) = [c for c in code_cells(executed) if "result = pipeline.run(" in c.source]
    logged = "".join(o["text"] for o in cell.get("outputs", [])
                     if o["output_type"] == "stream" and o["name"] == "stderr")
    lines = [line for line in logged.splitlines() if line.strip()]
    assert any("run_finished" in line and "status=succeeded" in line for line in lines), lines
    assert not any(line.lstrip().startswith("{") for line in lines), lines
