"""The ``sdk`` command line: ``run``, ``describe``, ``runners``, ``runs``, ``check``.

Exit codes: 0 success; 1 the run failed (data quality, a step error, a frame-level schema
violation) or ``sdk check`` found policy breaches; 2 a usage or definition error (bad arguments,
target, params, wiring, I/O); 3 ``sdk run --strict`` refused a pipeline that breaks the policy;
``128 + signal`` a run stopped by SIGINT (130) or SIGTERM (143), recorded ``interrupted``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sdk import __version__
from sdk.deploy import Deployment, expand_env, load_deployment, load_pipeline
from sdk.errors import DataQualityError, PolicyError, SchemaViolation, SdkError, StepError
from sdk.io import redact
from sdk.logs import configure_logging, get_logger, route_warnings
from sdk.pipeline import Pipeline
from sdk.runners.signals import RunInterrupted

__all__ = ["main"]

logger = get_logger("sdk.cli")

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_POLICY = 3


class _Usage(Exception):
    """A command-line usage error (exit code 2)."""


def _pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _Usage(f"{flag} {item!r} must be written NAME=VALUE")
        pairs[key.strip()] = value
    return pairs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdk", description="Run and inspect pipeline-sdk pipelines."
    )
    parser.add_argument("--version", action="version", version=f"pipeline-sdk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a pipeline (module:attr or a deployment .toml)")
    run.add_argument("target", help="module:attr, path/to/file.py:attr, or a deployment .toml")
    run.add_argument("--runner", help="runner name (see `sdk runners`); default local")
    run.add_argument("--input", action="append", metavar="NAME=URI", help="an input dataset")
    run.add_argument("--output", action="append", metavar="NAME=URI", help="a dataset to write")
    run.add_argument("--quarantine", metavar="URI", help="where to write the quarantine")
    run.add_argument(
        "--param", action="append", metavar="STEP.FIELD=VALUE", help="override a param"
    )
    run.add_argument(
        "--max-invalid", type=float, metavar="FRACTION", help="error budget for this run"
    )
    run.add_argument("--run-id", help="the run's id (default: generated)")
    run.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run (batch)")
    run.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    run.add_argument(
        "--trust-artifact",
        action="append",
        metavar="PATTERN",
        help="load artifact files matching this glob with pickle (.joblib, .pkl) or with types "
        "skops does not trust by default; only for files you produced (repeatable)",
    )
    run.add_argument(
        "--runner-option",
        action="append",
        metavar="KEY=VALUE",
        help="a runner option (repeatable; `sdk runners` lists each runner's options)",
    )
    run.add_argument("--run-dir", help="alias of --runner-option run_dir=PATH")
    run.add_argument("--chunk-rows", help="alias of --runner-option chunk_rows=N (batch)")
    run.add_argument(
        "--memory-limit", help="alias of --runner-option memory_limit=SIZE (batch), e.g. 2GB"
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="refuse to start if a step breaks the policy (see `sdk check`); exit code 3",
    )
    run.add_argument(
        "--log-format",
        choices=("json", "text"),
        help="json (default when stderr is not a terminal) or text",
    )
    run.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING, ...")
    run.add_argument("--debug", action="store_true", help="show tracebacks")

    describe = sub.add_parser("describe", help="print steps, datasets, models, scopes and params")
    describe.add_argument("target", help="module:attr or a deployment .toml")
    describe.add_argument("--debug", action="store_true", help="show tracebacks")

    runners = sub.add_parser("runners", help="list registered runners and where they come from")
    runners.add_argument("--debug", action="store_true", help="show tracebacks")

    runs = sub.add_parser("runs", help="list runs and their status; `sdk runs show RUN_ID`")
    runs.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    runs.add_argument("run_id", nargs="?", help="the run to show")
    runs.add_argument("--run-dir", help="where run directories live (default .sdk/runs)")
    runs.add_argument(
        "--metrics", action="store_true", help="list the metrics each run's steps returned"
    )
    runs.add_argument("--debug", action="store_true", help="show tracebacks")

    check = sub.add_parser(
        "check", help="check steps against the restricted-environment policy (no execution)"
    )
    check.add_argument(
        "targets",
        nargs="+",
        metavar="PATH_OR_TARGET",
        help="files, folders, module:attr, path/to/file.py:attr or a deployment .toml",
    )
    check.add_argument(
        "--format", choices=("text", "json", "sarif"), default="text", help="output format"
    )
    check.add_argument(
        "--data",
        action="append",
        metavar="NAME=URI",
        help="also run the steps on sample data and verify their declared scope, determinism "
        "and that they do not mutate inputs (targets must be pipelines)",
    )
    check.add_argument("--sample-rows", type=int, default=2000, help="rows sampled by --data")
    check.add_argument(
        "--trust-artifact", action="append", metavar="PATTERN", help="as for `sdk run`"
    )
    check.add_argument("--debug", action="store_true", help="show tracebacks")
    simulate = sub.add_parser(
        "simulate", help="simulate a production stream: synthesize rows, inject faults, replay"
    )
    _add_simulate(simulate)
    quarantine = sub.add_parser("quarantine", help="work with a quarantine: `replay` it")
    _add_quarantine(quarantine)
    return parser


def _add_simulate(parser: argparse.ArgumentParser) -> None:
    from sdk.simulate.cli import add_arguments

    add_arguments(parser)


def _add_quarantine(parser: argparse.ArgumentParser) -> None:
    from sdk.replay import add_arguments

    add_arguments(parser)


def _simulate(args: argparse.Namespace) -> int:
    from sdk.simulate.cli import main as simulate_main

    return simulate_main(args)


def _quarantine(args: argparse.Namespace) -> int:
    from sdk.replay import main as replay_main

    pipeline, deployment = _target(args.target)
    return replay_main(args, pipeline, deployment)


def _target(target: str) -> tuple[Pipeline, Deployment | None]:
    if target.endswith(".toml"):
        deployment = load_deployment(target)
        return load_pipeline(deployment.pipeline, deployment.path.parent.resolve()), deployment
    return load_pipeline(target), None


def _refuse_if_breaching(pipeline: Pipeline) -> None:
    """``--strict``: raise PolicyError listing every finding, before anything runs."""
    from sdk.policy import check_pipeline

    report = check_pipeline(pipeline)
    if report.findings:
        lines = [str(f) for f in report.findings]
        raise PolicyError(
            f"pipeline {pipeline.name!r} breaks the policy; strict mode refuses to run it "
            f"({len(lines)} finding(s)):\n" + "\n".join(f"  {line}" for line in lines),
            lines,
        )


def _run(args: argparse.Namespace) -> int:
    configure_logging(args.log_format, level=args.log_level.upper() if args.log_level else None)
    route_warnings()
    pipeline, deployment = _target(args.target)
    if args.strict or (deployment is not None and deployment.strict):
        _refuse_if_breaching(pipeline)
    inputs: dict[str, Any] = dict(deployment.inputs) if deployment else {}
    outputs = dict(deployment.outputs) if deployment else {}
    params: dict[str, Any] = dict(deployment.params) if deployment else {}
    given = {
        **{f"--input {k}": v for k, v in _pairs(args.input, "--input").items()},
        **{f"--output {k}": v for k, v in _pairs(args.output, "--output").items()},
        **({"--quarantine": args.quarantine} if args.quarantine else {}),
    }
    for flag, uri in given.items():
        if redact(uri) != uri:  # the password is in the shell history and the process list
            logger.warning("password_on_command_line", extra={"flag": flag, "uri": redact(uri)})
    inputs.update(
        {k: expand_env(v, f"--input {k}") for k, v in _pairs(args.input, "--input").items()}
    )
    outputs.update(
        {k: expand_env(v, f"--output {k}") for k, v in _pairs(args.output, "--output").items()}
    )
    params.update(_pairs(args.param, "--param"))
    quarantine = (
        expand_env(args.quarantine, "--quarantine")
        if args.quarantine
        else (deployment.quarantine if deployment else None)
    )
    max_invalid = (
        args.max_invalid
        if args.max_invalid is not None
        else (deployment.max_invalid if deployment else None)
    )
    runner = args.runner or (deployment.runner if deployment else "local")
    options: dict[str, Any] = dict(deployment.runner_options) if deployment else {}
    options.update(_pairs(args.runner_option, "--runner-option"))
    for alias in ("run_dir", "chunk_rows", "memory_limit"):
        if getattr(args, alias) is not None:
            options[alias] = getattr(args, alias)
    overwrite = args.overwrite or bool(deployment and deployment.overwrite)
    trusted = (*(deployment.trusted_artifacts if deployment else ()), *(args.trust_artifact or ()))
    kwargs: dict[str, Any] = {k: str(v) for k, v in inputs.items()}
    pipeline.run(
        runner,
        params=params,
        max_invalid=max_invalid,
        outputs=outputs,
        quarantine=quarantine,
        run_id=args.run_id,
        resume=args.resume,
        overwrite=overwrite,
        runner_options=options,
        trusted_artifacts=trusted,
        **kwargs,
    )
    return EXIT_OK


def _describe(args: argparse.Namespace) -> int:
    pipeline, _ = _target(args.target)
    print(pipeline.describe())
    return EXIT_OK


def _runners(args: argparse.Namespace) -> int:
    from sdk.runners.registry import list_runners

    for name, (cls, origin) in sorted(list_runners().items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:<10} {origin:<24} {doc}")
        for option in cls.options:
            print(f"    --runner-option {option.describe()}")
    return EXIT_OK


def _runs(args: argparse.Namespace) -> int:
    from sdk.runs import list_runs, show_run

    if args.action == "show":
        if not args.run_id:
            raise _Usage("sdk runs show needs a RUN_ID (see `sdk runs`)")
        print(show_run(args.run_id, args.run_dir))
        return EXIT_OK
    print(list_runs(args.run_dir, metrics=args.metrics))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    import time

    from sdk.policy import Finding, PolicyReport, check_paths, check_pipeline

    started = time.perf_counter()
    findings: list[Finding] = []
    files: list[str] = []
    for target in args.targets:
        is_file_target = not target.endswith(".toml") and (
            ":" not in target or Path(target).exists()
        )
        if is_file_target and not Path(target).exists():
            raise _Usage(f"path {target!r} does not exist")
        try:
            report = check_paths([target]) if is_file_target else check_pipeline(_target(target)[0])
        except PolicyError as exc:  # an invalid [tool.sdk.policy] table
            raise _Usage(str(exc)) from None
        findings += report.findings
        files += report.files
    total = PolicyReport(
        tuple(sorted(set(findings))),
        tuple(dict.fromkeys(files)),
        time.perf_counter() - started,
    )
    print(total.format(args.format))
    verified_ok = True
    if args.data:
        from sdk.verify import verify_pipeline

        data = _pairs(args.data, "--data")
        for target in args.targets:
            if target.endswith(".toml") or (":" in target and not Path(target).exists()):
                pipeline, deployment = _target(target)
                trusted = (
                    *(deployment.trusted_artifacts if deployment else ()),
                    *(args.trust_artifact or ()),
                )
                verified = verify_pipeline(
                    pipeline, data, sample_rows=args.sample_rows, trusted=trusted
                )
                print(str(verified))
                verified_ok = verified_ok and verified.ok
    return EXIT_RUN_FAILED if total.findings or not verified_ok else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    handler = {
        "run": _run,
        "describe": _describe,
        "runners": _runners,
        "runs": _runs,
        "check": _check,
        "simulate": _simulate,
        "quarantine": _quarantine,
    }[args.command]
    try:
        return handler(args)
    except BrokenPipeError:  # `sdk runs | head`: the reader has gone, which is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is silent
        return EXIT_OK
    except PolicyError as exc:
        _report(exc, args.debug)
        return EXIT_POLICY
    except (DataQualityError, StepError, SchemaViolation) as exc:
        _report(exc, args.debug)
        return EXIT_RUN_FAILED
    except (SdkError, _Usage) as exc:
        _report(exc, args.debug)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, RunInterrupted) else signal.SIGINT
        print(f"sdk: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        if isinstance(exc, RunInterrupted) and exc.run_id and exc.resumable:
            print(f"  resume run {exc.run_id} with --resume {exc.run_id}", file=sys.stderr)
        return 128 + signum


def _report(exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc)
    kind = type(exc).__name__ if isinstance(exc, SdkError) else "usage"
    print(f"sdk: error ({kind}): {exc}", file=sys.stderr)
    if isinstance(exc, StepError) and exc.__cause__ is not None and not debug:
        print("  (run again with --debug for the step's traceback)", file=sys.stderr)
