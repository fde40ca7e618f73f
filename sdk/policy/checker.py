"""The AST analysis that applies the policy rules to one function body.

Names are resolved to dotted paths (``np.random.rand`` -> ``numpy.random.rand``) through a
:class:`Scope`, which is built statically from a module's imports or, for notebook cells, from
the live module globals. :mod:`sdk.policy.scan` finds the steps and feeds their methods here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sdk.policy.rules import (
    BUILTINS,
    CLOCKS,
    DEFAULT_ALLOWED_IMPORTS,
    DYNAMIC_BUILTINS,
    DYNAMIC_MODULES,
    IO_MODULES,
    MUTATORS,
    NUMPY_IO,
    PATH_IO,
    PATH_METHODS,
    PATH_TYPES,
    SEEDABLE_NUMPY,
    WRITERS,
    top_module,
)

__all__ = [
    "Emit",
    "FunctionNode",
    "Loaded",
    "Scope",
    "analyze_function",
    "import_aliases",
    "import_problem",
]


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
Loaded = tuple[FunctionNode, str, "Scope"]
"""A function to check: its syntax tree, its file, and how names resolve in that file."""


@dataclass
class Scope:
    """How the names of one module resolve.

    Attributes:
        aliases: a name bound by an import (or a live module global) -> its dotted path.
        variables: module-level variables (mutable state shared between calls).
        classes: module-level class names.
        functions: module-level function name -> a loader of its :data:`Loaded`.
        allowed: top-level modules that may be imported.
        is_static: imports are checked at their statements (``False``: at each use).
        local: top-level names of the analyst's own modules imported here (their functions are
            followed like the module's own).
        find: locates a dotted name of an own module (``helpers.load``) as a :data:`Loaded`.
    """

    aliases: dict[str, str] = field(default_factory=dict)
    variables: set[str] = field(default_factory=set)
    classes: set[str] = field(default_factory=set)
    functions: dict[str, Callable[[], Loaded | None]] = field(default_factory=dict)
    allowed: frozenset[str] = frozenset(DEFAULT_ALLOWED_IMPORTS)
    is_static: bool = True
    local: set[str] = field(default_factory=set)
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
        if name in BUILTINS:
            return f"builtins.{name}"
        return None

    def is_shared(self, name: str) -> bool:
        """Whether unshadowed ``name`` is module-level state: a variable, class or module."""
        return name in self.variables or name in self.classes or name in self.aliases


Emit = Callable[[str, ast.AST, str], None]
"""Report a finding: ``emit(rule_id, node, message)``."""


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


def _bound_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[set[str], set[str]]:
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


def _is_seeded(call: ast.Call, keyword: str | None = None) -> bool:
    """Whether ``call`` passes a seed: any argument (or ``keyword=``) that is not ``None``."""
    values: list[ast.expr] = [k.value for k in call.keywords if keyword in (None, k.arg)]
    if keyword is None:
        values += list(call.args)
    return any(not (isinstance(v, ast.Constant) and v.value is None) for v in values)


class _Checker(ast.NodeVisitor):
    """Walks one function body and reports every rule it breaks."""

    def __init__(
        self,
        scope: Scope,
        func: ast.FunctionDef | ast.AsyncFunctionDef,
        emit: Emit,
        helpers: Callable[[str], None],
    ) -> None:
        self.scope = scope
        self.emit = emit
        self.helpers = helpers
        self.locals, _ = _bound_names(func)
        self.local_aliases: dict[str, str] = {}
        self.path_vars: set[str] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.local_aliases.update(import_aliases(node))
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and (q := self._resolve(node.value.func))
                and top_module(q) == "pathlib"
            ):
                self.path_vars.update(t.id for t in node.targets if isinstance(t, ast.Name))

    def _name(self, name: str) -> str | None:
        if name in self.local_aliases:
            return self.local_aliases[name]
        if name in self.locals:
            return None
        return self.scope.qualify(name)

    def _resolve(self, node: ast.AST) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self._name(node.id)
        return ".".join([base, *reversed(parts)]) if base else None

    def _root(self, node: ast.AST) -> ast.AST:
        while isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        return node

    def _is_shared(self, node: ast.AST) -> str | None:
        """Describe ``node`` if it is module or class state: a global, a class, ``type(self)``."""
        root = self._root(node)
        if isinstance(root, ast.Name):
            if root.id in self.locals or root.id in self.local_aliases:
                return None
            return f"module-level {root.id!r}" if self.scope.is_shared(root.id) else None
        if (
            isinstance(root, ast.Call)
            and isinstance(root.func, ast.Name)
            and root.func.id == "type"
            and "type" not in self.locals
        ):
            return "the class (type(...))"
        return None

    def _is_class_ref(self, node: ast.AST) -> bool:
        """``self.__class__`` or ``cls`` in a classmethod-like use."""
        return (isinstance(node, ast.Attribute) and node.attr == "__class__") or (
            isinstance(node, ast.Name) and node.id == "cls"
        )

    # --- rules on calls -------------------------------------------------------------------
    def _call_rule(self, node: ast.Call, q: str | None) -> bool:
        """Report the rule ``node`` breaks, if any; return whether one was reported."""
        func = node.func
        if isinstance(func, ast.Attribute):
            attr = func.attr
            if attr in WRITERS:
                self.emit("SDK101", node, f".{attr}() writes to a file or database")
                return True
            if attr in PATH_IO:
                self.emit("SDK101", node, f".{attr}() reads or writes a file")
                return True
            receiver = func.value
            if attr in PATH_METHODS and (
                (isinstance(receiver, ast.Name) and receiver.id in self.path_vars)
                or (
                    isinstance(receiver, ast.Call)
                    and (rq := self._resolve(receiver.func))
                    and top_module(rq) == "pathlib"
                )
            ):
                self.emit("SDK101", node, f"Path.{attr}() touches the file system")
                return True
            if attr == "sample" and q is None and not _is_seeded(node, "random_state"):
                self.emit("SDK104", node, ".sample() without random_state")
                return True
            if attr in MUTATORS and q is None and (what := self._is_shared(receiver)):
                self.emit("SDK106", node, f".{attr}() mutates {what}")
                return True
        if q is None:
            return False
        top, last = top_module(q), q.rsplit(".", 1)[-1]
        parts = q.split(".")
        if q == "builtins.open":
            self.emit("SDK101", node, "open() reads or writes a file")
        elif q in ("builtins.print", "builtins.input"):
            self.emit("SDK102", node, f"{last}() inside a step")
        elif top == "builtins" and last in DYNAMIC_BUILTINS:
            self.emit("SDK103", node, f"{last}() runs code built at run time")
        elif q in ("builtins.setattr", "builtins.delattr") and node.args:
            what = self._is_shared(node.args[0])
            if what is None and self._is_class_ref(node.args[0]):
                what = "the class"
            if what is None:
                return False
            self.emit("SDK106", node, f"{last}() mutates {what}")
        elif q == "builtins.globals":
            self.emit("SDK106", node, "globals() exposes module state")
        elif top in DYNAMIC_MODULES:
            self.emit("SDK103", node, f"{q}() loads code or pickled objects")
        elif top in IO_MODULES and not (top == "pathlib" and last in PATH_TYPES):
            self.emit("SDK101", node, f"{q}() does I/O")
        elif top == "pandas" and last.startswith("read_"):
            self.emit("SDK101", node, f"{q}() reads a file or database")
        elif top == "numpy" and last in NUMPY_IO and len(parts) == 2:
            self.emit("SDK101", node, f"{q}() reads or writes a file")
        elif top == "random":
            if last == "Random" and _is_seeded(node):
                return False
            self.emit("SDK104", node, f"{q}() uses unseeded global random state")
        elif top == "numpy" and "random" in parts[1:]:
            if last in SEEDABLE_NUMPY and _is_seeded(node):
                return False
            what = "without a seed" if last in SEEDABLE_NUMPY else "uses global random state"
            self.emit("SDK104", node, f"{q}() {what}")
        elif q in CLOCKS or (
            top == "pandas" and "Timestamp" in parts and last in ("now", "today", "utcnow")
        ):
            self.emit("SDK105", node, f"{q}() reads the wall clock")
        elif (
            q in ("pandas.to_datetime", "pandas.Timestamp", "numpy.datetime64")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in ("now", "today")
        ):
            self.emit("SDK105", node, f"{q}({node.args[0].value!r}) reads the wall clock")
        else:
            return self._use_rule(node, q)
        return True

    def _ref_rule(self, node: ast.AST, q: str) -> None:
        top = top_module(q)
        if q in ("sys.stdout", "sys.stderr", "sys.stdin"):
            self.emit("SDK102", node, f"{q} is the process's stream")
        elif top in DYNAMIC_MODULES:
            self.emit("SDK103", node, f"{q} loads code or pickled objects")
        elif top in IO_MODULES and top != "pathlib":
            self.emit("SDK101", node, f"{q} does I/O")
        else:
            self._use_rule(node, q)

    def _use_rule(self, node: ast.AST, q: str) -> bool:
        """Without import statements (notebook cells), check each use against the allow-list."""
        top = top_module(q)
        if self.scope.is_static or top in ("builtins", *self.scope.allowed, *self.scope.local):
            return False
        self.emit("SDK107", node, f"{q} comes from {top} (not in the allow-list)")
        return True

    # --- visitors -------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        """Check a call, queue same-module helpers, then its arguments."""
        q = self._resolve(node.func)
        if (
            isinstance(node.func, ast.Name)
            and node.func.id not in self.locals
            and node.func.id in self.scope.functions
        ):
            self.helpers(node.func.id)
        elif q is not None and self.scope.is_local(q):
            self.helpers(q)
        self._call_rule(node, q)
        if q is None:
            self.visit(node.func)
        for arg in (*node.args, *(k.value for k in node.keywords)):
            self.visit(arg)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        """Check a dotted reference (``os.environ``) once, as a whole."""
        q = self._resolve(node)
        if q is None:
            self.generic_visit(node)
        elif isinstance(node.ctx, ast.Load):
            if self.scope.is_local(q):
                self.helpers(q)
            self._ref_rule(node, q)

    def visit_Name(self, node: ast.Name) -> None:
        """Check a bare reference to an imported name; helpers passed as values are checked too."""
        if not isinstance(node.ctx, ast.Load):
            return
        if node.id not in self.locals and node.id in self.scope.functions:
            self.helpers(node.id)
        q = self._name(node.id)
        if q and self.scope.is_local(q):
            self.helpers(q)
        if q and top_module(q) != "builtins":
            self._ref_rule(node, q)

    def visit_Import(self, node: ast.Import) -> None:
        """An import inside a step: checked against the allow-list."""
        self._import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        """A ``from`` import inside a step: checked against the allow-list."""
        self._import(node)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.ImportFrom):
            modules = {top_module(node.module)} if node.module and not node.level else set()
        else:
            modules = {top_module(a.name) for a in node.names}
        if modules & DYNAMIC_MODULES:
            self.emit("SDK103", node, f"import of {', '.join(sorted(modules))} in a step")
            return
        message = import_problem(node, self.scope.allowed)
        if message:
            self.emit("SDK107", node, message)

    def visit_Global(self, node: ast.Global) -> None:
        """``global`` rebinds module state."""
        self.emit("SDK106", node, f"global {', '.join(node.names)}")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        """``nonlocal`` rebinds an enclosing function's state."""
        self.emit("SDK106", node, f"nonlocal {', '.join(node.names)}")

    def _targets(self, targets: list[ast.expr], node: ast.stmt, verb: str) -> None:
        for target in targets:
            if isinstance(target, ast.Tuple | ast.List):
                self._targets(list(target.elts), node, verb)
            elif isinstance(target, ast.Attribute | ast.Subscript):
                what = self._is_shared(target)
                if (
                    what is None
                    and isinstance(target, ast.Attribute)
                    and self._is_class_ref(target.value)
                ):
                    what = "a class attribute"
                if what:
                    self.emit("SDK106", node, f"{verb} {what}")

    def visit_Assign(self, node: ast.Assign) -> None:
        """Assignments to module globals or class attributes."""
        self._targets(node.targets, node, "assignment to")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        """In-place updates of module globals or class attributes."""
        self._targets([node.target], node, "in-place update of")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        """Annotated assignments to module globals or class attributes."""
        self._targets([node.target], node, "assignment to")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        """Deletion from module globals or class attributes."""
        self._targets(node.targets, node, "deletion from")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        """A bare or broad ``except`` without ``raise`` swallows errors (opt-in rule)."""
        broad = node.type is None or (
            isinstance(node.type, ast.Name) and node.type.id in ("Exception", "BaseException")
        )
        if broad and not any(isinstance(n, ast.Raise) for n in ast.walk(node)):
            self.emit("SDK109", node, "broad except without raise")
        self.generic_visit(node)


def analyze_function(
    scope: Scope,
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    emit: Emit,
    helpers: Callable[[str], None],
) -> None:
    """Check the body of ``func`` (decorators and defaults included) against every rule.

    Args:
        scope: how the module's names resolve.
        func: the method or helper function.
        emit: called once per finding.
        helpers: called with the name of each function of the analyst's it calls or passes on:
            a module-level name (``clean``) or a dotted one of an own module (``helpers.load``).
    """
    checker = _Checker(scope, func, emit, helpers)
    for node in (*func.decorator_list, *func.args.defaults, *func.body):
        checker.visit(node)
