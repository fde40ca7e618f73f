"""A server whose observer hook fails on requests of three records: an unexpected fault."""

from typing import Any

from scoring import scoring

import sdk
from sdk.plugins import get_plugin_manager


class Boom:
    """An ``sdk_after_unit`` observer that raises for a unit of three rows."""

    @sdk.hookimpl
    def sdk_after_unit(self, run: Any, summary: Any) -> None:
        if summary.rows_in == 3:
            raise RuntimeError("boom: internal details the client must not see")


get_plugin_manager().register(Boom(), name="boom")

__all__ = ["scoring"]
