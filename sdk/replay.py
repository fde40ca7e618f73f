"""Replaying a quarantine through a fixed pipeline (being built: issue 12)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sdk quarantine`` arguments to ``parser``."""
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def main(args: argparse.Namespace) -> int:
    """Run ``sdk quarantine``; return the exit code."""
    raise NotImplementedError("sdk quarantine replay is being built")
