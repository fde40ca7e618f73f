"""Rendering the report's models with Jinja2 (autoescaped everywhere).

Every value reaches the page through a template, escaped by Jinja; the only data the script
reads is JSON in a ``<script type="application/json">`` element, written with Jinja's
``tojson`` (which escapes ``<``, ``>``, ``&`` and quotes), never JavaScript built from strings.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2
import markupsafe

from sdk.report._dag import layout
from sdk.report._model import RunModel
from sdk.report._quarantine import truncate

__all__ = ["render_compact", "render_page"]


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sdk.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.ChainableUndefined,  # a field an older manifest lacks shows empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["text"] = _text
    env.filters["short"] = truncate
    env.filters["pct"] = _pct
    return env


def _text(value: Any) -> str:
    """A JSON-ish value as text: strings as they are, others as JSON, ``None`` as empty."""
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if isinstance(value, str):
        return truncate(value)
    return truncate(json.dumps(value, default=str, ensure_ascii=False))


def _pct(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 100:.2f} %"


def _boundaries(model: RunModel) -> list[dict[str, Any]]:
    durations = {
        str(s.get("name")): s.get("duration_ms") for s in model.manifest.get("steps") or []
    }
    rows = []
    for v in model.validation:
        n, passed, quarantined = (int(v.get(k) or 0) for k in ("rows", "passed", "quarantined"))
        difference = n - passed - quarantined
        duration = durations.get(str(v.get("step")))
        rows.append(
            {
                "step": str(v.get("step", "")),
                "boundary": str(v.get("boundary", "")),
                "dataset": str(v.get("dataset", "")),
                "rows": n,
                "passed": passed,
                "quarantined": quarantined,
                "skipped": bool(v.get("skipped")),
                "rate": quarantined / n if n else 0.0,
                "conservation": "ok" if difference == 0 else str(difference),
                "duration_ms": "" if duration is None else f"{float(duration):.1f}",
            }
        )
    return rows


def _profiles(profile: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not profile:
        return []
    tables = []
    for name, data in (profile.get("datasets") or {}).items():
        columns = []
        for column, stats in (data.get("columns") or {}).items():
            top = stats.get("top") or []
            columns.append(
                {
                    "name": str(column),
                    "dtype": stats.get("dtype"),
                    "count": stats.get("count"),
                    "nulls": stats.get("nulls"),
                    "min": stats.get("min"),
                    "max": stats.get("max"),
                    "top": ", ".join(f"{truncate(v, 60)} ({n})" for v, n in top),
                    "sampled": bool(stats.get("sampled")),
                }
            )
        tables.append(
            {
                "name": str(name),
                "role": str(data.get("role", "")),
                "rows": data.get("rows"),
                "columns": columns,
            }
        )
    return tables


def context(model: RunModel) -> dict[str, Any]:
    """The template variables of one run's page."""
    manifest = model.manifest
    artifacts = manifest.get("artifacts") or {}
    policy = manifest.get("policy")
    return {
        "m": model,
        "manifest": manifest,
        "identity": {
            "run_id": model.run_id,
            "status": model.status,
            "runner": manifest.get("runner") or model.record.get("runner") or "",
            "pipeline": manifest.get("pipeline") or model.record.get("pipeline") or "",
            "fingerprint": manifest.get("fingerprint") or model.record.get("fingerprint") or "",
            "duration_ms": "" if model.duration_ms is None else f"{model.duration_ms:.1f}",
            "rows_in": model.rows_in,
            "quarantined": model.quarantined,
            "started": manifest.get("started") or model.record.get("started") or "",
            "finished": manifest.get("finished") or model.record.get("finished") or "",
        },
        "dag": layout(manifest),
        "boundaries": _boundaries(model),
        "params": model.params,
        "inputs": list(manifest.get("inputs") or []),
        "outputs": list(manifest.get("outputs") or []),
        "versions": dict(manifest.get("versions") or {}),
        "options": dict(manifest.get("options") or {}),
        "produced": list(artifacts.get("produced") or []),
        "consumed": list(artifacts.get("consumed") or []),
        "metrics": dict(manifest.get("metrics") or {}),
        "policy_count": None if policy is None else int(policy.get("count") or 0),
        "policy_checked": policy is not None,
        "profiles": _profiles(model.profile),
        "profiled": model.profile is not None,
        "error": model.error,
        "q": model.quarantine,
        "script_data": {
            "run_id": model.run_id,
            "checks": model.quarantine["checks"],
            "sample_rows": len(model.quarantine["sample"]),
        },
    }


def render_page(model: RunModel, compare: dict[str, Any] | None = None) -> str:
    """The whole page of ``model`` (with a comparison to another run when given)."""
    template = _environment().get_template("report.html.j2")
    return template.render(**context(model), compare=compare)


def render_compact(model: RunModel, note: str, rows_out: dict[str, int], extra: str = "") -> str:
    """The compact view embedded in a notebook: identity, graph, boundaries and counts;
    ``extra`` is HTML already escaped (the result's artifacts and metrics)."""
    template = _environment().get_template("compact.html.j2")
    return template.render(
        **context(model), note=note, rows_out=rows_out, extra=markupsafe.Markup(extra)
    )
