"""Environment variables in URIs: ``${VAR}`` is replaced by the variable's value."""

from __future__ import annotations

import os
import re

from sdk.errors import PipelineError

__all__ = ["expand_env"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, where: str) -> str:
    """Replace each ``${VAR}`` in ``text`` by the environment variable's value.

    Secrets (database passwords) belong in the environment, not in deployment files or on the
    command line: write ``postgresql://app:${PGPASS}@db/prod?table=t``.

    Raises:
        PipelineError: a variable is not set (naming it and ``where`` it is used).
    """
    missing = [name for name in _VARIABLE.findall(text) if name not in os.environ]
    if missing:
        raise PipelineError(
            f"{where}: environment variable(s) {', '.join(sorted(set(missing)))} not set; "
            f"export them before running"
        )
    return _VARIABLE.sub(lambda m: os.environ[m.group(1)], text)
