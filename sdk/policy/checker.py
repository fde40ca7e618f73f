"""The AST analysis that applies the policy rules to one function body.

Names are resolved to dotted paths (``np.random.rand`` -> ``numpy.random.rand``) through a
:class:`~sdk.policy.scope.Scope`; :mod:`sdk.policy.calls` says which rule a resolved call breaks;
this visitor adds what depends on the function's state (locals, globals, class attributes).
:mod:`sdk.policy.scan` finds the steps and feeds their methods here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

from sdk.policy.calls import (
    Finding,
    is_seeded,
    method_finding,
    passed_on,
    path_finding,
    reference_finding,
)
from sdk.policy.estimators import FIT_METHODS, artifact_inputs, fit_message, model_finding
from sdk.policy.rules import (
    DYNAMIC_BUILTINS,
    MUTATORS,
    PATH_METHODS,
    top_module,
)
from sdk.policy.scope import (
    Scope,
    bound_names,
    import_aliases,
    import_problem,
    mutable_defaults,
)

__all__ = ["Emit", "analyze_function"]


_DYNAMIC_IMPORTS = frozenset({"importlib", "pickle", "marshal", "shelve", "dill", "cloudpickle"})
"""Modules whose import inside a step is itself dynamic code loading (SDK103, not SDK107)."""
_CLOCK_TYPES = frozenset(
    {"pandas.Timestamp", "pandas.Period", "datetime.datetime", "datetime.date"}
)
_FORBIDDEN_BUILTINS = frozenset(
    f"builtins.{name}" for name in ("print", "input", "open", "breakpoint", *DYNAMIC_BUILTINS)
)


Emit = Callable[[str, ast.AST, str], None]
"""Report a finding: ``emit(rule_id, node, message)``."""


def _is_true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


class _Checker(ast.NodeVisitor):
    """Walks one function body and reports every rule it breaks."""

    def __init__(
        self,
        scope: Scope,
        func: ast.FunctionDef | ast.AsyncFunctionDef,
        emit: Emit,
        helpers: Callable[[str], None],
        class_state: Mapping[str, str | None],
    ) -> None:
        self.scope = scope
        self.emit = emit
        self.helpers = helpers
        self.class_state = class_state
        self.mutable_defaults = mutable_defaults(func)
        self.artifacts = artifact_inputs(func)
        self.locals, _ = bound_names(func)
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
        """Describe ``node`` if it is shared state (see :meth:`_shared`)."""
        shared = self._shared(node)
        return shared[1] if shared else None

    def _shared(self, node: ast.AST) -> tuple[str, str, str | None] | None:
        """Where ``node`` is kept if it is shared state — ``module`` (a module global),
        ``class`` (``type(self)``, ``self.__class__``, ``cls``, or an object built in the class
        body reached through ``self``), ``default`` (a mutable default argument) or ``input``
        (an ``Artifact`` parameter: one object for every unit) — its description, and the class
        it was built from when known."""
        chain, member = node, None
        while isinstance(chain, ast.Attribute | ast.Subscript):
            if self._is_class_ref(chain):
                return "class", "a class attribute", self.class_state.get(member or "")
            inner = chain.value
            if (
                isinstance(chain, ast.Attribute)
                and isinstance(inner, ast.Name)
                and inner.id == "self"
                and chain.attr in self.class_state
            ):
                what = f"class attribute {chain.attr!r} (shared by every instance)"
                return "class", what, self.class_state[chain.attr]
            member = chain.attr if isinstance(chain, ast.Attribute) else None
            chain = inner
        root = chain
        kind = self.class_state.get(member or "")
        if self._is_class_ref(root):
            return "class", "a class attribute", kind
        if isinstance(root, ast.Name):
            if root.id in self.mutable_defaults:
                what = f"the mutable default of {root.id!r} (shared between calls)"
                return "default", what, self.mutable_defaults[root.id]
            if root.id in self.artifacts:
                what = f"the input artifact {root.id!r} (the same object in every unit)"
                return "input", what, self.artifacts[root.id]
            if root.id in self.locals or root.id in self.local_aliases:
                return None
            if root.id in self.scope.classes and member:
                return "class", f"module-level {root.id!r}", None
            if self.scope.is_shared(root.id):
                return "module", f"module-level {root.id!r}", self.scope.built.get(root.id)
            return None
        if (
            isinstance(root, ast.Call)
            and isinstance(root.func, ast.Name)
            and root.func.id == "type"
            and "type" not in self.locals
        ):
            return "class", "the class (type(...))", kind
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
        found: Finding = model_finding(q, node) if q else None  # before .dump() as a writer
        if found is None and isinstance(func, ast.Attribute) and not self._is_self(func.value):
            attr, receiver = func.attr, func.value
            if q is None or top_module(q) not in ("pandas", "builtins"):
                found = method_finding(attr, node)
            if found is None and isinstance(receiver, ast.Call):
                found = self._on_built(attr, node, self._resolve(receiver.func))
            if found is None and attr in PATH_METHODS and self._is_path(receiver):
                found = ("SDK101", f"Path.{attr}() touches the file system")
            if found is None and q is None and (shared := self._shared(receiver)):
                where, what, kind = shared
                if attr in FIT_METHODS:
                    found = ("SDK106", fit_message(ast.unparse(receiver), attr, where, kind))
                elif attr in MUTATORS:
                    found = ("SDK106", f".{attr}() mutates {what}")
                elif any(k.arg == "inplace" and _is_true(k.value) for k in node.keywords):
                    found = ("SDK106", f".{attr}(inplace=True) mutates {what}")
        if found is None and q is not None:
            found = path_finding(q, node) or self._state_call(node, q)
        if found is None:
            return q is not None and self._use_rule(node, q)
        self.emit(found[0], node, found[1])
        return True

    def _is_self(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in ("self", "cls")

    def _is_path(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.path_vars
        if isinstance(node, ast.Call):
            rq = self._resolve(node.func)
            return rq is not None and top_module(rq) == "pathlib"
        return False

    def _on_built(self, attr: str, node: ast.Call, built: str | None) -> Finding:
        """A method of a freshly built object: ``pd.Timestamp(x).now()`` is still the class's
        clock, ``scipy.stats.norm(0, 1).rvs()`` still draws from global random state."""
        if built in _CLOCK_TYPES and attr in ("now", "today", "utcnow"):
            return "SDK105", f"{built}(...).{attr}() reads the wall clock"
        if (
            built
            and top_module(built) == "scipy"
            and attr == "rvs"
            and not is_seeded(node, "random_state")
        ):
            return "SDK104", f"{built}(...).rvs() without random_state"
        return None

    def _state_call(self, node: ast.Call, q: str) -> Finding:
        if q in ("operator.setitem", "operator.delitem") and node.args:
            what = self._is_shared(node.args[0])
            return ("SDK106", f"{q}() mutates {what}") if what else None
        if q in ("builtins.setattr", "builtins.delattr") and node.args:
            what = self._is_shared(node.args[0])
            if what is None and self._is_class_ref(node.args[0]):
                what = "the class"
            return ("SDK106", f"{q.split('.')[-1]}() mutates {what}") if what else None
        if q == "builtins.globals":
            return "SDK106", "globals() exposes module state"
        return None

    def _ref_rule(self, node: ast.AST, q: str) -> None:
        found = reference_finding(q)
        if found is not None:
            self.emit(found[0], node, found[1])
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
        if q is None:  # the receiver of a method, or a call result that is called
            self.visit(node.func.value if isinstance(node.func, ast.Attribute) else node.func)
        for arg in (*node.args, *(k.value for k in node.keywords)):
            self.visit(arg)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        """Check a dotted reference (``os.environ``) once, as a whole."""
        q = self._resolve(node)
        if q is None:
            if isinstance(node.ctx, ast.Load) and not self._is_self(node.value):
                found = method_finding(node.attr, passed_on(node))
                if found is not None and found[0] == "SDK101":
                    self.emit(found[0], node, f"{found[1]} (passed on as a value)")
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
        if node.id == "__builtins__" and node.id not in self.locals:
            self.emit("SDK103", node, "__builtins__ reaches any builtin by name")
            return
        q = self._name(node.id)
        if q and self.scope.is_local(q):
            self.helpers(q)
        if q and (top_module(q) != "builtins" or q in _FORBIDDEN_BUILTINS):
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
        if modules & _DYNAMIC_IMPORTS:
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

    def visit_For(self, node: ast.For) -> None:
        """``for GLOBAL[k] in ...`` assigns to its target like ``=`` does."""
        self._targets([node.target], node, "assignment to")
        self.generic_visit(node)

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
        caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
        broad = node.type is None or any(
            isinstance(t, ast.Name) and t.id in ("Exception", "BaseException") for t in caught
        )
        if broad and not any(isinstance(n, ast.Raise) for n in ast.walk(node)):
            self.emit("SDK109", node, "broad except without raise")
        self.generic_visit(node)


def analyze_function(
    scope: Scope,
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    emit: Emit,
    helpers: Callable[[str], None],
    class_state: Mapping[str, str | None] | None = None,
) -> None:
    """Check the body of ``func`` (decorators and defaults included) against every rule.

    Args:
        scope: how the module's names resolve.
        func: the method or helper function.
        emit: called once per finding.
        helpers: called with the name of each function of the analyst's it calls or passes on:
            a module-level name (``clean``) or a dotted one of an own module (``helpers.load``).
        class_state: mutable class-level attributes of the method's class (``self.seen``
            mutated in place changes every instance), with the class each was built from when
            known (``model = LinearRegression()``).
    """
    checker = _Checker(scope, func, emit, helpers, class_state or {})
    for node in (*func.decorator_list, *func.args.defaults, *func.body):
        checker.visit(node)
