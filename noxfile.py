"""Developer sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s bench``, ``nox -s demo``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Run the whole test suite (services are found through SDK_TEST_* variables)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff and mypy over the library, tests and benchmarks."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "sdk", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "sdk")
    session.run("mypy")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks against plain pandas and pandera; writes the table into docs/performance.md."""
    session.install("-e", ".[postgres,ml]")
    session.run("python", "benchmarks/run.py", "--out", "docs/performance.md", *session.posargs)
    session.run("python", "benchmarks/bench_batch.py", "--out", "docs/performance.md")
    session.run("python", "benchmarks/bench_models.py", "--out", "docs/performance.md")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Run the bundled example, as the README's first command does."""
    session.install("-e", ".")
    session.run("sdk", "run", "examples/fraud/deploy.toml")
