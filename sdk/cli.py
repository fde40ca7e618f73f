"""The ``sdk`` command line: ``run``, ``describe``, ``runners``, ``runs``, ``ui``, ``check``.

Exit codes: 0 success; 1 the run failed (data quality, a step error, a frame-level schema
violation) or ``sdk check`` found policy breaches; 2 a usage or definition error (bad arguments,
target, params, wiring, I/O); 3 ``sdk run --strict`` refused a pipeline that breaks the policy;
``128 + signal`` a run stopped by SIGINT (130) or SIGTERM (143), recorded ``interrupted``.

Start-up is kept short (``sdk --help`` and ``sdk --version`` load no pandas): the modules a
command needs are imported inside it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk.errors import (
    DataQualityError,
    PipelineError,
    PolicyError,
    SchemaViolation,
    SdkError,
    StepError,
)

if TYPE_CHECKING:
    from sdk.deploy import Deployment
    from sdk.pipeline import Pipeline

__all__ = ["main"]

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_POLICY = 3
LAZY_COMMANDS = ("simulate", "quarantine", "report")
"""Commands whose arguments are defined by their own (heavier) modules: added to the parser
only when the command line names them."""


class _Usage(Exception):
    """A command-line usage error (exit code 2)."""


class _Version(argparse.Action):
    """``--version``: the version is read from the installed metadata only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        from sdk import __version__

        print(f"pipeline-sdk {__version__}")
        parser.exit()


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; the arguments of ``simulate`` and ``quarantine`` only for that ``command``."""
    from sdk.deploy import add_flags

    parser = argparse.ArgumentParser(
        prog="sdk", description="Run and inspect pipeline-sdk pipelines."
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a pipeline (module:attr or a deployment .toml)")
    run.add_argument("target", help="module:attr, path/to/file.py:attr, or a deployment .toml")
    add_flags(run)
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

    runs = sub.add_parser(
        "runs", help="list runs and their status; `sdk runs show RUN_ID`; `sdk runs prune`"
    )
    runs.add_argument("action", nargs="?", choices=("list", "show", "prune"), default="list")
    runs.add_argument("run_id", nargs="?", help="the run to show")
    runs.add_argument(
        "--run-dir", help="where run directories live (default $SDK_RUN_DIR or .sdk/runs)"
    )
    runs.add_argument(
        "--metrics", action="store_true", help="list the metrics each run's steps returned"
    )
    runs.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="list/show: json prints one JSON list of runs (rows, quarantine rate, report)",
    )
    runs.add_argument(
        "--keep", type=int, metavar="N", help="prune: keep the newest N finished runs"
    )
    runs.add_argument(
        "--older-than",
        metavar="AGE",
        help="prune: remove only runs that ended longer ago than AGE (90s, 30m, 12h, 7d, 2w); "
        "also abandons interrupted runs that could be resumed",
    )
    runs.add_argument(
        "--dry-run", action="store_true", help="prune: print what would be removed, remove nothing"
    )
    runs.add_argument("--debug", action="store_true", help="show tracebacks")

    ui = sub.add_parser(
        "ui", help="serve the runs and their reports on 127.0.0.1 (read-only; Ctrl-C stops)"
    )
    ui.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks one)")
    ui.add_argument(
        "--run-dir", help="where run directories live (default $SDK_RUN_DIR or .sdk/runs)"
    )
    ui.add_argument("--open", action="store_true", help="open the list page in a browser")
    ui.add_argument("--debug", action="store_true", help="show tracebacks")

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
    quarantine = sub.add_parser("quarantine", help="work with a quarantine: `replay` it")
    report = sub.add_parser("report", help="write a run's HTML report (docs/report.md)")
    if command == "simulate":
        from sdk.simulate.cli import add_arguments

        add_arguments(simulate)
    elif command == "report":
        from sdk.report.cli import add_arguments as add_report_arguments

        add_report_arguments(report)
    elif command == "quarantine":
        from sdk.replay import add_arguments as add_replay_arguments

        add_replay_arguments(quarantine)
    return parser


def _simulate(args: argparse.Namespace) -> int:
    from sdk.simulate.cli import main as simulate_main

    return simulate_main(args)


def _report_command(args: argparse.Namespace) -> int:
    from sdk.report.cli import main as report_main

    return report_main(args)


def _quarantine(args: argparse.Namespace) -> int:
    from sdk.replay import main as replay_main

    pipeline, deployment = _target(args.target)
    return replay_main(args, pipeline, deployment)


def _target(target: str) -> tuple[Pipeline, Deployment | None]:
    from sdk.deploy import load_deployment, load_pipeline

    if target.endswith(".toml"):
        deployment = load_deployment(target)
        return load_pipeline(deployment.pipeline, deployment.path.parent.resolve()), deployment
    return load_pipeline(target), None


def _refuse_if_breaching(pipeline: Pipeline) -> None:
    """``--strict``: raise PolicyError listing every policy finding and every "did you mean"
    hint found when the pipeline was built, before anything runs."""
    from sdk.policy import check_pipeline

    lines = [str(f) for f in check_pipeline(pipeline).findings]
    lines += [str(hint) for hint in getattr(pipeline, "hints", ())]  # Pipeline.hints, if any
    if lines:
        raise PolicyError(
            f"pipeline {pipeline.name!r} breaks the policy; strict mode refuses to run it "
            f"({len(lines)} finding(s)):\n" + "\n".join(f"  {line}" for line in lines),
            lines,
        )


def _run(args: argparse.Namespace) -> int:
    from sdk.deploy import Deployment, Flags, with_flags
    from sdk.logs import configure_logging, route_warnings
    from sdk.runners.rundir import new_run_id
    from sdk.summary import Summary

    configure_logging(args.log_format, level=args.log_level.upper() if args.log_level else None)
    route_warnings()
    pipeline, deployment = _target(args.target)
    if args.strict or (deployment is not None and deployment.strict):
        _refuse_if_breaching(pipeline)
    # a module target has no file: its settings are the flags alone
    settings = with_flags(deployment or Deployment(Path.cwd(), args.target), Flags.of(args))
    inputs: dict[str, Any] = {k: str(v) for k, v in settings.inputs.items()}
    # the id is known before the run, so a failed run's manifest can be summarised too
    run_id = args.run_id or (None if args.resume else new_run_id())
    summary = Summary(
        settings.runner_options.get("run_dir"),
        is_data_on_stdout="-" in (*settings.outputs.values(), settings.quarantine),
    )
    try:
        result = pipeline.run(
            settings.runner,
            params=settings.params,
            max_invalid=settings.max_invalid,
            outputs=settings.outputs,
            quarantine=settings.quarantine,
            run_id=run_id,
            resume=args.resume,
            overwrite=settings.overwrite,
            runner_options=settings.runner_options,
            trusted_artifacts=settings.trusted_artifacts,
            outputs_sort=settings.outputs_sort or None,
            **inputs,
        )
    except (DataQualityError, StepError, SchemaViolation) as exc:
        summary.of_failure(getattr(exc, "run_id", None) or run_id)
        raise
    summary.of(result)
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
    from sdk.runs import list_runs, parse_age, prune_runs, runs_json, show_run

    if args.action != "prune" and (args.keep is not None or args.older_than or args.dry_run):
        raise _Usage("--keep, --older-than and --dry-run go with `sdk runs prune`")
    if args.format == "json" and (args.action == "prune" or args.metrics):
        raise _Usage("--format json lists or shows runs; it does not go with prune or --metrics")
    if args.run_id and args.action != "show":
        raise _Usage(f"sdk runs {args.action} takes no RUN_ID (did you mean `sdk runs show`?)")
    if args.action == "prune":
        if args.keep is None and args.older_than is None:
            raise _Usage("sdk runs prune needs --keep N, --older-than AGE or both")
        if args.keep is not None and args.keep < 0:
            raise _Usage(f"--keep {args.keep} must be 0 or more")
        try:
            age = None if args.older_than is None else parse_age(args.older_than)
        except ValueError as exc:
            raise _Usage(f"--older-than {exc}") from None
        print(prune_runs(args.run_dir, keep=args.keep, older_than=age, dry_run=args.dry_run))
        return EXIT_OK
    if args.action == "show":
        if not args.run_id:
            raise _Usage("sdk runs show needs a RUN_ID (see `sdk runs`)")
        if args.format == "json":
            print(runs_json(args.run_dir, args.run_id))
        else:
            print(show_run(args.run_id, args.run_dir))
        return EXIT_OK
    if args.format == "json":
        print(runs_json(args.run_dir))
    else:
        print(list_runs(args.run_dir, metrics=args.metrics))
    return EXIT_OK


def _ui(args: argparse.Namespace) -> int:
    from sdk.ui import serve

    if not 0 <= args.port <= 65535:
        raise _Usage(f"--port {args.port} must be 0 to 65535")
    serve(args.run_dir, port=args.port, is_opened=args.open)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    import time

    from sdk.deploy import pairs
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

        data = pairs(args.data, "--data")
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
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = _parser(command if command in LAZY_COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    handler = {
        "run": _run,
        "describe": _describe,
        "runners": _runners,
        "runs": _runs,
        "ui": _ui,
        "check": _check,
        "simulate": _simulate,
        "quarantine": _quarantine,
        "report": _report_command,
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
        from sdk.runners.signals import RunInterrupted

        signum = exc.signum if isinstance(exc, RunInterrupted) else signal.SIGINT
        print(f"sdk: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        if isinstance(exc, RunInterrupted) and exc.run_id and exc.resumable:
            print(
                f"  resume run {exc.run_id} with --resume {exc.run_id} (or --resume latest)",
                file=sys.stderr,
            )
        return 128 + signum


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_lines(exc: BaseException) -> list[str]:
    """The error's message as one line, whatever newlines a pandas or pyarrow message put in
    it (the run's log keeps the text as it was); an error that lists problems or findings has
    one more line for each."""
    text = str(exc)
    listed: list[str] = []
    if isinstance(exc, PolicyError):
        listed = exc.findings
    elif isinstance(exc, PipelineError) and len(exc.problems) > 1:
        listed = exc.problems
    if not listed:
        return [_one_line(text)]
    head = text.split("\n", 1)[0]
    if _one_line(head) == _one_line(listed[0]):  # the message is the list itself
        head = f"{len(listed)} problems:"
    return [_one_line(head), *(f"  - {_one_line(item)}" for item in listed)]


def _report(exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc)
    kind = type(exc).__name__ if isinstance(exc, SdkError) else "usage"
    first, *more = _error_lines(exc)
    print(f"sdk: error ({kind}): {first}", file=sys.stderr)
    for line in more:
        print(line, file=sys.stderr)
    if isinstance(exc, StepError) and exc.__cause__ is not None and not debug:
        print("  (run again with --debug for the step's traceback)", file=sys.stderr)
