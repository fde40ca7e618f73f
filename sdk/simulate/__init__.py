"""Simulating the production stream for prototyping: synthetic rows, injected faults, replay.

In a notebook::

    from sdk.simulate import inject_faults, replay, synthesize

    clean = synthesize(Transactions, 10_000, seed=1)          # valid rows of the model
    faulty, truth = inject_faults(clean, Transactions, seed=2)  # faults, and where they are
    replay(faulty, "redis://127.0.0.1:6379/0?stream=tx", rate=1000)
    result = pipeline.run_stream(faulty, rate=1000)              # the whole loop, in process

and ``sdk simulate synthesize|faults|replay`` on the command line (:mod:`sdk.simulate.cli`).
"""

from sdk.simulate._faults import FAULTS, inject_faults
from sdk.simulate._loop import run_stream
from sdk.simulate._replay import replay
from sdk.simulate._synthesis import synthesize

__all__ = ["FAULTS", "inject_faults", "replay", "run_stream", "synthesize"]
