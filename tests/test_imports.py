"""The modules of ``sdk`` import each other without a cycle, and ``import sdk`` is cheap.

Every import statement in every module under ``sdk/`` is read from its syntax tree (imports
inside functions included, those under ``if TYPE_CHECKING:`` left out, since they never run)
and becomes an edge of a module graph. ``sdk/__init__.py`` is the re-export façade and not part
of the graph. The only upward imports allowed are the one-line hand-overs of ``Pipeline``'s thin
methods to the layers that do the work, listed by name in :data:`ALLOWED`.

The façade exports lazily (PEP 562): ``import sdk`` and ``sdk --version`` load none of the
:data:`HEAVY` packages, read from ``python -X importtime`` in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

SDK = Path(__file__).resolve().parents[1] / "sdk"
FACADE = "sdk"


class Edge(NamedTuple):
    """One import: ``importer`` (at ``line``, inside function ``function``) imports ``imported``
    (``is_typing``: only under ``if TYPE_CHECKING:``, so never at run time)."""

    importer: str
    function: str
    imported: str
    line: int
    is_typing: bool = False


class Allowed(NamedTuple):
    """An upward import allowed in one function: ``module``'s ``function`` may import any
    module named ``prefix`` or below it."""

    module: str
    function: str
    prefix: str

    def names(self, edge: Edge) -> bool:
        """Whether ``edge`` is this hand-over's import of ``prefix`` or a module below it."""
        return (
            edge.importer == self.module
            and edge.function == self.function
            and (edge.imported == self.prefix or edge.imported.startswith(self.prefix + "."))
        )

    def covers(self, edge: Edge) -> bool:
        """Whether ``edge`` is part of this hand-over (the packages above ``prefix`` included:
        importing a module runs their ``__init__`` first)."""
        return self.names(edge) or (
            edge.importer == self.module
            and edge.function == self.function
            and self.prefix.startswith(edge.imported + ".")
        )


