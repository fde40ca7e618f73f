"""Simulating the production stream for prototyping (being built: issue 12)."""
