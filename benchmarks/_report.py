"""What every benchmark script shares: the machine it ran on and its table in the docs."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

__all__ = ["cpu_model", "versions", "write_section"]


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    cpu = platform.processor() or platform.machine()
    try:
        models = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
    except OSError:
        return cpu
    return models[0] if models else cpu


def versions(dists: Iterable[str]) -> list[str]:
    """``"name version"`` of each distribution (``"name (not installed)"`` when missing)."""
    found = []
    for dist in dists:
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} (not installed)")
    return found


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in ``path``
    with ``section``; append the markers and the section if they are missing."""
    start_marker, end_marker = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if not section.endswith("\n"):
        section += "\n"
    block = f"{start_marker}\n{section}{end_marker}\n"
    text = path.read_text() if path.exists() else ""
    start, end = text.find(start_marker), text.find(end_marker)
    if 0 <= start < end:
        text = text[:start] + block + text[end + len(end_marker) :].removeprefix("\n")
    else:
        text = text + ("\n" if text and not text.endswith("\n") else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
