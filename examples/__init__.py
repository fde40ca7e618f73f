"""Small complete pipelines with sample data, used by the README, the docs and the tests."""
