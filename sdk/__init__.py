"""pipeline-sdk: notebook pipelines that run unchanged in production.

Importing ``sdk`` installs no log handler and loads no plugin; runners and the CLI do that.
"""

from importlib.metadata import PackageNotFoundError, version

from sdk.contracts import ContractReport, EdgeFinding
from sdk.errors import (
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
from sdk.runners.base import Input, Runner
from sdk.runners.state import Data, RunInfo, RunState
from sdk.step import Step
from sdk.verify import VerifyReport

try:
    __version__ = version("pipeline-sdk")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "QUARANTINE_COLUMNS",
    "ContractReport",
    "Data",
    "DataQualityError",
    "EdgeFinding",
    "IOScheme",
    "IOSchemeError",
    "Input",
    "Loaded",
    "Params",
    "ParamsError",
    "Pipeline",
    "PipelineError",
    "PluginError",
    "PolicyError",
    "PolicyReport",
    "ResourceLimitError",
    "RunInfo",
    "RunResult",
    "RunState",
    "Runner",
    "SchemaViolation",
    "SdkError",
    "Sources",
    "Step",
    "StepDefinitionError",
    "StepError",
    "VerifyReport",
    "__version__",
    "configure_logging",
    "hookimpl",
]
