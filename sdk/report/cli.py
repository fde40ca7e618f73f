"""``sdk report``: write a run's HTML report and print its path.

::

    sdk report RUN_ID                      # <run dir>/RUN_ID/report.html
    sdk report runs/RUN_ID/manifest.json --out report.html --open
    sdk report RUN_A --compare RUN_B       # <run dir>/RUN_A/report-vs-RUN_B.html

A run is named by its id (in ``--run-dir``, ``$SDK_RUN_DIR`` or ``.sdk/runs``), its run
directory or its ``manifest.json``. Errors derived from :class:`sdk.SdkError` (no such run)
propagate to :mod:`sdk.cli`, which prints them and exits 2.
"""

from __future__ import annotations

import argparse
import webbrowser

from sdk.report import write_report

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``sdk report`` to ``parser``."""
    parser.add_argument(
        "run", metavar="RUN_ID_OR_MANIFEST", help="a run id, a run directory or a manifest.json"
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="where to write the page (default: report.html in the run's directory)",
    )
    parser.add_argument("--open", action="store_true", help="open the page in a web browser")
    parser.add_argument(
        "--compare",
        metavar="RUN_B",
        help="put run B beside it: quarantine rate per check, rows, params, fingerprint",
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="the folder of run directories (default $SDK_RUN_DIR)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args: argparse.Namespace) -> int:
    """Write the report, print its path, and open it when asked; return the exit code."""
    path = write_report(args.run, args.out, run_dir=args.run_dir, compare=args.compare)
    print(path)
    if args.open:
        webbrowser.open(path.resolve().as_uri())
    return 0
