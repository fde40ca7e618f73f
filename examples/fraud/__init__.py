"""The fraud example: ``sdk run examples.fraud:pipeline`` (as in the design) or the deploy file."""

from examples.fraud.pipeline import pipeline

__all__ = ["pipeline"]
