"""A real server (``sdk run ... --runner serve``) driven over loopback HTTP with httpx."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scoring import record
from serve_harness import serve  # noqa: F401 (the fixture)

from examples.fraud.pipeline import Features, Score
from sdk import QUARANTINE_COLUMNS, Pipeline

TARGET = "scoring:scoring"
QUARANTINE_KEYS = list(QUARANTINE_COLUMNS)  # each answer's records: the core's columns, in order


def _score(amount: float, weight: float = 0.7) -> float:
    return 1 / (1 + math.exp(-weight * math.log1p(amount)))


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"urn:sdk-serve:problem:{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


@pytest.fixture
def server(serve: Any) -> Any:
    return serve(TARGET, "max_records=5", "max_body_bytes=2000", "allow_params=score.weight")


def test_good_request_scores_every_record_like_local(server: Any) -> None:
    records = [record(), record(customer_id=8, amount=5000.0, country="DE")]
    response = server.post(records, headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "req-42" == response.headers["x-request-id"]
    assert body["run_id"] == server.events("serve_started")[0]["run_id"]
    assert body["quarantine"] == []
    scored = body["outputs"]["scored"]
    assert [r["customer_id"] for r in scored] == [7, 8]
    assert [r["score"] for r in scored] == pytest.approx([_score(120.5), _score(5000.0)], rel=1e-12)
    local = Pipeline([Score(weight=0.7)], name="scoring").run(features=pd.DataFrame(records))
    expected = json.loads(local.outputs["scored"].to_json(orient="records", double_precision=15))
    assert len(scored) == len(expected)
    for got, want in zip(scored, expected, strict=True):
        assert got.keys() == want.keys()
        assert {k: v for k, v in got.items() if k != "country"} == pytest.approx(
            {k: v for k, v in want.items() if k != "country"}, rel=1e-12
        )
        assert got["country"] == want["country"]
    assert response.headers["x-pipeline"] == "scoring"
    assert (
        response.headers["x-pipeline-fingerprint"] == server.events("run_started")[0]["fingerprint"]
    )
    assert response.headers["x-pipeline-version"].startswith("pipeline-sdk/")


def test_partly_bad_request_answers_the_good_and_quarantines_the_bad(server: Any) -> None:
    records = [record(), record(amount="lots"), record(country="France"), record(customer_id=3)]
    response = server.post(records)
    assert response.status_code == 200
    body = response.json()
    assert [r["customer_id"] for r in body["outputs"]["scored"]] == [7, 3]
    quarantine = body["quarantine"]
    assert [list(q) for q in quarantine] == [QUARANTINE_KEYS] * 2
    by_source = {q["source"]: q for q in quarantine}
    assert set(by_source) == {"request#1", "request#2"}
    assert by_source["request#1"]["column"] == "amount"
    assert by_source["request#1"]["check"] == "coerce_dtype('float64')"
    assert by_source["request#1"]["value"] == "lots"
    assert by_source["request#1"]["row"] == records[1]
    assert by_source["request#2"]["check"] == "str_matches('^[A-Z]{2}$')"
    assert by_source["request#2"]["value"] == "France"
    assert {q["step"] for q in quarantine} == {"score"}
    assert {q["boundary"] for q in quarantine} == {"input"}


def test_all_bad_or_empty_request_is_422_with_the_same_shape(server: Any) -> None:
    response = server.post([record(n_tx=0), record(amount=-1)])
    assert response.status_code == 422
    body = response.json()
    assert body["outputs"] == {"scored": []}
    assert sorted(q["source"] for q in body["quarantine"]) == ["request#0", "request#1"]
    empty = server.post([])
    assert empty.status_code == 422
    assert empty.json()["outputs"] == {"scored": []} and empty.json()["quarantine"] == []


def test_a_record_that_is_not_an_object_is_quarantined(server: Any) -> None:
    response = server.post([record(), 5, "text"])
    assert response.status_code == 200
    body = response.json()
    assert len(body["outputs"]["scored"]) == 1
    assert [(q["source"], q["check"], q["value"]) for q in body["quarantine"]] == [
        ("request#1", "not_an_object", "5"),
        ("request#2", "not_an_object", '"text"'),
    ]


def test_bad_requests_get_problem_documents(server: Any) -> None:
    url = server.url + "/v1/run"
    json_header = {"content-type": "application/json"}
    body = _problem(httpx.post(url, content=b"[{", headers=json_header), 400, "malformed-json")
    assert "not JSON" in body["detail"]
    _problem(
        httpx.post(url, content=b"a,b\n1,2", headers={"content-type": "text/csv"}),
        415,
        "unsupported-media-type",
    )
    # over max_body_bytes: refused before it is parsed (it is not even JSON)
    _problem(httpx.post(url, content=b"x" * 2001, headers=json_header), 413, "body-too-large")
    body = _problem(server.post([record()] * 6), 413, "too-many-records")
    assert "at most 5" in body["detail"]
    body = _problem(server.post({"inputs": {"nope": [record()]}}), 400, "unknown-dataset")
    assert "'nope'" in body["detail"] and "features" in body["detail"]
    _problem(server.post({"inputs": {"features": []}, "extra": 1}), 400, "unknown-field")
    _problem(server.post(17), 400, "bad-request-shape")
    _problem(httpx.get(server.url + "/v2/nothing"), 404, "not-found")
    _problem(httpx.get(url), 405, "method-not-allowed")
    assert server.post([record()]).status_code == 200  # and it still serves


def test_params_per_request_only_where_allowed(server: Any) -> None:
    body = {"inputs": {"features": [record()]}, "params": {"score.weight": 0.2}}
    response = server.post(body)
    assert response.status_code == 200
    assert response.json()["outputs"]["scored"][0]["score"] == pytest.approx(_score(120.5, 0.2))
    refused = _problem(
        server.post({**body, "params": {"score.bias": 1.0}}), 400, "param-not-allowed"
    )
    assert "score.weight" in refused["detail"]
    _problem(server.post({**body, "params": {"score.weight": "heavy"}}), 400, "bad-param")
    # the default is untouched by the request before
    default = server.post([record()]).json()["outputs"]["scored"][0]["score"]
    assert default == pytest.approx(_score(120.5))


def test_a_step_that_raises_quarantines_only_its_record(serve: Any) -> None:
    server = serve("scoring:flagging")
    response = server.post([record(), record(amount=13.13), record(customer_id=9)])
    assert response.status_code == 200
    body = response.json()
    assert [r["customer_id"] for r in body["outputs"]["flagged"]] == [7, 9]
    (quarantined,) = body["quarantine"]
    assert quarantined["check"] == "step_error"
    assert quarantined["step"] == "flag" and quarantined["source"] == "request#1"
    assert "cursed" in quarantined["value"]


def test_a_step_that_raises_under_fail_is_a_500_without_traceback(serve: Any) -> None:
    server = serve("scoring:flagging", "on_step_error=fail")
    body = _problem(server.post([record(amount=13.13)]), 500, "step-failed")
    assert "'flag'" in body["detail"] and "cursed" not in body["detail"]
    failed = server.wait_for("request_failed")
    assert failed and failed[0]["request_id"] == body["request_id"]
    assert server.post([record()]).status_code == 200  # the server goes on


def test_two_inputs_are_named_and_their_sources_too(serve: Any) -> None:
    server = serve("scoring:two_inputs")
    reading = {"sensor": "a", "celsius": 20.0}
    body = {"inputs": {"readings": [reading, {"sensor": "z", "celsius": 1.0}], "sites": [reading]}}
    response = server.post(body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["outputs"]["kelvin"][0]["kelvin"] == pytest.approx(293.15)
    assert answer["outputs"]["labelled"] == [reading]
    assert [q["source"] for q in answer["quarantine"]] == ["request:readings#1"]
    _problem(server.post([reading]), 400, "ambiguous-input")


def test_a_pipeline_with_a_partition_step_is_refused_at_start(serve: Any) -> None:
    server = serve("scoring:fraud_whole", ready=False)
    assert server.process.wait(60) != 0
    server.reader.join(10)
    text = "".join(server.lines)
    assert "step 'add_features' has scope partition_by" in text
    assert "--runner batch" in text
    assert not server.events("serve_started")


def test_bearer_token_guards_v1_only(serve: Any) -> None:
    server = serve(TARGET, env={"SDK_SERVE_TOKEN": "s3cret"})
    denied = _problem(server.post([record()]), 401, "unauthorized")
    assert "Bearer" in denied["detail"]
    _problem(
        server.post([record()], headers={"Authorization": "Bearer wrong"}), 401, "unauthorized"
    )
    ok = server.post([record()], headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert httpx.get(server.url + "/readyz").json()["self_test"] == "passed"


def test_timeout_is_504_and_nothing_is_committed(serve: Any) -> None:
    server = serve("scoring:slow", "timeout_s=0.3")
    _problem(server.post([record(amount=77.77)]), 504, "timeout")
    time.sleep(1.5)  # its step still runs in the one worker (a thread cannot be stopped)
    assert server.post([record()]).status_code == 200
    assert server.stop() == 0
    finished = server.events("run_finished")[0]
    assert finished["rows_in"] == 1  # the timed-out request is not counted


def test_sigterm_lets_the_request_in_flight_finish(serve: Any) -> None:
    server = serve("scoring:slow")
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(server.post([record(amount=77.77)])))
    thread.start()
    time.sleep(0.5)  # the request is in the server, whose step sleeps 1.5 s on it
    assert server.stop() == 0
    thread.join(30)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["outputs"]["slowed"][0]["amount"] == 77.77
    finished = server.events("run_finished")[0]
    assert finished["status"] == "succeeded" and finished["rows_in"] == 1
    assert server.events("serve_stopping")[0]["signal"] == "SIGTERM"


def test_logs_carry_the_request_id_and_nothing_per_row(server: Any) -> None:
    response = server.post(
        [record(), record(amount="x"), record()], headers={"X-Request-ID": "abc"}
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 10  # the access line follows the answer
    while not any(e.get("request_id") == "abc" for e in server.events("http_request")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    mine = [e for e in server.events() if e.get("request_id") == "abc"]
    events = [e["event"] for e in mine]
    assert events.count("unit_committed") == 1 and events.count("http_request") == 1
    assert len(mine) <= 4  # the step's own line, the unit, the access line: never per row
    unit = next(e for e in mine if e["event"] == "unit_committed")
    assert (unit["rows"], unit["passed"], unit["quarantined"]) == (3, 2, 1)
    assert unit["run_id"] == response.json()["run_id"]
    line = next(e for e in mine if e["event"] == "http_request")
    assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/run", 200)
    assert line["duration_ms"] > 0


def test_metrics_count_requests_rows_and_checks(server: Any) -> None:
    server.post([record(), record(amount="x")])
    server.post([record(n_tx=0)])
    httpx.post(server.url + "/v1/run", content=b"[", headers={"content-type": "application/json"})
    text = httpx.get(server.url + "/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("sdk_requests_total", (("status", "200"),))] == 1
    assert samples[("sdk_requests_total", (("status", "422"),))] == 1
    assert samples[("sdk_requests_total", (("status", "400"),))] == 1
    assert samples[("sdk_rows_total", (("kind", "in"),))] == 3
    assert samples[("sdk_rows_total", (("kind", "out"),))] == 1
    assert samples[("sdk_rows_total", (("kind", "quarantined"),))] == 2
    check = (("check", "coerce_dtype('float64')"), ("step", "score"))
    assert samples[("sdk_quarantined_total", check)] == 1
    assert samples[("sdk_request_duration_seconds_count", ())] == 3


def test_pipeline_description_and_openapi_contract(server: Any) -> None:
    described = httpx.get(server.url + "/v1/pipeline").json()
    assert described["name"] == "scoring"
    assert described["steps"][0] == {
        "name": "score",
        "class": "Score",
        "scope": "rows",
        "inputs": {"features": "features"},
        "output": "scored",
        "output_model": "Scored",
        "params": {"weight": 0.7, "bias": 0.0},
    }
    assert described["allow_params"] == ["score.weight"]
    document = httpx.get(server.url + "/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    features = schemas["Features"]
    assert features["properties"]["customer_id"] == {"type": "integer", "minimum": 0}
    assert features["properties"]["country"]["pattern"] == "^[A-Z]{2}$"
    assert set(features["required"]) == set(Features.to_schema().columns)
    assert schemas["Scored"]["properties"]["score"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
    }
    operation = document["paths"]["/v1/run"]["post"]
    example = operation["requestBody"]["content"]["application/json"]["example"]
    assert Features.validate(pd.DataFrame(example)).shape[0] == len(example)
    assert {"200", "400", "413", "415", "422", "500", "504"} <= set(operation["responses"])
    assert httpx.get(server.url + "/docs").status_code == 200


def test_the_run_ends_with_a_manifest_on_sigterm(server: Any) -> None:
    server.post([record(), record(amount="x")])
    server.post([record()])
    assert server.stop() == 0
    finished = server.events("run_finished")[0]
    assert (finished["status"], finished["rows_in"], finished["quarantined"]) == ("succeeded", 3, 1)
    steps = server.events("step_finished")
    assert [(s["step"], s["rows_out"]) for s in steps] == [("score", 2)]
    run_dir = server.events("run_started")[0]["run_dir"]
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["runner"] == "serve"


def test_an_unexpected_fault_is_a_500_with_the_request_id_only(serve: Any) -> None:
    server = serve("faulty:scoring")  # the answer to three records cannot be rendered
    response = server.post([record(), record(), record()], headers={"X-Request-ID": "r-500"})
    body = _problem(response, 500, "internal-error")
    assert "r-500" in body["detail"]
    assert "boom" not in response.text
    (logged,) = server.wait_for("request_error")
    assert logged["request_id"] == "r-500"
    assert "RuntimeError: boom" in logged["exc_info"]
    assert server.post([record()]).status_code == 200  # and it serves on


def test_strict_refuses_a_pipeline_that_breaks_the_policy(serve: Any) -> None:
    server = serve("scoring:slow", extra=["--strict"], ready=False)
    assert server.process.wait(60) == 3
    server.reader.join(10)
    text = "".join(server.lines)
    assert "strict mode refuses" in text and "import of time" in text
    assert not server.events("serve_started")


def test_destinations_are_refused_and_tabular_inputs_ignored(serve: Any) -> None:
    refused = serve(TARGET, extra=["--output", "scored=out.csv"], ready=False)
    assert refused.process.wait(60) == 2
    refused.reader.join(10)
    assert "writes no outputs destination; drop --output" in "".join(refused.lines)
    server = serve(TARGET, extra=["--input", "features=examples/fraud/transactions.csv"])
    (ignored,) = server.events("serve_input_ignored")
    assert ignored["dataset"] == "features"
    assert server.post([record()]).status_code == 200
