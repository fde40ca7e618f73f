"""Dynamic checks of what steps declare: run each step on sample data and try to break it.

:func:`verify_pipeline` runs every step of a pipeline on a sample of its inputs (each step
gets the validated outputs of its producers, as in a local run; the inputs of a join are
sampled together by key, see :mod:`sdk.verify.sample`) and checks that:

- a ``scope = "rows"`` step gives the same rows however its input is shuffled and chunked;
- a ``partition_by`` step gives the same rows however its inputs are partitioned by its key
  (every key column);
- every step gives the same output twice on the same input (determinism);
- no step changes its input frames in place.

A broken property becomes a :class:`Violation` naming the step, the property, a minimal example
(a few input rows, found by shrinking) and a suggested fix. See ``docs/verify.md``.
"""

from sdk.verify.pipeline import verify_pipeline
from sdk.verify.report import PROPERTIES, VerifyReport, Violation

__all__ = ["PROPERTIES", "VerifyReport", "Violation", "verify_pipeline"]
