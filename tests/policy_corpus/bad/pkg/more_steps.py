"""Steps reaching own-module helpers through every import spelling."""

from __future__ import annotations

from pandera.typing import DataFrame

import pkg.util
from . import util
from .base import BaseStep, Rows
from .mixins import SaveMixin
from .reexport import stamp_now


class ViaModuleAttribute(BaseStep):
    """`from . import util` then `util.stamp(...)`."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Stamp and add noise."""
        return util.chain(util.stamp(rows))


class ViaReexport(BaseStep):
    """A helper re-exported through another own module."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Stamp."""
        return stamp_now(rows)


class ViaDottedPackage(BaseStep):
    """`import pkg.util` then `pkg.util.relay(...)` (which reaches pkg.helpers)."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Relay."""
        return pkg.util.relay(rows)


class WithMixin(SaveMixin, BaseStep):
    """Inherits save() from a mixin in another own module."""

    def run(self, rows: DataFrame[Rows]) -> DataFrame[Rows]:
        """Save a side copy."""
        self.save(rows)
        return rows
