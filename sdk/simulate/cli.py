"""``sdk simulate``: the command line of :mod:`sdk.simulate` (being built: issue 12)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sdk simulate`` arguments to ``parser``."""
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args: argparse.Namespace) -> int:
    """Run ``sdk simulate``; return the exit code."""
    raise NotImplementedError("sdk simulate is being built")
