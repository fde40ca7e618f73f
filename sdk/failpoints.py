"""Failpoints: crash a process at a named point, to test what survives a crash.

``SDK_FAILPOINTS="stream.after_write=3"`` makes the third time the ``stream.after_write``
point is reached kill the process with SIGKILL (as ``kill -9`` would: nothing is flushed,
no handler runs). Several points are separated by commas. Unset (always, outside tests), a
failpoint costs one dictionary lookup.

Points: ``stream.after_read`` (a micro-batch read, not yet run), ``stream.after_write`` (its
outputs and quarantine written, not yet acknowledged), ``stream.after_claim`` (pending
messages claimed from other consumers, not yet processed).
"""

from __future__ import annotations

import os
import signal

__all__ = ["failpoint"]

_counts: dict[str, int] = {}


def _armed() -> dict[str, int]:
    spec = os.environ.get("SDK_FAILPOINTS", "")
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("=")
        armed[name] = int(count or 1)
    return armed


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``name`` is armed and reached its count."""
    if "SDK_FAILPOINTS" not in os.environ:
        return
    target = _armed().get(name)
    if target is None:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= target:
        os.kill(os.getpid(), signal.SIGKILL)
