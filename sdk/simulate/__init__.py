"""Simulating the production stream for prototyping: synthetic rows, injected faults, replay."""

from sdk.simulate._faults import FAULTS, inject_faults
from sdk.simulate._synthesis import synthesize

__all__ = ["FAULTS", "inject_faults", "synthesize"]
