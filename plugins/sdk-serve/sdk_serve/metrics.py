"""Prometheus metrics of one server, in their own registry (``GET /metrics``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

if TYPE_CHECKING:
    from sdk_serve.service import Answer

__all__ = ["Metrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """``sdk_requests_total{status}``, ``sdk_request_duration_seconds``,
    ``sdk_rows_total{kind}`` (in, out, quarantined) and ``sdk_quarantined_total{step,check}``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sdk_requests",
            "Requests answered on /v1/*, by HTTP status",
            ["status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "sdk_request_duration_seconds",
            "Time to answer a request on /v1/*",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "sdk_rows",
            "Rows of requests: in, out (outputs), quarantined",
            ["kind"],
            registry=self.registry,
        )
        self.quarantined = Counter(
            "sdk_quarantined",
            "Quarantined rows by step and check",
            ["step", "check"],
            registry=self.registry,
        )
        for kind in ("in", "out", "quarantined"):
            self.rows.labels(kind=kind)

    def observe(self, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(status=str(status)).inc()
        self.duration.observe(seconds)

    def count(self, answer: Answer) -> None:
        """Count the rows of one committed request."""
        self.rows.labels(kind="in").inc(answer.rows_in)
        self.rows.labels(kind="out").inc(answer.rows_out)
        self.rows.labels(kind="quarantined").inc(answer.quarantined)
        for (step, check), n in answer.checks.items():
            self.quarantined.labels(step=step, check=check).inc(n)

    def text(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
