"""A fitted model served: trained in one run, loaded and hash-checked once by the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from serve_harness import serve  # noqa: F401 (the fixture)

pytest.importorskip("sklearn")
pytest.importorskip("skops")

from examples.spaceflights.pipeline import Features, serving, training
from sdk import synthesize

DATA = Path(__file__).parents[3] / "examples" / "spaceflights"


def test_a_trained_model_is_served_and_its_lineage_shown(serve: Any, tmp_path: Path) -> None:
    model = tmp_path / "regressor.skops"
    trained = training.run(
        companies=str(DATA / "companies.csv"),
        shuttles=str(DATA / "shuttles.csv"),
        reviews=str(DATA / "reviews.csv"),
        outputs={"regressor": str(model), "metrics": str(tmp_path / "metrics.json")},
        quarantine=str(tmp_path / "quarantine.csv"),
        runner_options={"run_dir": str(tmp_path / "runs")},
    )
    server = serve(
        "examples.spaceflights.pipeline:serving", extra=["--input", f"regressor={model}"]
    )
    described = httpx.get(server.url + "/v1/pipeline").json()
    (artifact,) = described["artifacts"]
    assert artifact["name"] == "regressor"
    assert artifact["produced_by_run"] == trained.run_id
    assert len(artifact["content_hash"]) >= 16
    loaded = server.events("artifact_loaded")
    assert len(loaded) == 1  # once, at start: not per request

    shuttles = synthesize(Features, 5, seed=4)
    records = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in shuttles.to_dict(orient="records")
    ]
    records[2]["crew"] = -3  # one bad record
    response = server.post(records)
    assert response.status_code == 200
    body = response.json()
    assert [q["source"] for q in body["quarantine"]] == ["request#2"]
    local = serving.run(features=pd.DataFrame(records), regressor=str(model), max_invalid=1)
    got = [r["predicted_price"] for r in body["outputs"]["scored"]]
    assert got == pytest.approx(local.outputs["scored"]["predicted_price"].tolist(), rel=1e-12)
    assert len(server.events("artifact_loaded")) == 1
