"""Two runs side by side: quarantine rate per check, rows per boundary, params, fingerprint,
input hashes and versions ("what changed since yesterday's run")."""

from __future__ import annotations

import json
from typing import Any

from sdk.report._model import RunModel

__all__ = ["comparison"]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _side(model: RunModel) -> dict[str, Any]:
    manifest = model.manifest
    return {
        "run_id": model.run_id,
        "status": model.status,
        "pipeline": str(manifest.get("pipeline") or ""),
        "runner": str(manifest.get("runner") or ""),
        "started": str(manifest.get("started") or ""),
        "duration_ms": "" if model.duration_ms is None else f"{model.duration_ms:.1f}",
        "rows_in": model.rows_in,
        "quarantined": model.quarantined,
        "fingerprint": str(manifest.get("fingerprint") or ""),
    }


def comparison(a: RunModel, b: RunModel) -> dict[str, Any]:
    """The comparison of run ``a`` with run ``b``, as the compare template shows it.

    A check's rate is its quarantine records over the run's rows in (``0`` when the run read
    none); a boundary, param, input or package missing from one run is shown empty there."""
    checks_a, checks_b = a.by_check, b.by_check
    checks = [
        {
            "label": label,
            "a_records": checks_a.get(label, 0),
            "b_records": checks_b.get(label, 0),
            "a": checks_a.get(label, 0) / a.rows_in if a.rows_in else 0.0,
            "b": checks_b.get(label, 0) / b.rows_in if b.rows_in else 0.0,
        }
        for label in sorted(set(checks_a) | set(checks_b))
    ]

    def keyed(model: RunModel) -> dict[tuple[str, str, str], dict[str, int]]:
        return {
            (str(v.get("step")), str(v.get("boundary")), str(v.get("dataset"))): {
                k: int(v.get(k) or 0) for k in ("rows", "passed", "quarantined")
            }
            for v in model.validation
        }

    rows_a, rows_b = keyed(a), keyed(b)
    order = list(rows_a) + [k for k in rows_b if k not in rows_a]
    rows = [
        {
            "step": k[0],
            "boundary": k[1],
            "dataset": k[2],
            "a": rows_a.get(k),
            "b": rows_b.get(k),
            "same": rows_a.get(k) == rows_b.get(k),
        }
        for k in order
    ]
    params_a, params_b = a.params, b.params
    params = []
    for step in list(params_a) + [s for s in params_b if s not in params_a]:
        pa, pb = params_a.get(step, {}), params_b.get(step, {})
        for name in list(pa) + [n for n in pb if n not in pa]:
            va, vb = _text(pa.get(name)), _text(pb.get(name))
            params.append({"step": step, "param": name, "a": va, "b": vb, "same": va == vb})
    inputs_a = {str(i.get("name")): i for i in a.manifest.get("inputs") or []}
    inputs_b = {str(i.get("name")): i for i in b.manifest.get("inputs") or []}
    inputs = []
    for name in list(inputs_a) + [n for n in inputs_b if n not in inputs_a]:
        ia, ib = inputs_a.get(name, {}), inputs_b.get(name, {})
        ha, hb = _text(ia.get("content_hash")), _text(ib.get("content_hash"))
        inputs.append(
            {
                "name": name,
                "a": ha,
                "b": hb,
                "a_rows": _text(ia.get("rows")),
                "b_rows": _text(ib.get("rows")),
                "same": ha == hb and ia.get("rows") == ib.get("rows"),
            }
        )
    versions_a = a.manifest.get("versions") or {}
    versions_b = b.manifest.get("versions") or {}
    versions = [
        {
            "name": name,
            "a": _text(versions_a.get(name)),
            "b": _text(versions_b.get(name)),
            "same": versions_a.get(name) == versions_b.get(name),
        }
        for name in list(versions_a) + [n for n in versions_b if n not in versions_a]
    ]
    side_a, side_b = _side(a), _side(b)
    return {
        "a": side_a,
        "b": side_b,
        "same_fingerprint": side_a["fingerprint"] == side_b["fingerprint"],
        "checks": checks,
        "rows": rows,
        "params": params,
        "inputs": inputs,
        "versions": versions,
    }
