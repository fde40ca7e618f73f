"""Developer sessions: ``nox -s tests``, ``oldest``, ``lint``, ``bench``, ``demo``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """Run the whole test suite (services are found through SDK_TEST_* variables)."""
    session.install(
        "-e", ".[test]", "-e", "plugins/sdk-serve[test]", "-e", "plugins/sdk-dask[test]"
    )
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def oldest(session: nox.Session) -> None:
    """Run the whole test suite against the oldest versions that pyproject.toml allows.

    A declared floor is a promise: every floor in ``dependencies`` and the ``ml`` and ``redis``
    extras is pinned here exactly, with numpy at the oldest release that pandas 3.1 accepts, and
    so are the floors of the sdk-serve and sdk-dask plugins (dask and distributed 2024.1.0, which
    pass the plugin's tests with pandas 3.1.0).
    When this session fails, fix the code or raise the floor. It is slow (a fresh environment
    and the whole suite), so it is not among the default sessions: ``nox -s oldest``.
    """
    session.install(
        "-e",
        ".[test]",
        "pandas==3.1.0",
        "numpy==2.0.2",
        "pandera==0.32.0",
        "attrs==23.1.0",
        "typeguard==4.2.0",
        "python-json-logger==3.1.0",
        "pluggy==1.5.0",
        "pyarrow==16.0.0",
        "tqdm==4.66.0",
        "scikit-learn==1.6.0",
        "skops==0.12.0",
        "redis==5.0.0",
        "-e",
        "plugins/sdk-serve[test]",  # and the serve plugin's floors
        "fastapi==0.115.0",
        "uvicorn==0.30.0",
        "prometheus-client==0.20.0",
        "orjson==3.9.0",
        "httpx==0.27.0",
        "schemathesis==4.0.0",
        "-e",
        "plugins/sdk-dask[test]",  # and the dask plugin's floors
        "dask==2024.1.0",
        "distributed==2024.1.0",
    )
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff and mypy over the library, tests and benchmarks."""
    session.install("-e", ".[lint]", "-e", "plugins/sdk-serve", "-e", "plugins/sdk-dask")
    session.run("ruff", "check", "sdk", "tests", "benchmarks", "examples", "noxfile.py", "plugins")
    session.run(
        "ruff",
        "format",
        "--check",
        "sdk",
        "plugins/sdk-serve/sdk_serve",
        "plugins/sdk-dask/sdk_dask",
    )
    session.run("mypy")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks against plain pandas and pandera; writes the table into docs/performance.md."""
    session.install("-e", ".[postgres,ml,redis,report]")
    session.run("python", "benchmarks/run.py", "--out", "docs/performance.md", *session.posargs)
    session.run("python", "benchmarks/bench_local.py", "--out", "docs/performance.md")
    session.run("python", "benchmarks/bench_notebook.py", "--out", "docs/performance.md")
    session.run("python", "benchmarks/bench_batch.py", "--out", "docs/performance.md")
    session.run("python", "benchmarks/bench_models.py", "--out", "docs/performance.md")
    session.run("python", "benchmarks/bench_stream.py", "--out", "docs/performance.md")
    session.run("python", "benchmarks/bench_report.py", "--out", "docs/performance.md")
    session.install("-e", "plugins/sdk-serve")
    session.run("python", "benchmarks/bench_serve.py", "--out", "docs/performance.md")
    session.install("-e", "plugins/sdk-dask")
    session.run("python", "benchmarks/bench_dask.py", "--out", "docs/performance.md")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Run the bundled example, as the README's first command does."""
    session.install("-e", ".")
    session.run("sdk", "run", "examples/fraud/deploy.toml")
