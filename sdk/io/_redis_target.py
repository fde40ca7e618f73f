"""A parsed ``redis://`` URI and its client (shared by the stream source and sink)."""

from __future__ import annotations

import functools
import urllib.parse
from typing import Any

import attrs

from sdk.errors import IOSchemeError
from sdk.io import redact

__all__ = ["RedisTarget"]

_KNOWN = {"stream", "group", "consumer", "maxlen"}


def _client(url: str) -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - the extra is installed in tests
        raise IOSchemeError(
            "Redis streams need redis-py: pip install 'pipeline-sdk[redis]'"
        ) from None
    return redis.Redis.from_url(url, decode_responses=True)


@attrs.frozen(slots=False)  # slots=False: cached_property needs an instance dict
class RedisTarget:
    """A parsed ``redis://`` URI."""

    uri: str
    url: str
    stream: str
    group: str | None
    consumer: str | None
    maxlen: int | None

    @classmethod
    def parse(cls, uri: str) -> RedisTarget:
        """Parse ``uri``.

        Raises:
            IOSchemeError: no ``stream=``, an unknown parameter, or a bad ``maxlen``.
        """
        base, _, query = uri.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        unknown = sorted(set(params) - _KNOWN)
        if unknown or not params.get("stream"):
            raise IOSchemeError(
                f"{redact(uri)}: write redis://host:port/db?stream=NAME (a source adds "
                f"&group=G&consumer=C, a sink may add &maxlen=N)"
                + (f"; unknown parameter(s) {', '.join(unknown)}" if unknown else "")
            )
        maxlen = params.get("maxlen")
        if maxlen is not None and not maxlen.isdigit():
            raise IOSchemeError(f"{redact(uri)}: maxlen={maxlen!r} must be a whole number")
        return cls(
            uri,
            base,
            params["stream"],
            params.get("group"),
            params.get("consumer"),
            int(maxlen) if maxlen else None,
        )

    @classmethod
    def parse_source(cls, uri: str) -> RedisTarget:
        """Parse the URI of a consumer: ``group`` and ``consumer`` are required.

        Raises:
            IOSchemeError: as :meth:`parse`, or without ``group`` or ``consumer``.
        """
        target = cls.parse(uri)
        if not target.group or not target.consumer:
            raise IOSchemeError(
                f"{redact(uri)}: a stream source needs &group=NAME&consumer=NAME (messages "
                f"are acknowledged per group; a restarted consumer takes its own pending ones)"
            )
        return target

    def connect(self) -> Any:
        """A client; refuses an unreachable server with a clear error."""
        client = _client(self.url)
        try:
            client.ping()
        except Exception as exc:
            raise IOSchemeError(
                f"cannot reach Redis at {redact(self.url)}: {exc}; is the server running?"
            ) from None
        return client

    @functools.cached_property
    def label(self) -> str:
        """``redis://host:port/db?stream=NAME``, password hidden."""
        return f"{redact(self.url)}?stream={self.stream}"

    def reference(self, entry: str) -> str:
        """The source reference of one entry: ``redis://host:port/db?stream=NAME#ID``."""
        return f"{self.label}#{entry}"
