"""Simulating the production stream for prototyping: synthetic rows, injected faults, replay."""

from sdk.simulate._synthesis import synthesize

__all__ = ["synthesize"]
