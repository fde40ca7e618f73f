"""Errors as RFC 9457 problem documents (``application/problem+json``), never a stack trace.

Every error the server answers is a :class:`Problem`: a ``type`` URI naming the kind of
problem (``urn:sdk-serve:problem:<slug>``, listed in docs/serve.md), a ``title``, the HTTP
``status``, a ``detail`` that says what was wrong and how to fix it, and the ``request_id``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["PROBLEM_TYPE", "Problem", "problem_schema"]

PROBLEM_TYPE = "urn:sdk-serve:problem:"
"""The prefix of every problem ``type``; the slug names the problem."""


class Problem(Exception):
    """An error answered as ``application/problem+json``.

    Attributes:
        status: the HTTP status.
        slug: the problem's name (``malformed-json``); its ``type`` is ``PROBLEM_TYPE + slug``.
        title: a short summary of the kind of problem.
        detail: what was wrong with this request, and how to fix it.
        headers: extra response headers (``WWW-Authenticate`` for 401).
    """

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}

    def document(self, request_id: str | None) -> dict[str, Any]:
        """The problem document."""
        return {
            "type": PROBLEM_TYPE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "request_id": request_id,
        }

    def body(self, request_id: str | None) -> bytes:
        """The problem document as the response body."""
        return json.dumps(self.document(request_id)).encode()


def problem_schema() -> dict[str, Any]:
    """The JSON Schema of a problem document, for the OpenAPI contract."""
    return {
        "type": "object",
        "title": "Problem",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri-reference"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "request_id": {"type": ["string", "null"]},
        },
    }
