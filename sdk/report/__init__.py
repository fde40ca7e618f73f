"""The run report: one self-contained HTML page per run (``sdk report``, ``docs/report.md``).

The page shows the run's identity, its pipeline graph (an inline SVG), every validation
boundary, the quarantine explorer (counts, top values, a sample), the profiles of its inputs
and outputs, params, inputs, metrics and artifacts, and for a failed run the error. Its element
ids, classes and ``data-*`` attributes are a stable contract (``docs/report.md``); CSS and
JavaScript are inline and nothing is loaded from the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sdk.errors import SdkError
from sdk.report._compare import comparison
from sdk.report._model import find_run_folder, model_from_folder, model_from_result

if TYPE_CHECKING:
    from types import ModuleType

    from sdk.result import RunResult

__all__ = [
    "ReportUnavailable",
    "build_report",
    "compact_of_result",
    "report_of_result",
    "write_report",
]


class ReportUnavailable(SdkError, ImportError):
    """The report's libraries (the ``report`` extra: jinja2, networkx) are not installed."""


def _renderer() -> ModuleType:
    """``sdk.report._render``, imported when a page is rendered: jinja2 and networkx are the
    ``report`` extra, not needed to run pipelines."""
    try:
        from sdk.report import _render
    except ImportError as exc:
        raise ReportUnavailable(
            f"the run report needs jinja2 and networkx ({exc.name} is not installed): "
            f"pip install 'pipeline-sdk[report]'"
        ) from None
    return _render


def build_report(
    run: str | Path, *, run_dir: str | Path | None = None, compare: str | Path | None = None
) -> str:
    """The HTML report of ``run``, compared with run ``compare`` when given.

    Args:
        run: a run id (looked up in ``run_dir``, else ``$SDK_RUN_DIR``, else ``.sdk/runs``, as
            ``sdk runs`` does), or the path of a run directory or of a ``manifest.json``.
        run_dir: the folder of run directories, for run ids.
        compare: another run, named the same ways: the page then begins with the two runs
            side by side (quarantine rate per check, rows per boundary, params, fingerprint,
            input hashes, versions).

    Raises:
        sdk.PipelineError: no such run.
        ReportUnavailable: jinja2 or networkx is not installed (the ``report`` extra).
    """
    render = _renderer()
    model = model_from_folder(find_run_folder(run, run_dir))
    other = None
    if compare is not None:
        other = comparison(model, model_from_folder(find_run_folder(compare, run_dir)))
    return str(render.render_page(model, other))


def write_report(
    run: str | Path,
    out: str | Path | None = None,
    *,
    run_dir: str | Path | None = None,
    compare: str | Path | None = None,
) -> Path:
    """Write the report of ``run`` (see :func:`build_report`) and return its path.

    ``out`` defaults to ``report.html`` in the run's directory, or ``report-vs-<other run
    id>.html`` there with ``compare``.
    """
    folder = find_run_folder(run, run_dir)
    html = build_report(folder, compare=compare, run_dir=run_dir)
    if out is None:
        if compare is None:
            out = folder / "report.html"
        else:
            out = folder / f"report-vs-{find_run_folder(compare, run_dir).name}.html"
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def report_of_result(result: RunResult) -> str:
    """The HTML report of an in-memory :class:`~sdk.RunResult` (its manifest, quarantine and
    profile; no run directory needed)."""
    return str(_renderer().render_page(model_from_result(result)))


def compact_of_result(result: RunResult, *, rows_out: dict[str, int], extra: str = "") -> str:
    """The compact view of ``result`` for a notebook (``RunResult._repr_html_``): identity,
    graph, boundaries and quarantine counts, plus ``extra`` (HTML already escaped), and a note
    on how to write the full report."""
    render = _renderer()
    model = model_from_result(result)
    note = (
        "The full report (quarantine explorer, profiles, params, inputs): "
        "result.report_html() writes it"
        + (f", as does `sdk report {result.run_id}`." if model.folder else ".")
    )
    return str(render.render_compact(model, note, rows_out, extra))
