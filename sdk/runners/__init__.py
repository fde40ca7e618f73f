"""Runners: how a pipeline's work is split and where it runs.

Every runner subclasses :class:`sdk.Runner`; the base does validation, quarantine, logging,
hooks and timing once, so every runner behaves alike.
"""
