"""pipeline-sdk: notebook pipelines that run unchanged in production.

Importing ``sdk`` installs no log handler and loads no plugin; runners and the CLI do that.
"""

from importlib.metadata import PackageNotFoundError, version

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
from sdk.io import IOScheme, Loaded
from sdk.logs import configure_logging
from sdk.params import Params
from sdk.pipeline import Pipeline
from sdk.policy import PolicyReport
from sdk.quarantine import QUARANTINE_COLUMNS, Sources
from sdk.result import RunResult
from sdk.runners.base import BASE_OPTIONS, Runner
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
from sdk.step import Step
from sdk.verify import VerifyReport

try:
    __version__ = version("pipeline-sdk")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

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
    "Params",
    "ParamsError",
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
    "configure_logging",
    "hookimpl",
    "needed_datasets",
    "plan",
    "run_unit",
    "validated_name",
]
