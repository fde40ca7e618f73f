"""The pipeline graph of a run, laid out in layers for an inline SVG.

Steps and datasets are nodes; an edge dataset → step is that step's input boundary, step →
dataset its output boundary, each carrying the rows passed and quarantined there. The layers are
networkx's topological generations (left to right); within a layer, nodes are ordered by the mean
position of their predecessors (one barycentre pass), which keeps edges from crossing in the
usual fan-in/fan-out pipelines. The SVG itself is drawn by the template, escaped by Jinja.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

__all__ = ["RATE_BANDS", "layout", "rate_colour"]

NODE_W, NODE_H = 150, 40
LAYER_GAP, LAYER_GAP_V, ROW_GAP, MARGIN = 100, 64, 28, 16
MAX_LR_LAYERS = 6
"""A graph of more layers is drawn top-down (the page scrolls down, not sideways)."""

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


def _layers(graph: nx.DiGraph[str]) -> list[list[str]]:
    """networkx's topological generations, each source (a pipeline input) moved to the layer
    just before its first consumer, so an input read late does not cross the whole graph."""
    if not nx.is_directed_acyclic_graph(graph):
        return [sorted(graph.nodes)]
    layer = {
        node: depth
        for depth, generation in enumerate(nx.topological_generations(graph))
        for node in generation
    }
    for node in graph.nodes:
        successors = [layer[s] for s in graph.successors(node)]
        if graph.in_degree(node) == 0 and successors:
            layer[node] = min(successors) - 1
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in graph.nodes:
        layers[layer[node]].append(node)
    return [members for members in layers if members]


def _ordered(graph: nx.DiGraph[str], members: list[str], position: dict[str, float]) -> list[str]:
    """A layer's nodes in the order of their predecessors' mean position (one barycentre pass);
    nodes without placed predecessors (inputs) come last, in the pipeline's order."""

    def key(node: str) -> float:
        placed = [position[p] for p in graph.predecessors(node) if p in position]
        return sum(placed) / len(placed) if placed else float("inf")

    return sorted(members, key=key)


def _compact(n: int) -> str:
    """A count short enough for an edge label: ``1970``, ``48.2k``, ``5.00M`` (the exact
    numbers are in the edge's attributes and tooltip)."""
    if n < 100_000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def _label_at(graph: nx.DiGraph[str], source: str, target: str) -> float:
    """Where along its edge a label goes: near the source when edges converge on the target,
    near the target when they fan out of the source, else half way (labels do not collide)."""
    if graph.in_degree(target) > 1:
        return 0.3
    if graph.out_degree(source) > 1:
        return 0.7
    return 0.5


def _bezier(t: float, *points: tuple[float, float]) -> tuple[float, float]:
    """The point at ``t`` of the cubic Bézier curve through four control ``points``."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
    return (a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3)


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
    layers = _layers(graph)
    vertical = len(layers) > MAX_LR_LAYERS
    position: dict[str, float] = {}
    nodes: list[dict[str, Any]] = []
    widest = max((len(members) for members in layers), default=0)
    for layer, members in enumerate(layers):
        offset = (widest - len(members)) / 2  # each layer centred on the widest
        for row, node in enumerate(_ordered(graph, members, position)):
            position[node] = row + offset
            kind, name = node[0], node[2:]
            if kind == "s":
                node_kind = "step"
            elif name in artifact_names:
                node_kind = "artifact"
            elif name in inputs:
                node_kind = "input"
            else:
                node_kind = "intermediate" if name in consumed else "output"
            across = MARGIN + (row + offset) * ((NODE_W if vertical else NODE_H) + ROW_GAP)
            along = MARGIN + layer * ((NODE_H + LAYER_GAP_V) if vertical else (NODE_W + LAYER_GAP))
            x, y = (across, along) if vertical else (along, across)
            nodes.append(
                {"id": node, "kind": node_kind, "name": name, "label": _short(name), "x": x, "y": y}
            )
    box = {n["id"]: n for n in nodes}
    drawn = []
    for source, target, step, boundary, dataset in edges:
        ax, ay = float(box[source]["x"]), float(box[source]["y"])
        bx, by = float(box[target]["x"]), float(box[target]["y"])
        if vertical:
            x1, y1 = ax + NODE_W / 2, ay + NODE_H
            x2, y2 = bx + NODE_W / 2, by
            my = (y1 + y2) / 2
            c1, c2 = (x1, my), (x2, my)
            if y2 - y1 > 1.5 * (NODE_H + LAYER_GAP_V):  # over a layer: round the nodes between
                c1, c2 = (x1 + NODE_W, y1 + LAYER_GAP_V), (x2 + NODE_W, y2 - LAYER_GAP_V)
            path = f"M {x1} {y1} C {c1[0]} {c1[1]}, {c2[0]} {c2[1]}, {x2} {y2}"
            t = _label_at(graph, source, target)
            px, py = _bezier(t, (x1, y1), c1, c2, (x2, y2))
            label: tuple[float, float, str] = (px + 6, py + 4, "start")
        else:
            x1, y1 = ax + NODE_W, ay + NODE_H / 2
            x2, y2 = bx, by + NODE_H / 2
            mx = (x1 + x2) / 2
            c1, c2 = (mx, y1), (mx, y2)
            if x2 - x1 > 1.5 * (NODE_W + LAYER_GAP):  # over a layer: round the nodes between
                c1, c2 = (x1 + LAYER_GAP, y1 + 2 * NODE_H), (x2 - LAYER_GAP, y2 + 2 * NODE_H)
            path = f"M {x1} {y1} C {c1[0]} {c1[1]}, {c2[0]} {c2[1]}, {x2} {y2}"
            t = _label_at(graph, source, target)
            px, py = _bezier(t, (x1, y1), c1, c2, (x2, y2))
            label = (px, py - 6, "middle")
        record = boundaries.get((step, boundary, dataset))
        edge: dict[str, Any] = {
            "from": source[2:],
            "to": target[2:],
            "step": step,
            "boundary": boundary,
            "dataset": dataset,
            "path": path,
            "lx": label[0],
            "ly": label[1],
            "anchor": label[2],
            "validated": record is not None,
        }
        if record is not None:
            rows, quarantined = int(record.get("rows") or 0), int(record.get("quarantined") or 0)
            skipped = bool(record.get("skipped"))
            passed = int(record.get("passed") or 0)
            edge.update(
                text=f"{_compact(passed)} / {_compact(quarantined)}",
                passed=passed,
                quarantined=quarantined,
                rows=rows,
                skipped=skipped,
                rate=quarantined / rows if rows else 0.0,
                colour=SKIPPED_COLOUR if skipped else rate_colour(rows, quarantined),
            )
        drawn.append(edge)
    width = max([n["x"] + NODE_W + MARGIN for n in nodes], default=2 * MARGIN)
    height = max([n["y"] + NODE_H + MARGIN for n in nodes], default=2 * MARGIN)
    return {
        "nodes": nodes,
        "edges": drawn,
        "width": math.ceil(width),
        "height": math.ceil(height),
        "vertical": vertical,
        "node_w": NODE_W,
        "node_h": NODE_H,
        "bands": RATE_BANDS,
        "skipped_colour": SKIPPED_COLOUR,
    }
