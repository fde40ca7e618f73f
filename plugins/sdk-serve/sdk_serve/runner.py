"""The ``serve`` runner: one server process is one run, every request one unit of it.

``sdk run TARGET --runner serve --runner-option port=8000`` opens a run on the runner core
(run id, run directory, ``run_started``), loads the artifact inputs once, runs a self-test, and
serves FastAPI on uvicorn until SIGTERM or SIGINT: in-flight requests finish, then the run
closes like any other (step events from merged totals, manifest, ``run_finished``, exit 0).
Each ``POST /v1/run`` runs its records through the shared plan with :func:`sdk.run_unit` and
commits them as one unit (see :mod:`sdk_serve.service`); the answer carries the outputs and the
quarantine records of that request.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

import sdk

if TYPE_CHECKING:
    import uvicorn

__all__ = ["ServeRunner"]

logger = sdk.get_logger("sdk.serve")


class ServeRunner(sdk.Runner):
    """A pipeline behind HTTP (FastAPI on uvicorn): one run, one unit per request.

    Options (besides ``run_dir``, ``on_step_error`` — default ``quarantine`` here — and
    ``progress``):
        host, port: where to listen (default 127.0.0.1:8000; port 0 picks a free port).
        max_body_bytes: larger bodies are refused with 413 before they are read (10 MB).
        max_records: requests with more records are refused with 413 (10,000).
        timeout_s: a request not answered in this time gets 504 (30 s).
        allow_params: params a request may override (``["score.weight"]``; none by default).
        graceful_timeout_s: on SIGTERM, how long in-flight requests may still take (30 s).
        ssl_certfile, ssl_keyfile: serve HTTPS with this certificate (uvicorn's TLS).
    """

    name = "serve"
    appends = True  # answers as it goes: nothing to publish at close, no run-level budget
    default_on_step_error = "quarantine"
    options = (
        *sdk.BASE_OPTIONS,
        sdk.RunnerOption("host", str, "127.0.0.1", "interface to listen on"),
        sdk.RunnerOption("port", int, 8000, "port to listen on (0: a free one)"),
        sdk.RunnerOption("max_body_bytes", int, 10_000_000, "413 above this body size"),
        sdk.RunnerOption("max_records", int, 10_000, "413 above this many records"),
        sdk.RunnerOption("timeout_s", float, 30.0, "504 when a request takes longer"),
        sdk.RunnerOption("allow_params", list[str], [], "params a request may override"),
        sdk.RunnerOption("graceful_timeout_s", float, 30.0, "time in-flight requests get on stop"),
        sdk.RunnerOption("ssl_certfile", str | None, None, "TLS certificate (PEM)"),
        sdk.RunnerOption("ssl_keyfile", str | None, None, "TLS private key (PEM)"),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for key in ("max_body_bytes", "max_records"):
            if self.config[key] < 1:
                raise sdk.PluginError(f"runner option {key}={self.config[key]} must be at least 1")
        if self.config["timeout_s"] <= 0:
            raise sdk.PluginError(f"runner option timeout_s={self.config['timeout_s']} must be > 0")
        if bool(self.config["ssl_certfile"]) != bool(self.config["ssl_keyfile"]):
            raise sdk.PluginError("runner options ssl_certfile and ssl_keyfile go together")

    def run(
        self, pipeline: sdk.Pipeline, inputs: Mapping[str, Any], **kwargs: Any
    ) -> sdk.RunResult:
        """Serve ``pipeline`` until SIGTERM; its tabular inputs come from the requests, so only
        artifact inputs are given (a tabular input given anyway is ignored, with a warning)."""
        refused = [k for k in ("outputs", "quarantine") if kwargs.get(k)]
        if refused:
            raise sdk.PipelineError(
                f"the serve runner answers each request with its outputs and quarantine "
                f"records, so it writes no {' or '.join(refused)} destination; drop "
                f"{', '.join('--' + k.rstrip('s') for k in refused)} (or use the stream runner "
                f"to write them)"
            )
        artifacts = set(pipeline.artifacts)
        given = dict(inputs)
        for name in pipeline.inputs:
            if name in artifacts:
                continue
            if name in given:
                logger.warning(
                    "serve_input_ignored",
                    extra={
                        "dataset": name,
                        "reason": "the serve runner reads this dataset from each request",
                    },
                )
            given[name] = _empty(pipeline, name)
        return super().run(pipeline, given, **kwargs)

    def settings(self, request: sdk.RunRequest) -> dict[str, Any]:
        """Refuse, before the run opens, a pipeline whose steps need more than the rows of one
        request, and params a request could not override."""
        whole = [
            s for stage in sdk.plan(request.pipeline) if stage.kind != "rows" for s in stage.steps
        ]
        if whole:
            raise sdk.PipelineError(
                "the serve runner runs each request on its own, so every step that sees request "
                "data must be correct on any subset of rows (scope rows): "
                + "; ".join(
                    f"step {s.name!r} has scope {s.scope_label}" + _across_rows(s) for s in whole
                )
                + ". Per-request aggregates would be silently wrong; run it with --runner batch",
            )
        known = _param_names(request.pipeline)
        unknown = [p for p in self.config["allow_params"] if p not in known]
        if unknown:
            raise sdk.PipelineError(
                f"allow_params names {', '.join(map(repr, unknown))}, which the pipeline does "
                f"not have; its params are {', '.join(sorted(known)) or 'none'}"
            )
        return {}

    def needs_directory(self, request: sdk.RunRequest) -> bool:
        """A server always keeps its run directory: one manifest when it stops."""
        return True

    def run_stage(self, session: sdk.RunSession, stage: sdk.Stage) -> None:  # pragma: no cover
        """Unused: :meth:`execute` runs every stage on each request."""
        raise NotImplementedError

    def execute(self, session: sdk.RunSession) -> None:
        """Load the artifacts, run the self-test, serve until stopped, report the steps."""
        import uvicorn

        from sdk_serve.app import build_app
        from sdk_serve.service import Service

        session.artifacts.load_inputs(session.request)
        service = Service(self, session)
        service.self_test()
        app = build_app(service)
        sock = _bind(self.config["host"], self.config["port"])
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,  # one JSON access line per request, from the app
            timeout_graceful_shutdown=int(self.config["graceful_timeout_s"]),
            ssl_certfile=self.config["ssl_certfile"],
            ssl_keyfile=self.config["ssl_keyfile"],
            lifespan="off",
        )
        server = _Server(config)
        host, port = sock.getsockname()[:2]
        scheme = "https" if self.config["ssl_certfile"] else "http"
        logger.info(
            "serve_started",
            extra={
                "url": f"{scheme}://{host}:{port}",
                "host": host,
                "port": port,
                "auth": service.token is not None,
                **{k: v for k, v in self.config.items() if k not in ("host", "port")},
                "on_step_error": session.context.on_step_error,
            },
        )
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
            service.close()
        logger.info("serve_stopped", extra={"requests": service.requests})
        for stage in session.stages:
            session.report_steps(stage)


class _Server:
    """uvicorn's server, stopping on SIGTERM/SIGINT without re-raising them afterwards: for a
    server, a signal is how a run ends well (``succeeded``, exit 0), not an interruption."""

    def __init__(self, config: uvicorn.Config) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                with _stop_on_signals(self):
                    yield

        self.server = Server(config)

    def run(self, sockets: list[socket.socket]) -> None:
        self.server.run(sockets=sockets)


@contextlib.contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """SIGTERM or SIGINT: stop accepting, let in-flight requests finish; a second SIGINT
    forces the exit. The previous handlers are restored afterwards."""

    def stop(signum: int, frame: object) -> None:
        if server.should_exit and signum == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True
        logger.info("serve_stopping", extra={"signal": signal.Signals(signum).name})

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the app starts, so ``port=0`` reports the real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(
        family, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )  # so asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise sdk.PipelineError(
            f"the serve runner cannot listen on {host}:{port}: {exc.strerror}; pick another "
            f"--runner-option port=N (0 for a free one)"
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _empty(pipeline: sdk.Pipeline, name: str) -> pd.DataFrame:
    """A placeholder for a tabular input that requests provide: no rows, the model's columns."""
    model = pipeline.input_model(name)
    return pd.DataFrame(columns=[str(c) for c in model.to_schema().columns])


def _param_names(pipeline: sdk.Pipeline) -> set[str]:
    return {f"{step.name}.{key}" for step in pipeline.order for key in step.params.as_dict()}


def _across_rows(step: sdk.Step) -> str:
    if type(step).scope == "rows":
        return " but its models check across rows (unique or dataframe-level checks)"
    return ""
