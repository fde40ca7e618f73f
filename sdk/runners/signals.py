"""Signals during a run: SIGTERM and SIGINT stop it cleanly, recorded ``interrupted``."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from sdk.logs import get_logger

__all__ = ["RunInterrupted", "ending", "interrupt_on_signals", "stop_on_signals"]

logger = get_logger("sdk.run")


class RunInterrupted(KeyboardInterrupt):
    """A run was stopped by a signal (SIGTERM or SIGINT); it is recorded ``interrupted``.

    A ``KeyboardInterrupt``, so code that handles Ctrl-C handles it too. The command line
    exits with ``128 + signum`` (143 for SIGTERM, 130 for SIGINT).

    Attributes:
        signum: the signal's number.
        run_id: the interrupted run, once known.
        resumable: whether ``--resume run_id`` continues it (runners that checkpoint).
    """

    def __init__(self, signum: int, run_id: str | None = None, resumable: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.run_id, self.resumable = signum, run_id, resumable

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.signum, self.run_id, self.resumable)


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """While the block runs (in the main thread), SIGTERM and SIGINT raise
    :class:`RunInterrupted`; the previous handlers are restored after. A signal the process
    ignores (``nohup``, a background job) stays ignored; other threads are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise RunInterrupted(signum)

    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(signum)
        if current is None or current == signal.SIG_IGN:  # set outside Python, or ignored
            continue
        previous[signum] = current
        signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """While the block runs (in the main thread), SIGTERM and SIGINT set the event it yields:
    a runner that drains (the stream) stops after its current unit. A second signal goes to the
    previous handler (:func:`interrupt_on_signals`: the run is interrupted at once)."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return
    previous: dict[int, Any] = {}

    def stop(signum: int, frame: object) -> None:
        if stopping.is_set():  # asked twice: stop now
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, frame)
            return
        stopping.set()
        logger.info("stream_stopping", extra={"signal": signal.Signals(signum).name})

    for signum in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(signum)
        if current is None or current == signal.SIG_IGN:
            continue
        previous[signum] = current
        signal.signal(signum, stop)
    try:
        yield stopping
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def ending(exc: BaseException) -> tuple[str, BaseException | None, str | None]:
    """How ``exc`` ends a run: ``(status, error, signal name)``."""
    if isinstance(exc, RunInterrupted):
        return "interrupted", None, signal.Signals(exc.signum).name
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", None, None
    return "failed", exc, None
