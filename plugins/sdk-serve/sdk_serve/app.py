"""The HTTP side: FastAPI routes, problem documents, the request gate and the access log.

Routes: ``POST /v1/run`` (records in, outputs and quarantine out), ``GET /v1/pipeline`` (what
``sdk describe`` says, as JSON), ``/healthz``, ``/readyz``, ``/metrics``, ``/docs`` and
``/openapi.json`` (the contract from the models, :mod:`sdk_serve.contract`). The body of
``/v1/run`` is read raw and parsed by the service, never by a Pydantic model: records that
break the contract are what the quarantine is for, not a reason to refuse the request.

:class:`Gate` wraps the app (plain ASGI, no per-request task): request id (``X-Request-ID``
honoured or generated, echoed), bearer token on ``/v1/*`` when ``SDK_SERVE_TOKEN`` is set,
pipeline headers, metrics, one ``http_request`` JSON line per request, and a 500 problem with
the request id only — the traceback goes to the log — for anything unexpected.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
import re
import threading
import time
import uuid
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException

import sdk
from sdk_serve.contract import describe_pipeline, openapi_document, run_operation
from sdk_serve.metrics import Metrics
from sdk_serve.problems import Problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from sdk_serve.service import Service

    Message = MutableMapping[str, Any]
    Scope = MutableMapping[str, Any]

__all__ = ["Gate", "build_app"]

logger = sdk.get_logger("sdk.serve")
access = sdk.get_logger("sdk.serve.access")

PROBLEM_JSON = "application/problem+json"
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces: safe to echo


def build_app(service: Service) -> Gate:
    """The ASGI application serving ``service``: FastAPI inside the :class:`Gate`."""
    metrics = Metrics()
    service.metrics = metrics
    pipeline = service.pipeline
    app = FastAPI(
        title=f"{pipeline.name} — pipeline-sdk",
        version=_versions()["sdk-serve"],
        description=(
            f"The pipeline {pipeline.name!r} behind HTTP. `POST /v1/run` with an array of "
            "records; every record either comes out in `outputs` or is quarantined with its "
            "reasons in `quarantine` (200, or 422 when none came through)."
        ),
        redoc_url=None,
    )
    timeout = service.config["timeout_s"]
    limit = service.config["max_body_bytes"]

    @app.post("/v1/run", openapi_extra=run_operation(service), summary="Run the pipeline")
    async def run(request: Request) -> Response:
        """Run the pipeline on the request's records: outputs and quarantine records."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise Problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"the body must be application/json, not {media or 'unspecified'}",
            )
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise (
                _too_large(limit)
                if declared.isdigit()
                else Problem(
                    400,
                    "bad-content-length",
                    "Bad Content-Length",
                    "Content-Length is not a number",
                )
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _too_large(limit)
        request_id = request.scope["sdk_request_id"]
        cancelled = threading.Event()
        context = contextvars.copy_context()
        work = asyncio.get_running_loop().run_in_executor(
            service.executor, context.run, service.handle, bytes(body), request_id, cancelled
        )
        try:
            answer = await asyncio.wait_for(work, timeout)
        except TimeoutError:
            answer = None
        if answer is None:
            cancelled.set()
            raise Problem(
                504,
                "timeout",
                "Timeout",
                f"the request was not answered within {timeout:g} s (runner option timeout_s); "
                f"nothing of it was committed: send it again or in smaller parts",
            )
        metrics.count(answer)
        request.scope["sdk_rows"] = {"rows": answer.rows_in, "quarantined": answer.quarantined}
        return Response(answer.body, status_code=answer.status, media_type="application/json")

    denied: dict[int | str, dict[str, Any]] | None = (
        {401: _PROBLEM_RESPONSE} if service.token is not None else None
    )

    @app.get("/v1/pipeline", summary="Describe the pipeline", responses=denied)
    async def describe() -> dict[str, Any]:
        """Steps, datasets, models, scopes, params and artifacts (what ``sdk describe`` says)."""
        return describe_pipeline(service)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness", responses={503: {"description": "Not ready yet"}})
    async def readyz() -> Response:
        """The pipeline is loaded and its self-test passed (503 until then)."""
        ready = dict(service.ready)
        status = 200 if ready.get("status") == "ready" else 503
        return Response(json.dumps(ready), status_code=status, media_type="application/json")

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus() -> Response:
        """Requests, durations, rows and quarantined rows by step and check."""
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.exception_handler(Problem)
    async def problem(request: Request, exc: Problem) -> Response:
        return _problem_response(exc, request.scope.get("sdk_request_id"))

    @app.exception_handler(HTTPException)
    async def http_problem(request: Request, exc: HTTPException) -> Response:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        detail = (
            f"no route {request.method} {request.url.path}; see /docs"
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        found = Problem(exc.status_code, slug, title, detail, dict(exc.headers or {}))
        return _problem_response(found, request.scope.get("sdk_request_id"))

    @app.exception_handler(Exception)
    async def fault(request: Request, exc: Exception) -> Response:  # logged by the Gate
        request_id = request.scope.get("sdk_request_id")
        return _problem_response(_fault(request_id), request_id)

    app.openapi = lambda: openapi_document(app, service)  # type: ignore[method-assign]
    return Gate(app, service, metrics)


_PROBLEM_RESPONSE: dict[str, Any] = {
    "description": "No or wrong bearer token (SDK_SERVE_TOKEN)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body-too-large",
        "Body too large",
        f"the body is over {limit} bytes (runner option max_body_bytes): split the request",
    )


def _fault(request_id: str | None) -> Problem:
    return Problem(
        500,
        "internal-error",
        "Internal server error",
        f"an unexpected error; the server log has it under request id {request_id}",
    )


def _problem_response(problem: Problem, request_id: str | None) -> Response:
    return Response(
        problem.body(request_id),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


class Gate:
    """Request id, bearer token, pipeline headers, metrics and the access log, around the
    app; an unexpected error becomes a 500 problem with the request id (traceback logged)."""

    def __init__(self, app: FastAPI, service: Service, metrics: Metrics) -> None:
        self.app, self.service, self.metrics = app, service, metrics
        token = service.token
        self.token = f"Bearer {token}".encode() if token else None
        versions = _versions()
        label = f"pipeline-sdk/{versions['pipeline-sdk']} sdk-serve/{versions['sdk-serve']}"
        self.headers = [
            (b"x-pipeline", service.pipeline.name.encode()),
            (b"x-pipeline-fingerprint", service.session.info.fingerprint.encode()),
            (b"x-pipeline-version", label.encode()),
        ]

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope["sdk_request_id"] = request_id
        status = 500
        sent = False
        extra = [*self.headers, (b"x-request-id", request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status, sent = message["status"], True
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        path: str = scope["path"]
        with sdk.run_context(request_id=request_id):
            try:
                if (
                    self.token is not None
                    and path.startswith("/v1/")
                    and not self._authorized(scope)
                ):
                    denied = Problem(
                        401,
                        "unauthorized",
                        "Unauthorized",
                        "this server needs Authorization: Bearer <token> (SDK_SERVE_TOKEN)",
                        {"www-authenticate": "Bearer"},
                    )
                    await _problem_response(denied, request_id)(scope, receive, send_with_headers)
                else:
                    await self.app(scope, receive, send_with_headers)
            except Exception:
                logger.exception("request_error", extra={"path": path})
                if not sent:
                    fault = _fault(request_id)
                    await _problem_response(fault, request_id)(scope, receive, send_with_headers)
            seconds = time.perf_counter() - started
            if path.startswith("/v1/"):
                self.metrics.observe(status, seconds)
            access.info(
                "http_request",
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": (scope.get("client") or ("", 0))[0],
                    **scope.get("sdk_rows", {}),
                },
            )

    def _authorized(self, scope: Scope) -> bool:
        given = _header(scope, b"authorization")
        assert self.token is not None
        return given is not None and hmac.compare_digest(given.encode("latin-1"), self.token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _versions() -> dict[str, str]:
    found = {}
    for dist in ("pipeline-sdk", "sdk-serve"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:  # running from a checkout
            found[dist] = "0+unknown"
    return found