ALLOWED = (
    # Pipeline is the graph; running, policy checks and verification are layers above it.
    Allowed("sdk.pipeline", "Pipeline.run", "sdk.runners.registry"),
    Allowed("sdk.pipeline", "Pipeline.check", "sdk.policy"),
    Allowed("sdk.pipeline", "Pipeline.verify", "sdk.verify"),
    Allowed("sdk.pipeline", "Pipeline.replay_quarantine", "sdk.replay"),
    Allowed("sdk.pipeline", "Pipeline.run_stream", "sdk.simulate"),
)


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their own name)."""
    names = {}
    for path in sorted(SDK.rglob("*.py")):
        parts = path.relative_to(SDK.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Collect the run-time imports of one module with the function each one is in."""

    def __init__(self, module: str, is_package: bool, modules: set[str]) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.modules = modules
        self.scope: list[str] = []
        self.edges: list[Edge] = []
        self.is_typing = False

    def _enter(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _enter

    def visit_If(self, node: ast.If) -> None:
        """Mark the body of ``if TYPE_CHECKING:`` as never run; its ``else`` runs."""
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        was, self.is_typing = self.is_typing, True
        for stmt in node.body:
            self.visit(stmt)
        self.is_typing = was
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.package.split(".")
            anchor = package[: len(package) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            name = f"{base}.{alias.name}"
            self._add(name if name in self.modules else base, node.lineno)

    def _add(self, name: str, line: int) -> None:
        """An edge to ``name`` and to each package above it that the importer is not in
        (importing ``sdk.io.files`` from outside ``sdk.io`` first runs ``sdk/io/__init__.py``)."""
        if name != FACADE and not name.startswith(FACADE + "."):
            return
        parts = name.split(".")
        for i in range(2, len(parts) + 1):
            target = ".".join(parts[:i])
            inside = self.module == target or self.module.startswith(target + ".")
            if target in self.modules and (target == name or not inside):
                edge = Edge(self.module, ".".join(self.scope), target, line, self.is_typing)
                if edge not in self.edges:  # one edge per statement, however many names
                    self.edges.append(edge)


def import_edges(with_typing: bool = False) -> list[Edge]:
    """Every run-time import between modules of the package, the façade left out
    (``with_typing``: the imports under ``if TYPE_CHECKING:`` too)."""
    names = module_names()
    graph = set(names) - {FACADE}
    edges = []
    for module in sorted(graph):
        path = names[module]
        visitor = _Imports(module, path.name == "__init__.py", graph)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        edges += [
            e for e in visitor.edges if e.imported != module and (with_typing or not e.is_typing)
        ]
    return edges


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


def _path(edges: list[Edge], start: str, goal: str) -> list[Edge]:
    """A shortest chain of ``edges`` from module ``start`` to module ``goal`` (empty if none)."""
    out: dict[str, list[Edge]] = {}
    for e in edges:
        out.setdefault(e.importer, []).append(e)
    paths: dict[str, list[Edge]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for e in out.get(node, []):
                if e.imported == goal:
                    return [*paths[node], e]
                if e.imported not in paths:
                    paths[e.imported] = [*paths[node], e]
                    following.append(e.imported)
        frontier = following
    return []


def _describe(edge: Edge) -> str:
    where = f"{edge.function}()" if edge.function else "module level"
    where += ", under TYPE_CHECKING" if edge.is_typing else ""
    path = module_names()[edge.importer].relative_to(SDK.parent)
    return f"{edge.importer} -> {edge.imported}   ({path}:{edge.line}, {where})"


def test_no_import_cycles() -> None:
    """No sdk module imports itself through others, hand-overs of ALLOWED aside."""
    edges = [e for e in import_edges() if not any(a.covers(e) for a in ALLOWED)]
    found = cycles(edges)
    report = [
        f"cycle of {len(c)} modules: {', '.join(c)}\n  for example:\n"
        + "\n".join(f"    {_describe(e)}" for e in _path(edges, c[0], c[0]))
        for c in found
    ]
    assert not found, "import cycles among sdk modules:\n" + "\n".join(report)


def test_allowed_hand_overs_exist() -> None:
    """Every entry of ALLOWED still names an import that is there (stale entries fail)."""
    edges = import_edges()
    stale = [a for a in ALLOWED if not any(a.names(e) for e in edges)]
    assert not stale, f"allow-list entries that match no import: {stale}"


def test_hand_overs_are_one_way() -> None:
    """What a hand-over imports never imports the handing module back at run time: the layers
    above ``sdk.pipeline`` name it only under ``TYPE_CHECKING``."""
    edges = import_edges()
    rest = [e for e in edges if not any(a.covers(e) for a in ALLOWED)]
    loops = []
    for hand_over in (e for e in edges if any(a.covers(e) for a in ALLOWED)):
        back = _path(rest, hand_over.imported, hand_over.importer)
        if back:
            loops.append("\n".join(f"    {_describe(e)}" for e in [hand_over, *back]))
    assert not loops, "hand-overs that import their module back:\n" + "\n\n".join(loops)


def test_pipeline_imports_upward_only_in_hand_overs() -> None:
    """``sdk.pipeline`` imports no module that refers to it (even for types only), except in
    the hand-overs of ALLOWED: the pipeline is a graph below the layers that run it."""
    edges = import_edges(with_typing=True)
    rest = [e for e in edges if not any(a.covers(e) for a in ALLOWED)]
    upward = []
    for edge in rest:
        if edge.importer != "sdk.pipeline" or edge.is_typing:
            continue
        back = _path(rest, edge.imported, "sdk.pipeline")
        if back:
            upward.append("\n".join(f"    {_describe(e)}" for e in [edge, *back]))
    assert not upward, "upward imports from sdk.pipeline:\n" + "\n\n".join(upward)


def test_import_graph_reads_every_form() -> None:
    """Relative, ``from sdk import module``, function-level and TYPE_CHECKING imports resolve."""
    modules = {"sdk.a", "sdk.b", "sdk.c", "sdk.pkg", "sdk.pkg.d", "sdk.pkg.e"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "from sdk import b\n"
        "from . import c as _c\n"
        "from .pkg.d import thing\n"
        "import sdk.pkg.e\n"
        "if TYPE_CHECKING:\n"
        "    from sdk.x import Never\n"
        "    from sdk.b import Type\n"
        "class K:\n"
        "    def f(self):\n"
        "        from sdk.pkg import e, name\n"
    )
    visitor = _Imports("sdk.a", False, modules)
    visitor.visit(ast.parse(source))
    assert sorted((e.function, e.imported, e.is_typing) for e in visitor.edges) == [
        ("", "sdk.b", False),
        ("", "sdk.b", True),
        ("", "sdk.c", False),
        ("", "sdk.pkg", False),
        ("", "sdk.pkg", False),
        ("", "sdk.pkg.d", False),
        ("", "sdk.pkg.e", False),
        ("K.f", "sdk.pkg", False),
        ("K.f", "sdk.pkg.e", False),
    ]
    package = _Imports("sdk.pkg", True, modules)
    package.visit(ast.parse("from .d import thing\nfrom .. import a\nfrom sdk.pkg import e\n"))
    assert [e.imported for e in package.edges] == ["sdk.pkg.d", "sdk.a", "sdk.pkg.e"]


# -- start-up: what `import sdk` and `sdk --version` load --------------------------------------

HEAVY = ("pandas", "pandera", "pyarrow", "numpy", "psycopg", "sqlalchemy", "redis", "sklearn")
"""Packages that cost start-up time; each is imported where it is used, not by ``import sdk``."""


def _loaded_by(*args: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after ``python ARGS``, read
    from ``-X importtime`` (what the process really imported, whatever it prints)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        cwd=SDK.parent,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_import_sdk_loads_nothing_heavy() -> None:
    """``import sdk`` imports none of pandas, pandera, pyarrow, numpy or the drivers."""
    loaded = _loaded_by("-c", "import sdk")
    assert "sdk" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_sdk_version_and_help_load_no_pandas() -> None:
    """``python -m sdk --version`` and ``--help`` import neither pandas nor pandera."""
    for flag in ("--version", "--help"):
        loaded = _loaded_by("-m", "sdk", flag)
        assert not loaded & set(HEAVY), (flag, sorted(loaded & set(HEAVY)))


def test_public_names_resolve_when_used() -> None:
    """Every name of ``sdk.__all__`` is there when asked for (the same object as in its
    module), ``dir(sdk)`` lists them all, ``from sdk import *`` binds them, and an unknown
    name is an AttributeError."""
    code = (
        "import sdk, sdk.pipeline\n"
        "names = {}\n"
        "exec('from sdk import *', names)\n"
        "missing = [n for n in sdk.__all__ if n not in names]\n"
        "assert not missing, missing\n"
        "assert set(sdk.__all__) <= set(dir(sdk))\n"
        "assert sdk.Pipeline is sdk.pipeline.Pipeline\n"
        "assert isinstance(sdk.__version__, str) and sdk.__version__\n"
        "try:\n"
        "    sdk.NoSuchName\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchName' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('sdk.NoSuchName resolved')\n"
        "from sdk import Artifact, Metrics, Params, Pipeline, Step\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=SDK.parent, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_lazy_exports_match_all() -> None:
    """The façade's table of where each name lives covers ``__all__`` exactly, and its
    ``TYPE_CHECKING`` imports (what type checkers see) name the same."""
    import sdk

    lazy = {name for names in sdk._EXPORTS.values() for name in names}
    assert lazy | {"__version__"} == set(sdk.__all__)
    tree = ast.parse((SDK / "__init__.py").read_text(encoding="utf-8"))
    typed = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for stmt in node.body
        if isinstance(stmt, ast.ImportFrom)
        for alias in stmt.names
    }
    assert typed == lazy
    modules = {
        stmt.module: {a.name for a in stmt.names}
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for stmt in node.body
        if isinstance(stmt, ast.ImportFrom)
    }
    assert modules == {module: set(names) for module, names in sdk._EXPORTS.items()}
