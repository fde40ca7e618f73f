"""The analyst's own modules: each file parsed once, its names resolved, its imports followed.

A step may call helpers from another module of the analyst's (``from features import clean``,
``import helpers``, ``from .util import load``) or inherit methods from a base class defined
there. Those modules are located on disk — beside the step's file, at its package root, or in the
working directory — and parsed, never imported; the functions a step reaches are checked with
their own module's imports. Installed packages are not followed: the import allow-list governs
them.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import attrs

from sdk.policy.config import PolicyConfig, load_config
from sdk.policy.estimators import built_class
from sdk.policy.report import Collector
from sdk.policy.rules import top_module
from sdk.policy.scope import FunctionNode, Loaded, Scope, import_aliases, import_problem

__all__ = ["Module", "Modules"]

_STEP = ("sdk.Step", "sdk.step.Step")
_MAX_DEPTH = 8  # re-exports followed through at most this many modules


@attrs.define(eq=False)
class Module:
    """One parsed file of the analyst's.

    Attributes:
        path: the resolved file.
        key: how findings name the file (as given, when it was given).
        name: its dotted module name (``pkg.steps``; the bare stem outside a package).
        tree: the syntax tree (``None`` when it does not parse).
        scope: how its module-level names resolve.
        imports: its module-level import statements.
        classes: its top-level classes by name.
        roots: where its absolute imports of own modules are looked for.
    """

    path: Path
    key: str
    name: str
    tree: ast.Module | None
    scope: Scope
    imports: list[ast.Import | ast.ImportFrom] = attrs.Factory(list)
    classes: dict[str, ast.ClassDef] = attrs.Factory(dict)
    roots: tuple[Path, ...] = ()
    imports_checked: bool = False


def _module_name(path: Path) -> tuple[Path, str]:
    """The folder imports start from and the dotted name of ``path`` (walking up ``__init__``)."""
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def is_guarded(stmt: ast.stmt) -> bool:
    """``if TYPE_CHECKING:`` or ``if __name__ == "__main__":``: never run when a step runs."""
    if not isinstance(stmt, ast.If):
        return False
    test = stmt.test
    if isinstance(test, ast.Name | ast.Attribute):
        return (test.id if isinstance(test, ast.Name) else test.attr) == "TYPE_CHECKING"
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _walk_module(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, bool]]:
    """Module-level statements, including those under ``if``/``try``/``with``, each with whether
    it is under a guard that keeps it from running (:func:`is_guarded`)."""
    stack = [(stmt, False) for stmt in reversed(body)]
    while stack:
        stmt, guarded = stack.pop()
        yield stmt, guarded
        if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            inner = guarded or is_guarded(stmt)
            for name in ("finalbody", "orelse", "handlers", "body"):
                stack.extend((s, inner) for s in reversed(getattr(stmt, name, [])))


def _lambda_function(name: str, stmt: ast.Assign, value: ast.Lambda) -> ast.FunctionDef:
    """``name = lambda ...: expr`` as the function it is, so it can be followed like one."""
    body = ast.copy_location(ast.Return(value=value.body), value.body)
    func = ast.FunctionDef(name=name, args=value.args, body=[body], decorator_list=[], returns=None)
    return ast.copy_location(func, stmt)


def _static_function(node: FunctionNode, key: str, scope: Scope) -> Loaded:
    return node, key, scope


class Modules:
    """The analyst's files of one check, parsed once each, with findings sent to ``out``."""

    def __init__(self, out: Collector) -> None:
        self.out = out
        self.parsed: dict[Path, Module] = {}
        self.by_key: dict[str, Module] = {}
        self.configs: dict[Path, PolicyConfig] = {}

    def config(self, folder: Path) -> PolicyConfig:
        """The configuration in force for files in ``folder`` (read once per folder)."""
        if folder not in self.configs:
            self.configs[folder] = load_config(folder)
        return self.configs[folder]

    def load(self, path: Path, config: PolicyConfig | None = None) -> Module:
        """Parse ``path`` (once) and resolve its module-level names."""
        resolved = path.resolve()
        if resolved in self.parsed:
            return self.parsed[resolved]
        key = str(path)
        config = config or self.config(resolved.parent)
        source = resolved.read_text(encoding="utf-8", errors="replace")
        self.out.configs[key] = config
        self.out.lines[key] = source.splitlines(keepends=True)
        root, name = _module_name(resolved)
        roots = tuple(dict.fromkeys([root, resolved.parent, Path.cwd().resolve()]))
        own = top_module(name) if "." in name else None
        scope = Scope(allowed=config.allowed | ({own} if own else set()))
        try:
            tree: ast.Module | None = ast.parse(source, filename=key)
        except SyntaxError as exc:
            tree = None
            self.out.add(key, None, "SDK100", f"cannot parse: {exc.msg} (line {exc.lineno})")
        module = Module(resolved, key, name, tree, scope, roots=roots)
        self.parsed[resolved] = self.by_key[key] = module
        scope.find = functools.partial(self.find, module)
        for stmt, guarded in _walk_module(tree.body if tree else []):
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                if not guarded:
                    module.imports.append(stmt)
                if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
                    for _, star in self._aliases(module, stmt, star=True):
                        scope.star.append(star)
                        if top_module(star) not in config.allowed and self.locate(star, roots):
                            scope.local.add(top_module(star))
                for bound, dotted in self._aliases(module, stmt):
                    scope.aliases[bound] = dotted
                    if top_module(dotted) not in config.allowed and self.locate(dotted, roots):
                        scope.local.add(top_module(dotted))
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                scope.functions[stmt.name] = functools.partial(_static_function, stmt, key, scope)
            elif isinstance(stmt, ast.ClassDef):
                scope.classes.add(stmt.name)
                module.classes.setdefault(stmt.name, stmt)
            elif (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Lambda)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                name = stmt.targets[0].id
                func = _lambda_function(name, stmt, stmt.value)
                scope.functions[name] = functools.partial(_static_function, func, key, scope)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    scope.variables.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
                    kind = built_class(stmt.value)
                    if kind and isinstance(t, ast.Name):
                        scope.built[t.id] = kind
        scope.allowed |= scope.local
        return module

    def check_imports(self, key: str) -> None:
        """Report the module-level imports outside the allow-list of a file steps use (once)."""
        module = self.by_key.get(key)
        if module is None or module.imports_checked:
            return
        module.imports_checked = True
        for stmt in module.imports:
            message = import_problem(stmt, module.scope.allowed)
            if message:
                self.out.add(module.key, stmt, "SDK107", message)

    def _aliases(
        self, module: Module, stmt: ast.Import | ast.ImportFrom, star: bool = False
    ) -> Iterator[tuple[str, str]]:
        """What ``stmt`` binds; relative imports made absolute from the module's package
        (``star``: the module a ``from ... import *`` reads, instead)."""
        if isinstance(stmt, ast.Import) or (not stmt.level and not star):
            yield from import_aliases(stmt)
            return
        if not stmt.level:
            yield "*", stmt.module or ""
            return
        package = module.name.split(".")
        if module.path.name != "__init__.py":
            package = package[:-1]
        if stmt.level - 1 > len(package):
            return
        base = package[: len(package) - (stmt.level - 1)]
        if stmt.module:
            base = [*base, stmt.module]
        if star:
            yield "*", ".".join(base)
            return
        for a in stmt.names:
            if a.name != "*":
                yield a.asname or a.name, ".".join([*base, a.name])

    @staticmethod
    def locate(dotted: str, roots: tuple[Path, ...]) -> tuple[Path, list[str]] | None:
        """The own file defining ``dotted`` (the longest module prefix found) and the rest."""
        parts = dotted.split(".")
        for root in roots:
            for i in range(len(parts), 0, -1):
                base = root.joinpath(*parts[:i])
                for candidate in (base.with_name(f"{parts[i - 1]}.py"), base / "__init__.py"):
                    if candidate.is_file():
                        return candidate, parts[i:]
        return None

    def _member(self, module: Module, dotted: str) -> tuple[Module, str] | None:
        """The own module that ``dotted`` (imported into ``module``) names a member of, and the
        member's name; ``None`` for anything else (an installed package, a module itself)."""
        located = self.locate(dotted, module.roots)
        if located is None or len(located[1]) != 1:
            return None
        return self.load(located[0]), located[1][0]

    def find(self, module: Module, dotted: str, depth: int = 0) -> Loaded | None:
        """The function ``dotted`` (imported into ``module``) names, if the analyst wrote it."""
        member = self._member(module, dotted) if depth <= _MAX_DEPTH else None
        return self.function(*member, depth) if member else None

    def function(self, module: Module, name: str, depth: int = 0) -> Loaded | None:
        """Module-level function ``name`` of ``module``, following re-exports of own modules."""
        loader = module.scope.functions.get(name)
        if loader is not None:
            return loader()
        alias = module.scope.aliases.get(name)
        if alias is not None and module.scope.is_local(alias):
            return self.find(module, alias, depth + 1)
        return None

    def lineage(
        self, module: Module, cls: ast.ClassDef, seen: set[int] | None = None
    ) -> tuple[bool, list[tuple[Module, ast.ClassDef]]]:
        """Whether ``cls`` derives from ``sdk.Step``, and it with its own base classes."""
        seen = set() if seen is None else seen
        seen.add(id(cls))
        is_step, chain = False, [(module, cls)]
        for base in cls.bases:
            dotted = _dotted(base)
            if dotted is None:
                continue
            head, _, tail = dotted.partition(".")
            found: tuple[Module, ast.ClassDef] | None = None
            if not tail and head in module.classes:
                found = (module, module.classes[head])
            elif head in module.scope.aliases:
                full = ".".join([module.scope.aliases[head], *([tail] if tail else [])])
                if full in _STEP:
                    is_step = True
                elif module.scope.is_local(full):
                    found = self._class(module, full)
            if found is not None and id(found[1]) not in seen:
                base_is_step, base_chain = self.lineage(*found, seen)
                is_step = is_step or base_is_step
                chain += base_chain
        return is_step, chain

    def _class(self, module: Module, dotted: str) -> tuple[Module, ast.ClassDef] | None:
        member = self._member(module, dotted)
        cls = member[0].classes.get(member[1]) if member else None
        return (member[0], cls) if member and cls is not None else None
