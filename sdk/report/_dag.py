"""The pipeline graph of a run, laid out in layers for an inline SVG.

Steps and datasets are nodes; an edge dataset → step is that step's input boundary, step →
dataset its output boundary, each carrying the rows passed and quarantined there. The layers are
networkx's topological generations (left to right); within a layer, nodes are ordered by the mean
position of their predecessors (one barycentre pass), which keeps edges from crossing in the
usual fan-in/fan-out pipelines. The SVG itself is drawn by the template, escaped by Jinja.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

__all__ = ["RATE_BANDS", "layout", "rate_colour"]

NODE_W, NODE_H = 168, 44
LAYER_GAP, ROW_GAP, MARGIN = 110, 34, 16

RATE_BANDS = (
    (0.0, "#2e7d32", "none quarantined"),
    (0.01, "#9e9d24", "under 1 %"),
    (0.1, "#ef6c00", "1 % to 10 %"),
    (1.01, "#c62828", "10 % or more"),
)
"""Quarantine-rate bands of the boundaries' colours: (upper bound, colour, legend)."""

SKIPPED_COLOUR = "#757575"


def rate_colour(rows: int, quarantined: int) -> str:
    """The colour of a boundary that quarantined ``quarantined`` of ``rows``."""
    if not quarantined:
        return RATE_BANDS[0][1]
    rate = quarantined / rows if rows else 1.0
    for bound, colour, _ in RATE_BANDS[1:]:
        if rate < bound:
            return colour
    return RATE_BANDS[-1][1]


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layout(manifest: dict[str, Any]) -> dict[str, Any]:
    """Nodes, edges and size of the run's graph (``nodes``, ``edges``, ``width``, ``height``).

    A node is ``kind`` (``step``, or a dataset's ``input``, ``intermediate``, ``output``,
    ``artifact``), ``name``, ``label`` and its box (``x``, ``y``). An edge with a validated
    boundary has ``validated`` true, ``passed``, ``quarantined``, ``skipped`` and a ``colour``;
    one without (an artifact, a step a failed run never reached) is drawn as a plain link.
    """
    steps = list(manifest.get("steps") or [])
    inputs = {str(i.get("name")) for i in manifest.get("inputs") or []}
    artifact_names = {
        str(a.get("name"))
        for side in ("produced", "consumed")
        for a in (manifest.get("artifacts") or {}).get(side) or []
    }
    artifact_names |= {
        str(i.get("name"))
        for i in manifest.get("inputs") or []
        if i.get("rows") is None and i.get("uri") != "<DataFrame>"
    }
    boundaries = {
        (str(v.get("step")), str(v.get("boundary")), str(v.get("dataset"))): v
        for v in manifest.get("validation") or []
    }
    graph: nx.DiGraph[str] = nx.DiGraph()
    consumed: set[str] = set()
    edges: list[tuple[str, str, str, str, str]] = []  # from, to, step, boundary, dataset
    for step in steps:
        name = str(step.get("name"))
        graph.add_node("s:" + name)
        for dataset in (step.get("inputs") or {}).values():
            graph.add_edge("d:" + str(dataset), "s:" + name)
            consumed.add(str(dataset))
            edges.append(("d:" + str(dataset), "s:" + name, name, "input", str(dataset)))
        if step.get("output"):
            out = str(step["output"])
            graph.add_edge("s:" + name, "d:" + out)
            edges.append(("s:" + name, "d:" + out, name, "output", out))
    for name in inputs:
        graph.add_node("d:" + name)
    generations = (
        list(nx.topological_generations(graph))
        if nx.is_directed_acyclic_graph(graph)
        else [sorted(graph.nodes)]
    )
    position: dict[str, float] = {}
    nodes = []
    height = 0
    for layer, generation in enumerate(generations):
        order = sorted(
            generation,
            key=lambda n: (
                sum(position.get(p, 0) for p in graph.predecessors(n))
                / max(1, len(list(graph.predecessors(n)))),
                n,
            ),
        )
        for row, node in enumerate(order):
            position[node] = row
            kind, name = node[0], node[2:]
            if kind == "s":
                node_kind = "step"
            elif name in artifact_names:
                node_kind = "artifact"
            elif name in inputs:
                node_kind = "input"
            else:
                node_kind = "intermediate" if name in consumed else "output"
            x = MARGIN + layer * (NODE_W + LAYER_GAP)
            y = MARGIN + row * (NODE_H + ROW_GAP)
            nodes.append(
                {"id": node, "kind": node_kind, "name": name, "label": _short(name), "x": x, "y": y}
            )
            height = max(height, y + NODE_H + MARGIN)
    box = {n["id"]: n for n in nodes}
    drawn = []
    for source, target, step, boundary, dataset in edges:
        a, b = box[source], box[target]
        x1, y1 = a["x"] + NODE_W, a["y"] + NODE_H / 2
        x2, y2 = b["x"], b["y"] + NODE_H / 2
        record = boundaries.get((step, boundary, dataset))
        edge: dict[str, Any] = {
            "from": source[2:],
            "to": target[2:],
            "step": step,
            "boundary": boundary,
            "dataset": dataset,
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
            "mx": (x1 + x2) / 2,
            "my": (y1 + y2) / 2 - 6,
            "validated": record is not None,
        }
        if record is not None:
            rows, quarantined = int(record.get("rows") or 0), int(record.get("quarantined") or 0)
            skipped = bool(record.get("skipped"))
            edge.update(
                passed=int(record.get("passed") or 0),
                quarantined=quarantined,
                rows=rows,
                skipped=skipped,
                rate=quarantined / rows if rows else 0.0,
                colour=SKIPPED_COLOUR if skipped else rate_colour(rows, quarantined),
            )
        drawn.append(edge)
    width = max([n["x"] + NODE_W + MARGIN for n in nodes], default=2 * MARGIN)
    return {
        "nodes": nodes,
        "edges": drawn,
        "width": width,
        "height": max(height, NODE_H + 2 * MARGIN),
        "node_w": NODE_W,
        "node_h": NODE_H,
        "bands": RATE_BANDS,
        "skipped_colour": SKIPPED_COLOUR,
    }
