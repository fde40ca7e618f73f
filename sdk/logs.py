"""Mandatory structured logging: one set of records, rendered as JSON lines or for people.

Run context (``run_id``, ``pipeline``, ``step``, ``runner``) lives in a ``ContextVar``; a
filter on every SDK logger adds it to each record, so call sites never repeat it. Importing
``sdk`` installs no handler: :func:`ensure_logging` (called by every runner and the CLI)
does, once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "CONTEXT_FIELDS",
    "configure_logging",
    "ensure_logging",
    "get_logger",
    "route_warnings",
    "run_context",
]

CONTEXT_FIELDS = ("run_id", "pipeline", "step", "runner")
"""Fields every SDK record carries (``None`` where not applicable)."""

_context: ContextVar[dict[str, Any] | None] = ContextVar("sdk_run_context", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class ContextFilter(logging.Filter):
    """Add the current run context to every record (never filters anything out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get() or {}
        for field in CONTEXT_FIELDS:
            if not hasattr(record, field):
                setattr(record, field, context.get(field))
        for field, value in context.items():  # more fields set by run_context (request_id)
            if field not in CONTEXT_FIELDS and not hasattr(record, field):
                setattr(record, field, value)
        return True


_FILTER = ContextFilter()


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` (under ``sdk``) with the run-context filter attached."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


@contextlib.contextmanager
def run_context(**fields: Any) -> Iterator[None]:
    """Set run-context fields for the records logged inside the block.

    ``CONTEXT_FIELDS`` are on every record (``None`` where not set); any other field set here
    (a server's ``request_id``) is added to the records logged inside the block only.
    """
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    """Return a copy of the current run context."""
    return dict(_context.get() or {})


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k not in CONTEXT_FIELDS}


class SdkJsonFormatter(JsonFormatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``event``, context, then data."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["ts"] = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["event"] = record.getMessage()
        for field in CONTEXT_FIELDS:
            log_data[field] = getattr(record, field, None)
        super().add_fields(log_data, record, message_dict)
        log_data.pop("message", None)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


class TextFormatter(logging.Formatter):
    """The same records, compact for people: ``12:00:01 INFO fraud/score step_finished k=v``."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        where = "/".join(
            str(part)
            for part in (getattr(record, "pipeline", None), getattr(record, "step", None))
            if part
        )
        data = " ".join(f"{k}={_short(v)}" for k, v in _extra(record).items())
        line = f"{when} {record.levelname:<7} {where + ' ' if where else ''}{record.getMessage()}"
        line = f"{line} {data}" if data else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class _SdkHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """The handler the SDK installs; marked so it is replaced rather than duplicated."""


def in_notebook() -> bool:
    """Return whether we run inside a Jupyter kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return hasattr(shell, "kernel") or "ipykernel_launcher" in " ".join(sys.argv)


def default_format(stream: IO[str] | None = None) -> str:
    """``"text"`` for a terminal or a notebook, ``"json"`` otherwise (``SDK_LOG_FORMAT`` wins)."""
    chosen = os.environ.get("SDK_LOG_FORMAT")
    if chosen in ("json", "text"):
        return chosen
    stream = stream or sys.stderr
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    return "text" if is_tty or in_notebook() else "json"


def configure_logging(
    fmt: str | None = None, *, level: int | str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Install (or replace) the SDK's handler on the ``sdk`` logger.

    Args:
        fmt: ``"json"`` or ``"text"``; default: :func:`default_format`.
        level: the ``sdk`` logger level (default ``INFO``, or ``SDK_LOG_LEVEL``).
        stream: where to write (default ``sys.stderr``).

    Returns:
        The installed handler.
    """
    fmt = fmt or default_format(stream)
    if fmt not in ("json", "text"):
        raise ValueError(f"log format {fmt!r} is not one of 'json', 'text'")
    root = get_logger("sdk")
    for handler in list(root.handlers):
        if isinstance(handler, _SdkHandler):
            root.removeHandler(handler)
    handler = _SdkHandler(stream or sys.stderr)
    handler.setFormatter(SdkJsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_FILTER)
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("SDK_LOG_LEVEL", "INFO"))
    return handler


def ensure_logging() -> None:
    """Make sure SDK records go somewhere: install the default handler if none is there.

    A run cannot be made silent; its level and destination can be changed with
    :func:`configure_logging` or a handler of your own on the ``sdk`` logger.
    """
    root = get_logger("sdk")
    if not root.handlers:
        configure_logging()
    elif root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def route_warnings() -> None:
    """Send Python warnings (e.g. a pandas ``PerformanceWarning``) through the SDK's logger, as
    ``warning`` events, instead of printing them into the stream of JSON lines.

    The command line calls this; a notebook keeps Python's own display of warnings.
    """
    warnings.showwarning = _log_warning


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: IO[str] | None = None,
    line: str | None = None,
) -> None:
    get_logger("sdk.warnings").warning(
        "warning",
        extra={
            "category": category.__name__,
            "warning": str(message),
            "file": filename,
            "line": lineno,
        },
    )
