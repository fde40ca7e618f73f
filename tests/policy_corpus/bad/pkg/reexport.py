"""Re-exports helpers under other names (no step)."""

from __future__ import annotations

from .util import stamp as stamp_now  # noqa: F401
