"""Fuzzing a real server: schemathesis against the OpenAPI document it serves (no 5xx, every
answer conforms to that document), and hand-written hostile bodies that must never get a 5xx.

The servers are module-scoped (started once, concurrently), built from the harness's
``Server`` (its ``serve`` fixture is function-scoped).
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_harness import Server

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
PROBLEM_JSON = "application/problem+json"

# -- servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    """The module's servers, started together (each takes seconds to import its pipeline)."""
    with tempfile.TemporaryDirectory(prefix="sdk-serve-fuzz-") as tmp:
        runs = Path(tmp)
        started = {
            # max_records raised so that a 9 MB body of records is run, not refused
            "scoring": Server("scoring:scoring", ["max_records=200000"], runs / "a", None),
            "flagging": Server("scoring:flagging", [], runs / "b", None),
            "token": Server("scoring:scoring", [], runs / "c", {"SDK_SERVE_TOKEN": TOKEN}),
        }
        try:
            for server in started.values():
                server.wait_ready()
            yield started
        finally:
            for server in started.values():
                if server.process.poll() is None:
                    server.stop()


@pytest.fixture(scope="module")
def schemas(servers: dict[str, Any]) -> dict[str, Any]:
    """Each server's served OpenAPI document, loaded by schemathesis."""
    config = schemathesis.Config.from_dict({"generation": {"database": "none"}})
    return {
        name: schemathesis.openapi.from_url(server.url + "/openapi.json", config=config)
        for name, server in servers.items()
    }


# -- schemathesis: positive and negative data, every operation --------------------------------
#
# Driven through `operation.as_strategy` and Hypothesis: schemathesis 4.32's pytest loader
# (`schemathesis.pytest.from_fixture`) sets `request.node._nodeid`, which pytest 9.2 no longer
# has (AttributeError before any request is sent).

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
OPERATIONS = [
    ("POST", "/v1/run"),
    ("GET", "/v1/pipeline"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]
KNOWN: dict[tuple[str, ...], str] = {}  # operations with a known server bug (none)


def _fuzz_cases() -> Iterator[Any]:
    for server, auth in (
        ("scoring", "no-token"),
        ("flagging", "no-token"),
        ("token", "with-token"),
        ("token", "no-token"),
    ):
        for method, path in OPERATIONS:
            # the GET operations take no input at all: nothing to make negative
            for mode in (POSITIVE, NEGATIVE) if method == "POST" else (POSITIVE,):
                bug = KNOWN.get((method, path)) or KNOWN.get((server, auth, method, path))
                yield pytest.param(
                    server,
                    auth == "with-token",
                    method,
                    path,
                    mode,
                    id=f"{server}-{auth}-{method} {path}-{mode.value}",
                    marks=[pytest.mark.xfail(strict=True, reason=bug)] if bug else [],
                )


@pytest.mark.parametrize(("server", "token", "method", "path", "mode"), list(_fuzz_cases()))
def test_answers_conform_to_the_served_schema(
    schemas: dict[str, Any], server: str, token: bool, method: str, path: str, mode: Any
) -> None:
    """No 5xx, and status, content type, body and headers as the served document says:
    ``scoring`` (the fraud Score step), ``flagging`` (a step that raises on amount 13.13) and
    ``scoring`` behind SDK_SERVE_TOKEN, with the token and without it (401 for /v1/*)."""
    operation = schemas[server][path][method]
    headers = AUTH if token else None
    guarded = server == "token" and not token and path.startswith("/v1/")

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)
        if guarded:
            assert response.status_code == 401
            assert response.headers["content-type"] == [PROBLEM_JSON]

    run()


def test_the_fuzzed_operations_are_every_served_operation(schemas: dict[str, Any]) -> None:
    for schema in schemas.values():
        served = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
        assert served == set(OPERATIONS)


# -- hostile bodies ----------------------------------------------------------------------------

JSON = {"content-type": "application/json"}
RECORD = {"customer_id": 7, "amount": 120.5, "country": "FR", "mean_amount": 80.0, "n_tx": 4}


