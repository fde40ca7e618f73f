"""The static policy check of the restricted environment: ``sdk check`` and ``check_pipeline``.

Every ``Step`` subclass's methods, and the module-level functions they call (transitively), are
read as Python syntax trees and checked against the rules of :data:`RULES`. Nothing is executed:
files are parsed, not imported (pipeline targets are imported to find their steps).
Configuration comes from ``[tool.sdk.policy]`` in the nearest ``pyproject.toml``;
``# sdk: allow[RULE] reason`` on a line suppresses a finding there.

The package: :mod:`~sdk.policy.rules` (the rule table), :mod:`~sdk.policy.estimators` (fitted
models: loading them, seeding scikit-learn, fitting shared estimators), :mod:`~sdk.policy.checker`
(the AST analysis of one function), :mod:`~sdk.policy.scan` (finding steps in files, folders and
live pipelines), :mod:`~sdk.policy.config` and :mod:`~sdk.policy.report`.
"""

from sdk.policy.config import PolicyConfig, load_config
from sdk.policy.report import Finding, PolicyReport
from sdk.policy.rules import DEFAULT_ALLOWED_IMPORTS, RULES, Rule
from sdk.policy.scan import check_paths, check_pipeline

__all__ = [
    "DEFAULT_ALLOWED_IMPORTS",
    "RULES",
    "Finding",
    "PolicyConfig",
    "PolicyReport",
    "Rule",
    "check_paths",
    "check_pipeline",
    "load_config",
]
