"""Policy findings of a pipeline, checked when a run opens.

Without ``--strict`` a pipeline that breaks the restricted-environment policy still runs; the
run logs a ``policy_findings`` warning (count and findings) and records them in its manifest
(``policy``), so the breach does not pass unnoticed. The check reads and parses the steps'
source (tens of milliseconds), so its result is kept per pipeline fingerprint (step classes'
source and params) and working folder (where the policy configuration is found), once per
process: a run of one row does not pay it again.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from sdk.logs import get_logger

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = ["policy_findings"]

logger = get_logger("sdk.run")

_checked: dict[tuple[str, str], dict[str, Any] | None] = {}
_lock = threading.Lock()


def _check(pipeline: Pipeline) -> dict[str, Any] | None:
    from sdk.policy import check_pipeline  # the checker is loaded only when a run needs it

    try:
        report = check_pipeline(pipeline)
    except Exception as exc:  # a checker bug must not stop a run that --strict did not ask for
        logger.warning(
            "policy_not_checked", extra={"error": type(exc).__name__, "error_message": str(exc)}
        )
        return None
    return {
        "count": len(report.findings),
        "findings": [finding.as_dict() for finding in report.findings],
    }


def policy_findings(pipeline: Pipeline) -> dict[str, Any] | None:
    """The policy findings of ``pipeline``'s steps, ``{"count", "findings"}`` (each finding
    as :meth:`sdk.policy.Finding.as_dict`), or ``None`` when the check itself failed.

    Logs ``policy_findings`` (WARNING: ``count``, ``findings`` as one line each) when there
    are any, on every run, from the result kept for this process.
    """
    key = (pipeline.fingerprint(), os.getcwd())
    with _lock:
        if key not in _checked:
            _checked[key] = _check(pipeline)
        result = _checked[key]
    if result is not None and result["count"]:
        logger.warning(
            "policy_findings",
            extra={
                "count": result["count"],
                "findings": [
                    f"{f['path']}:{f['line']}:{f['col']}: {f['rule']} [{f['name']}] "
                    f"{f['message']}; instead: {f['alternative']}"
                    for f in result["findings"]
                ],
            },
        )
    return result