def _with(text: str) -> bytes:
    """An array of one record whose ``"mean_amount": 80.0`` is replaced by ``text``."""
    return json.dumps([RECORD]).replace('"mean_amount": 80.0', text).encode()


def _chunks(total: int) -> Iterator[bytes]:
    """``total`` bytes in 1 MB chunks: sent chunked, without Content-Length."""
    yield b"["
    for _ in range(total // 1_000_000):
        yield b" " * 1_000_000


def _nine_mb() -> bytes:
    """About 9 MB of valid records (under max_body_bytes, 10 MB by default)."""
    size = len(json.dumps(RECORD)) + 2
    return json.dumps([RECORD | {"customer_id": i} for i in range(9_000_000 // size)]).encode()


NESTED = 100_000

LATIN_1 = {"content-type": "application/json; charset=latin-1"}


def _case(
    name: str,
    body: bytes | Callable[[], bytes],
    headers: dict[str, str] | None = None,
    bug: str | None = None,
) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(body, JSON if headers is None else headers, id=name, marks=marks)


def _records(*records: Any) -> bytes:
    return json.dumps(list(records)).encode()


HOSTILE = [
    _case("nested-arrays", b"[" * NESTED + b"]" * NESTED),
    _case("nested-objects", b'{"inputs":' * NESTED + b"{}" + b"}" * NESTED),
    _case("nested-value", _records(RECORD | {"x": json.loads("[" * 50 + "]" * 50)})),
    _case("1e400-amount", _with('"mean_amount": 80.0, "amount": 1e400')),
    _case("1e400-mean", _with('"mean_amount": 1e400')),
    _case("10**1000-id", _with('"mean_amount": 80.0, "customer_id": 1' + "0" * 1000)),
    _case("10**1000-mean", _with('"mean_amount": 1' + "0" * 1000)),
    _case("10**1000-n_tx", _with('"mean_amount": 80.0, "n_tx": 1' + "0" * 1000)),
    _case("max-float-mean", _records(RECORD | {"mean_amount": 1.7976931348623157e308})),
    _case("float-round-trip", _records(RECORD | {"amount": 0.30000000000000004})),
    _case("NaN-amount", _with('"mean_amount": 80.0, "amount": NaN')),
    _case("NaN-mean", _with('"mean_amount": NaN')),
    _case("Infinity-mean", _with('"mean_amount": Infinity')),
    _case("-Infinity-mean", _with('"mean_amount": -Infinity')),
    _case("-Infinity-amount", _with('"mean_amount": 80.0, "amount": -Infinity')),
    _case("inf-text-mean", _records(RECORD | {"mean_amount": "inf"})),
    _case("-Infinity-text-mean", _records(RECORD | {"mean_amount": "-Infinity"})),
    _case("1e400-text-mean", _records(RECORD | {"mean_amount": "1e400"})),
    _case("big-int-in-an-extra-key", _records(RECORD | {"extra": [10**22, {"n": 2**70}]})),
    _case("NUL-country", _records(RECORD | {"country": "F\x00"})),
    _case("NUL-extra", _records(RECORD | {"note": "a\x00b"})),
    _case("surrogate-country", _records(RECORD | {"country": "\ud800"})),
    _case("surrogate-extra", _records(RECORD | {"note": "\udc00x"})),
    _case("surrogate-key", _records(RECORD | {"\ud800": 1})),
    _case("duplicate-key-bad", _with('"mean_amount": 80.0, "amount": "lots"')),
    _case("duplicate-key-good", _with('"mean_amount": 80.0, "amount": 3.0')),
    _case("duplicate-inputs", b'{"inputs": {"features": []}, "inputs": {"nope": []}}'),
    _case("9MB-of-records", _nine_mb),
    _case("1000-extra-keys", _records(RECORD | {f"extra_{i}": i for i in range(1_000)}, RECORD)),
    _case("not-utf-8", b'[{"country": "\xff\xfe"}]'),
    _case("empty-body", b""),
    _case("blank-body", b"   "),
    _case("null", b"null"),
    _case("empty-array", b"[]"),
    _case("empty-object-record", b"[{}]"),
    _case("empty-objects-and-a-number", b"[{}, {}, 5]"),
    _case("elements-of-every-type", b'[true, null, [1], "x", 1.5, ' + _records(RECORD)[1:]),
    _case("elements-and-an-empty-object", b'[true, {}, "x"]'),
    _case("wrong-json-types", _records(RECORD | {"amount": True, "n_tx": [4], "country": {}})),
    _case("malformed-number", _records(RECORD | {"amount": "12x"})),
    _case("utf-16", json.dumps([RECORD]).encode("utf-16")),
    _case("latin-1", _records(RECORD | {"x": "\xe9"}).replace(b"\\u00e9", b"\xe9"), LATIN_1),
    _case("charset-latin-1-ascii", _records(RECORD), LATIN_1),
    _case("text-plain", _records(RECORD), {"content-type": "text/plain"}),
    _case("no-content-type", _records(RECORD), {}),
    _case("param-not-allowed", b'{"inputs": {"features": []}, "params": {"score.weight": 1}}'),
    _case("params-not-object", b'{"inputs": {"features": []}, "params": "x"}'),
]


def _strict_json(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"the answer is not strict JSON: it has {token}")

    return json.loads(text, parse_constant=refuse)


def _validators(url: str) -> dict[str, Callable[[Any], None]]:
    """Validate a body against a component of the OpenAPI document served at ``url``."""
    document = httpx.get(url + "/openapi.json").json()

    def validator(name: str) -> Callable[[Any], None]:
        schema = {"components": document["components"], "$ref": f"#/components/schemas/{name}"}
        return jsonschema_rs.Draft202012Validator(schema).validate

    return {"answer": validator("RunResponse"), "problem": validator("Problem")}


@pytest.fixture(scope="module")
def validators(servers: dict[str, Any]) -> dict[str, Callable[[Any], None]]:
    return _validators(servers["scoring"].url)


@pytest.mark.parametrize(("body", "headers"), HOSTILE)
def test_hostile_bodies_never_get_a_5xx(
    servers: dict[str, Any],
    validators: dict[str, Any],
    body: bytes | Callable[[], bytes],
    headers: dict[str, str],
) -> None:
    """Status < 500; a problem document for an error, else an answer conforming to the
    served schema in which every record sent is either an output or quarantined."""
    server = servers["scoring"]
    content = body() if callable(body) else body
    response = httpx.post(server.url + "/v1/run", content=content, headers=headers, timeout=120)
    assert response.status_code < 500, response.text[:2000]
    document = _strict_json(response.text)
    if response.status_code in (200, 422):
        assert response.headers["content-type"] == "application/json"
        validators["answer"](document)
        _assert_accounted(content, document)
        for record in document["outputs"]["scored"]:
            for column in ("amount", "mean_amount", "score"):
                value = record[column]  # infinities are the text JSON writes for them
                assert value in ("inf", "-inf") or math.isfinite(value), record
        if b"0.30000000000000004" in content:
            assert document["outputs"]["scored"][0]["amount"] == 0.30000000000000004
    else:
        assert response.headers["content-type"] == PROBLEM_JSON, response.text[:2000]
        validators["problem"](document)
        assert document["status"] == response.status_code
        assert document["type"].startswith("urn:sdk-serve:problem:")
        assert document["request_id"] == response.headers["x-request-id"]
        assert "Traceback" not in response.text
    assert httpx.get(server.url + "/healthz").status_code == 200


def _assert_accounted(content: bytes, answer: dict[str, Any]) -> None:
    """Each position of the records sent is an output (in order) or in the quarantine."""
    sent = json.loads(content)
    records = sent if isinstance(sent, list) else sent.get("inputs", {}).get("features", [])
    quarantined = {int(q["source"].removeprefix("request#")) for q in answer["quarantine"]}
    assert quarantined <= set(range(len(records)))
    passed = [i for i in range(len(records)) if i not in quarantined]
    scored = answer["outputs"]["scored"]
    assert len(scored) == len(passed), "records neither answered nor quarantined"


def test_malformed_framing_never_gets_a_5xx(servers: dict[str, Any]) -> None:
    """Content-Length that is not a number, negative, or next to chunked: never a 5xx (the
    HTTP layer or the app refuses them), and the server goes on."""
    server = servers["scoring"]
    host, port = httpx.URL(server.url).host, httpx.URL(server.url).port
    assert port is not None
    for framing in (
        b"Content-Length: x\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 2\r\nContent-Length: 3\r\n",
        b"Content-Length: 99999999999999999999\r\n",
    ):
        status = _raw_post(host, port, framing, b"[]")
        assert status is None or status < 500, (framing, status)
    for framing in (  # chunked wins over Content-Length: a chunked body
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\n",
    ):
        status = _raw_post(host, port, framing, b"2\r\n[]\r\n0\r\n\r\n")
        assert status is None or status < 500, (framing, status)
    assert httpx.post(server.url + "/v1/run", json=[RECORD], timeout=60).status_code == 200


def _raw_post(host: str, port: int, framing: bytes, body: bytes) -> int | None:
    """POST /v1/run over a raw socket; the status, or None if the server closed without one."""
    head = b"POST /v1/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(head + framing + b"Connection: close\r\n\r\n" + body)
        received = b""
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                received += chunk
    if not received.startswith(b"HTTP/1.1 "):
        return None
    return int(received[9:12])


def test_every_record_of_a_hostile_body_is_answered_or_quarantined(
    servers: dict[str, Any],
) -> None:
    """Hostile values that do get through are accounted for, position by position."""
    records: list[Any] = [
        RECORD,
        RECORD | {"amount": "12x"},
        RECORD | {"country": "F\x00"},
        5,
        RECORD | {f"extra_{i}": "y" for i in range(300)},
        RECORD | {"n_tx": None},
        [RECORD],
    ]
    response = httpx.post(servers["scoring"].url + "/v1/run", json=records, timeout=60)
    assert response.status_code == 200
    answer = response.json()
    assert [r["customer_id"] for r in answer["outputs"]["scored"]] == [7, 7]
    assert answer["outputs"]["scored"][1]["extra_299"] == "y"
    assert {q["source"] for q in answer["quarantine"]} == {f"request#{i}" for i in (1, 2, 3, 5, 6)}


def test_a_raising_step_answer_conforms(servers: dict[str, Any]) -> None:
    """``flagging`` raises on amount 13.13: that record is quarantined (step_error), the
    others answered, in an answer of the served schema."""
    server = servers["flagging"]
    records = [RECORD, RECORD | {"amount": 13.13}, RECORD | {"amount": "x"}, RECORD]
    response = httpx.post(server.url + "/v1/run", json=records, timeout=60)
    assert response.status_code == 200
    answer = _strict_json(response.text)
    _validators(server.url)["answer"](answer)
    assert len(answer["outputs"]["flagged"]) == 2
    checks = {(q["source"], q["check"]) for q in answer["quarantine"]}
    assert checks == {("request#1", "step_error"), ("request#2", "coerce_dtype('float64')")}


def test_a_chunked_body_over_the_limit_is_413(servers: dict[str, Any]) -> None:
    server = servers["scoring"]
    response = httpx.post(
        server.url + "/v1/run", content=_chunks(12_000_000), headers=JSON, timeout=120
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == "urn:sdk-serve:problem:body-too-large"
    # and a chunked body under the limit is read whole
    small = httpx.post(
        server.url + "/v1/run",
        content=iter([b"[", json.dumps(RECORD).encode(), b"]"]),
        headers=JSON,
        timeout=60,
    )
    assert small.status_code == 200 and len(small.json()["outputs"]["scored"]) == 1


def test_a_declared_content_length_over_the_limit_is_413_before_reading(
    servers: dict[str, Any],
) -> None:
    server = servers["scoring"]
    response = httpx.post(
        server.url + "/v1/run", content=b"x" * 10_000_001, headers=JSON, timeout=120
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON


def test_the_servers_survived(servers: dict[str, Any]) -> None:
    """After all of the above: every server is still up, and serves a good record."""
    for name, server in servers.items():
        headers = AUTH if name == "token" else {}
        response = httpx.post(server.url + "/v1/run", json=[RECORD], headers=headers, timeout=60)
        assert response.status_code == 200, (name, response.text)
        assert server.process.poll() is None
