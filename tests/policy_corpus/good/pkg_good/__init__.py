"""A clean analyst package: helpers in a sibling module."""
