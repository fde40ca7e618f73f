"""The fingerprint of a pipeline's logic: its step classes' source code and their params.

Equal fingerprints mean equal logic; runs record it in their manifest and refuse to resume a
run whose fingerprint differs.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterable

from sdk.step import Step

__all__ = ["fingerprint", "source_hash"]

_SOURCE_HASHES: dict[type, str] = {}


def fingerprint(steps: Iterable[Step]) -> str:
    """A hash of the steps' names, classes, class source code and params.

    Args:
        steps: a pipeline's steps, in execution order.

    Returns:
        16 hex digits.
    """
    digest = hashlib.sha256()
    for step in steps:
        cls = type(step)
        digest.update(f"{step.name}|{cls.__module__}.{cls.__qualname__}|".encode())
        digest.update(source_hash(cls).encode())
        digest.update(repr(sorted(step.params.as_dict().items())).encode())
    return digest.hexdigest()[:16]


def source_hash(cls: type) -> str:
    """The SHA-256 of a class's source, hex (cached: ``inspect.getsource`` re-reads the file)."""
    if cls not in _SOURCE_HASHES:
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            source = cls.__qualname__
        _SOURCE_HASHES[cls] = hashlib.sha256(source.encode()).hexdigest()
    return _SOURCE_HASHES[cls]
