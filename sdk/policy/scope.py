"""How names resolve: in a module (:class:`Scope`, what imports bind) and in a function (what
it binds locally, which of its defaults are shared mutable containers).

A scope is built statically from a module's imports (:mod:`sdk.policy.modules`) or, for notebook
cells, from the live module globals (:mod:`sdk.policy.scan`).
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sdk.policy.estimators import built_class
from sdk.policy.rules import BUILTINS, DEFAULT_ALLOWED_IMPORTS, top_module

__all__ = [
    "FunctionNode",
    "Loaded",
    "Scope",
    "bound_names",
    "import_aliases",
    "import_problem",
    "is_mutable",
    "mutable_defaults",
]


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
Loaded = tuple[FunctionNode, str, "Scope"]
"""A function to check: its syntax tree, its file, and how names resolve in that file."""


def _star_exports(module: str, name: str) -> bool:
    """Whether ``from module import *`` (of the standard library) binds ``name``: the module is
    imported to look, which runs no analyst code."""
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return False
    exported = getattr(loaded, "__all__", None)
    if exported is not None:
        return name in exported
    return hasattr(loaded, name) and not name.startswith("_")


@dataclass
class Scope:
    """How the names of one module resolve.

    Attributes:
        aliases: a name bound by an import (or a live module global) -> its dotted path.
        variables: module-level variables (mutable state shared between calls).
        built: the class a module-level variable was built from, where known
            (``MODEL = LinearRegression()``: ``LinearRegression``), for messages.
        classes: module-level class names.
        functions: module-level function name -> a loader of its :data:`Loaded`.
        allowed: top-level modules that may be imported.
        is_static: imports are checked at their statements (``False``: at each use).
        local: top-level names of the analyst's own modules imported here (their functions are
            followed like the module's own).
        star: modules imported with ``from module import *``.
        find: locates a dotted name of an own module (``helpers.load``) as a :data:`Loaded`.
    """

    aliases: dict[str, str] = field(default_factory=dict)
    variables: set[str] = field(default_factory=set)
    built: dict[str, str] = field(default_factory=dict)
    classes: set[str] = field(default_factory=set)
    functions: dict[str, Callable[[], Loaded | None]] = field(default_factory=dict)
    allowed: frozenset[str] = frozenset(DEFAULT_ALLOWED_IMPORTS)
    is_static: bool = True
    local: set[str] = field(default_factory=set)
    star: list[str] = field(default_factory=list)
    find: Callable[[str], Loaded | None] | None = None

    def is_local(self, dotted: str) -> bool:
        """Whether ``dotted`` names something in one of the analyst's own modules."""
        return top_module(dotted) in self.local

    def qualify(self, name: str) -> str | None:
        """The dotted path of module-level ``name``; ``None`` for the module's own names."""
        if name in self.aliases:
            return self.aliases[name]
        if name in self.variables or name in self.classes or name in self.functions:
            return None
        known = [m for m in self.star if top_module(m) in sys.stdlib_module_names]
        for module in known:
            if _star_exports(module, name):
                return f"{module}.{name}"
        if name in BUILTINS:
            return f"builtins.{name}"
        unknown = [m for m in self.star if m not in known]
        return f"{unknown[0]}.{name}" if len(unknown) == 1 else None

    def is_shared(self, name: str) -> bool:
        """Whether unshadowed ``name`` is module-level state: a variable, class or module."""
        return name in self.variables or name in self.classes or name in self.aliases


def import_problem(node: ast.Import | ast.ImportFrom, allowed: frozenset[str]) -> str | None:
    """The message for an import outside ``allowed``, or ``None`` if it is allowed."""
    if isinstance(node, ast.ImportFrom):
        if node.level or not node.module:
            return None
        names = [node.module]
    else:
        names = [a.name for a in node.names]
    bad = sorted({top_module(n) for n in names} - allowed)
    if not bad:
        return None
    return f"import of {', '.join(bad)} (not in the allow-list)"


def import_aliases(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """The ``(bound name, dotted path)`` pairs an import statement binds."""
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                yield a.asname, a.name
            else:
                yield a.name.split(".", 1)[0], a.name.split(".", 1)[0]
        return
    if node.level:
        return
    for a in node.names:
        if a.name != "*":
            yield a.asname or a.name, f"{node.module}.{a.name}"


def bound_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[set[str], set[str]]:
    """Names bound locally in ``func`` (params, assignments, ...) and names declared global."""
    bound: set[str] = set()
    declared: set[str] = set()
    args = func.args
    for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if a is not None:
            bound.add(a.arg)
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.arg) and node is not func:
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node is not func:
                bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
    return bound - declared, declared


_CONTAINERS = frozenset({"list", "dict", "set", "defaultdict", "OrderedDict", "Counter", "deque"})


def is_mutable(value: ast.expr | None) -> bool:
    """Whether ``value`` builds a mutable container (``[]``, ``{}``, ``dict()``, ...)."""
    if isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        return name in _CONTAINERS
    return False


def mutable_defaults(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str | None]:
    """The parameters whose default is built once and shared between calls: a mutable container
    or an object (``model=LinearRegression()``), with the class it is built from where known."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    with_default = positional[len(positional) - len(args.defaults) :]
    pairs = list(zip(with_default, args.defaults, strict=True))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
    return {a.arg: built_class(d) for a, d in pairs if is_mutable(d) or built_class(d)}
