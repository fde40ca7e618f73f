"""pipeline-sdk: notebook pipelines that run unchanged in production.

Importing ``sdk`` installs no log handler and loads no plugin; runners and the CLI do that.
It imports nothing heavy either: each public name is imported from its module the first time it
is used (PEP 562), so ``import sdk`` and ``sdk --version`` do not pay for pandas, pandera or
pyarrow.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdk.artifact import Artifact, Metrics
    from sdk.contracts import ContractReport, EdgeFinding
    from sdk.errors import (
        ArtifactError,
        DataQualityError,
        IOSchemeError,
        ParamsError,
        PipelineError,
        PluginError,
        PolicyError,
        ResourceLimitError,
        SchemaViolation,
        SdkError,
        StepDefinitionError,
        StepError,
    )
    from sdk.hookspecs import hookimpl
    from sdk.io import IOScheme, Loaded, Part, read_part, read_parts
    from sdk.io.outparts import (
        OutputPart,
        discard_output_parts,
        output_parts_supported,
        output_staging,
        publish_output_parts,
        write_output_part,
    )
    from sdk.logs import configure_logging, get_logger, run_context
    from sdk.params import Params
    from sdk.pipeline import Pipeline
    from sdk.policy import PolicyReport
    from sdk.quarantine import QUARANTINE_COLUMNS, Sources
    from sdk.report import build_report, write_report
    from sdk.result import RunResult
    from sdk.runners.base import BASE_OPTIONS, Runner
    from sdk.runners.batch import memory_limit_bytes
    from sdk.runners.inputs import Input
    from sdk.runners.options import RunnerOption
    from sdk.runners.plan import needed_datasets, plan
    from sdk.runners.session import RunRequest, RunSession, Spilled
    from sdk.runners.stage import (
        BoundaryCounts,
        Data,
        Stage,
        StepTotals,
        UnitContext,
        UnitResult,
        UnitSummary,
        validated_name,
    )
    from sdk.runners.state import RunInfo, RunState
    from sdk.runners.unit import STEP_ERROR, run_unit
    from sdk.simulate import inject_faults, synthesize
    from sdk.step import Step
    from sdk.verify import VerifyReport

    __version__: str

_EXPORTS: dict[str, tuple[str, ...]] = {
    "sdk.artifact": ("Artifact", "Metrics"),
    "sdk.contracts": ("ContractReport", "EdgeFinding"),
    "sdk.errors": (
        "ArtifactError",
        "DataQualityError",
        "IOSchemeError",
        "ParamsError",
        "PipelineError",
        "PluginError",
        "PolicyError",
        "ResourceLimitError",
        "SchemaViolation",
        "SdkError",
        "StepDefinitionError",
        "StepError",
    ),
    "sdk.hookspecs": ("hookimpl",),
    "sdk.io": ("IOScheme", "Loaded", "Part", "read_part", "read_parts"),
    "sdk.io.outparts": (
        "OutputPart",
        "discard_output_parts",
        "output_parts_supported",
        "output_staging",
        "publish_output_parts",
        "write_output_part",
    ),
    "sdk.logs": ("configure_logging", "get_logger", "run_context"),
    "sdk.params": ("Params",),
    "sdk.pipeline": ("Pipeline",),
    "sdk.policy": ("PolicyReport",),
    "sdk.quarantine": ("QUARANTINE_COLUMNS", "Sources"),
    "sdk.result": ("RunResult",),
    "sdk.runners.base": ("BASE_OPTIONS", "Runner"),
    "sdk.runners.batch": ("memory_limit_bytes",),
    "sdk.runners.inputs": ("Input",),
    "sdk.runners.options": ("RunnerOption",),
    "sdk.runners.plan": ("needed_datasets", "plan"),
    "sdk.runners.session": ("RunRequest", "RunSession", "Spilled"),
    "sdk.runners.stage": (
        "BoundaryCounts",
        "Data",
        "Stage",
        "StepTotals",
        "UnitContext",
        "UnitResult",
        "UnitSummary",
        "validated_name",
    ),
    "sdk.report": ("build_report", "write_report"),
    "sdk.runners.state": ("RunInfo", "RunState"),
    "sdk.runners.unit": ("STEP_ERROR", "run_unit"),
    "sdk.simulate": ("inject_faults", "synthesize"),
    "sdk.step": ("Step",),
    "sdk.verify": ("VerifyReport",),
}
"""Where each public name lives, by module."""
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "BASE_OPTIONS",
    "QUARANTINE_COLUMNS",
    "STEP_ERROR",
    "Artifact",
    "ArtifactError",
    "BoundaryCounts",
    "ContractReport",
    "Data",
    "DataQualityError",
    "EdgeFinding",
    "IOScheme",
    "IOSchemeError",
    "Input",
    "Loaded",
    "Metrics",
    "OutputPart",
    "Params",
    "ParamsError",
    "Part",
    "Pipeline",
    "PipelineError",
    "PluginError",
    "PolicyError",
    "PolicyReport",
    "ResourceLimitError",
    "RunInfo",
    "RunRequest",
    "RunResult",
    "RunSession",
    "RunState",
    "Runner",
    "RunnerOption",
    "SchemaViolation",
    "SdkError",
    "Sources",
    "Spilled",
    "Stage",
    "Step",
    "StepDefinitionError",
    "StepError",
    "StepTotals",
    "UnitContext",
    "UnitResult",
    "UnitSummary",
    "VerifyReport",
    "__version__",
    "build_report",
    "configure_logging",
    "discard_output_parts",
    "get_logger",
    "hookimpl",
    "inject_faults",
    "memory_limit_bytes",
    "needed_datasets",
    "output_parts_supported",
    "output_staging",
    "plan",
    "publish_output_parts",
    "read_part",
    "read_parts",
    "run_context",
    "run_unit",
    "synthesize",
    "validated_name",
    "write_output_part",
    "write_report",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pipeline-sdk")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """Import a public name (or a submodule, ``sdk.runners``) the first time it is used."""
    if name == "__version__":
        value: Any = _version()
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
