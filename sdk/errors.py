"""The error hierarchy: every error the SDK raises derives from :class:`SdkError`.

Errors carry failure cases, never whole frames, and pickle (they cross process
boundaries in distributed runners).
"""

from __future__ import annotations

from typing import Any


class SdkError(Exception):
    """Base of every error the SDK raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle through ``args``; keep the attributes too.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[SdkError], args: tuple[Any, ...], state: dict[str, Any]) -> SdkError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class StepDefinitionError(SdkError, TypeError):
    """A ``Step`` subclass is written wrongly; raised when the class is defined."""


class ParamsError(SdkError, ValueError):
    """A parameter value does not match its declared type, or is unknown."""


class PipelineError(SdkError, ValueError):
    """A pipeline is wired wrongly (duplicate producers, cycles, contract breaks, missing inputs).

    Attributes:
        problems: every problem found, one message each.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [message])


class SchemaViolation(SdkError):
    """A frame-level validation failure that cannot be attributed to rows.

    Attributes:
        dataset: the dataset being validated.
        column: the column concerned, or ``None`` for a dataframe-wide check.
        check: the failed check.
        step: the step at whose boundary it failed.
        boundary: ``"input"`` or ``"output"``.
    """

    def __init__(
        self,
        message: str,
        *,
        dataset: str,
        column: str | None,
        check: str,
        step: str | None = None,
        boundary: str | None = None,
    ) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.column = column
        self.check = check
        self.step = step
        self.boundary = boundary


class DataQualityError(SdkError):
    """The share of quarantined rows exceeded the error budget ``max_invalid``.

    Raised after the quarantine has been written.

    Attributes:
        run_id: the failed run.
        invalid: rows quarantined.
        total: rows read from the pipeline's inputs.
        max_invalid: the budget that was exceeded (a fraction).
        quarantine: the quarantine records (the failure cases), a DataFrame.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        invalid: int,
        total: int,
        max_invalid: float,
        quarantine: Any = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.invalid = invalid
        self.total = total
        self.max_invalid = max_invalid
        self.quarantine = quarantine


class StepError(SdkError):
    """An exception raised inside a step's ``run``; the original is chained as ``__cause__``.

    Attributes:
        step: the step's name.
        run_id: the run it failed in.
        input_summary: per input dataset, its row count and columns.
        original: ``"ExceptionType: message"`` of the original exception.
    """

    def __init__(
        self,
        message: str,
        *,
        step: str,
        run_id: str,
        input_summary: dict[str, Any],
        original: str,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.run_id = run_id
        self.input_summary = input_summary
        self.original = original


class PluginError(SdkError, TypeError):
    """A plugin is malformed or a requested runner or I/O scheme is not registered."""


class IOSchemeError(SdkError, ValueError):
    """An input or output URI cannot be read or written."""


class ArtifactError(IOSchemeError):
    """An artifact (a fitted model, metrics) cannot be saved or loaded: its file is missing,
    tampered with or truncated, in an untrusted format, or holds types that are not trusted."""


class ResourceLimitError(SdkError):
    """A step would need more memory than allowed (e.g. a global step in the batch runner)."""


class PolicyError(SdkError):
    """A pipeline breaks the restricted-environment policy (``sdk run --strict``).

    Attributes:
        findings: one line per finding (file:line:col rule message).
    """

    def __init__(self, message: str, findings: list[str] | None = None) -> None:
        super().__init__(message)
        self.findings = list(findings or [])
