"""Finding the steps to check: files and folders (``sdk check``) or a live pipeline (notebooks).

Every ``Step`` subclass's methods, and the module-level functions they call (transitively), are
handed to :func:`sdk.policy.checker.analyze_function`; rule selection and inline suppressions are
applied per file when the findings are collected.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sdk.policy.checker import Scope, analyze_function, import_aliases, import_problem
from sdk.policy.config import PolicyConfig, load_config, suppressions
from sdk.policy.report import Finding, PolicyReport

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = ["check_paths", "check_pipeline"]

_SKIP_DIRS = {"__pycache__", "node_modules", "build", "dist", "venv", "site-packages"}


def _shown(path: str | Path) -> str:
    resolved = Path(path).resolve()
    cwd = Path.cwd().resolve()
    return str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(path)


class _Collector:
    """Gathers raw findings per file, then applies rule selection and inline suppressions."""

    def __init__(self) -> None:
        self.raw: dict[str, set[tuple[int, int, str, str]]] = {}
        self.lines: dict[str, list[str]] = {}
        self.configs: dict[str, PolicyConfig] = {}

    def add(self, path: str, node: ast.AST | None, rule: str, message: str) -> None:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        self.raw.setdefault(path, set()).add((line, col, rule, message))

    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        for path, raw in self.raw.items():
            config = self.configs.get(path) or PolicyConfig()
            rules = config.rules_for(path)
            allows = suppressions(self.lines.get(path, []))
            for line, reason_rules in allows.items():
                if "SDK108" in rules and not reason_rules[1]:
                    found.append(
                        Finding(_shown(path), line, 1, "SDK108", "suppression without a reason")
                    )
            for line, col, rule, message in raw:
                allowed = allows.get(line, (frozenset(), ""))[0]
                if rule in rules and rule not in allowed:
                    found.append(Finding(_shown(path), line, col, rule, message))
        for path in self.lines:  # files with suppressions but no findings
            if path not in self.raw:
                config = self.configs.get(path) or PolicyConfig()
                if "SDK108" in config.rules_for(path):
                    found += [
                        Finding(_shown(path), line, 1, "SDK108", "suppression without a reason")
                        for line, (_, reason) in suppressions(self.lines[path]).items()
                        if not reason
                    ]
        return sorted(set(found))


def _is_step_base(base: ast.expr, scope: Scope, steps: set[str]) -> bool:
    if isinstance(base, ast.Name) and base.id in steps:
        return True
    parts: list[str] = []
    while isinstance(base, ast.Attribute):
        parts.append(base.attr)
        base = base.value
    if not isinstance(base, ast.Name) or base.id not in scope.aliases:
        return False
    return ".".join([scope.aliases[base.id], *reversed(parts)]) in ("sdk.Step", "sdk.step.Step")


def _own_package(path: Path) -> str | None:
    folder, package = path.resolve().parent, None
    while (folder / "__init__.py").is_file():
        package, folder = folder.name, folder.parent
    return package


def _check_methods(
    classes: Iterable[ast.ClassDef], scope: Scope, path: str, out: _Collector
) -> None:
    """Check every method of ``classes`` and the module functions they reach."""
    done: set[str] = set()
    pending: list[str] = []

    def emit(rule: str, node: ast.AST, message: str) -> None:
        out.add(path, node, rule, message)

    for cls in classes:
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                analyze_function(scope, item, emit, pending.append)
    while pending:
        name = pending.pop()
        if name in done:
            continue
        done.add(name)
        loaded = scope.functions[name]()
        if loaded is None:
            out.add(path, None, "SDK100", f"the source of helper {name}() cannot be read")
            continue
        node, filename = loaded
        analyze_function(scope, node, _emitter(out, filename), pending.append)


def _emitter(out: _Collector, filename: str) -> Callable[[str, ast.AST, str], None]:
    """Report findings of a helper under the file it is defined in."""

    def emit(rule: str, node: ast.AST, message: str) -> None:
        out.add(filename, node, rule, message)

    return emit


def _static_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef, filename: str
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]:
    return node, filename


def _check_file(
    path: Path, out: _Collector, config: PolicyConfig, step_names: Iterable[str] = ()
) -> None:
    """Check the step classes of one file (``step_names``: classes known to be steps)."""
    key = str(path)
    source = path.read_text(encoding="utf-8", errors="replace")
    out.configs[key] = config
    out.lines[key] = source.splitlines(keepends=True)
    try:
        tree = ast.parse(source, filename=key)
    except SyntaxError as exc:
        out.add(key, None, "SDK100", f"cannot parse: {exc.msg} (line {exc.lineno})")
        return
    own = _own_package(path)
    scope = Scope(allowed=config.allowed | ({own} if own else set()))
    imports: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.stmt] = list(tree.body)
    while stack:  # module-level statements, including those under if/try/with
        stmt = stack.pop()
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            imports.append(stmt)
            scope.aliases.update(import_aliases(stmt))
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            scope.functions[stmt.name] = functools.partial(_static_function, stmt, key)
        elif isinstance(stmt, ast.ClassDef):
            scope.classes.add(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in targets:
                scope.variables.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        else:
            for name in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(stmt, name, []))
    steps: set[str] = set(step_names)
    classes = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef) and (
            stmt.name in steps or any(_is_step_base(b, scope, steps) for b in stmt.bases)
        ):
            steps.add(stmt.name)
            classes.append(stmt)
    if not classes:
        return
    for stmt in imports:
        message = import_problem(stmt, scope.allowed)
        if message:
            out.add(key, stmt, "SDK107", message)
    _check_methods(classes, scope, key, out)


def _python_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*.py")
        if not any(
            part in _SKIP_DIRS or part.startswith(".") for part in p.relative_to(folder).parts
        )
    )


def check_paths(paths: Iterable[str | Path]) -> PolicyReport:
    """Check ``.py`` files and folders (recursively), each with its nearest configuration.

    Raises:
        FileNotFoundError: a path does not exist.
    """
    started = time.perf_counter()
    out = _Collector()
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files += _python_files(path)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{str(path)!r} does not exist")
    configs: dict[Path, PolicyConfig] = {}
    for file in files:
        folder = file.resolve().parent
        if folder not in configs:
            configs[folder] = load_config(folder)
        _check_file(file, out, configs[folder])
    return PolicyReport(
        tuple(out.findings()),
        tuple(_shown(f) for f in files),
        time.perf_counter() - started,
    )


def _public_path(value: Any, module: str) -> str:
    """The shortest import path of ``value``: ``numpy.random.default_rng``, ``pandas.Timestamp``."""
    name = str(getattr(value, "__qualname__", None) or getattr(value, "__name__", ""))
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        owner = sys.modules.get(".".join(parts[:i]))
        if owner is not None and "." not in name and getattr(owner, name, None) is value:
            return f"{'.'.join(parts[:i])}.{name}"
    return f"{module}.{name}"


def _parse_lines(filename: str) -> tuple[ast.Module, list[str]] | None:
    lines = linecache.getlines(filename)
    if not lines:
        return None
    try:
        return ast.parse("".join(lines)), lines
    except SyntaxError:
        return None


def _live_function(
    func: Any, out: _Collector
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, str] | None:
    code = getattr(inspect.unwrap(func), "__code__", None)
    parsed = _parse_lines(code.co_filename) if code else None
    if code is None or parsed is None:
        return None
    tree, lines = parsed
    out.lines.setdefault(code.co_filename, lines)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func.__name__:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first == code.co_firstlineno:
                return node, code.co_filename
    return None


def _live_scope(module: ModuleType | None, config: PolicyConfig, out: _Collector) -> Scope:
    """Resolve names through the live globals (notebook cells: imports are in other cells)."""
    scope = Scope(allowed=config.allowed, is_static=False)
    name = module.__name__ if module else ""
    for key, value in (vars(module) if module else {}).items():
        if key.startswith("__"):
            continue
        if isinstance(value, ModuleType):
            scope.aliases[key] = value.__name__
        elif getattr(value, "__module__", None) == name and inspect.isfunction(value):
            scope.functions[key] = functools.partial(_live_function, value, out)
        elif getattr(value, "__module__", None) == name and isinstance(value, type):
            scope.classes.add(key)
        elif (inspect.isroutine(value) or isinstance(value, type)) and getattr(
            value, "__module__", None
        ):
            scope.aliases[key] = _public_path(value, value.__module__)
        else:
            scope.variables.add(key)
    return scope


def check_pipeline(pipeline: Pipeline) -> PolicyReport:
    """Check the step classes of ``pipeline``, wherever they are defined (files or notebook cells).

    Steps defined in a module file are checked as ``sdk check FILE`` would; steps defined in a
    notebook cell are read from the cell cache (``linecache``), with names resolved through the
    notebook's globals. A step whose source cannot be read is reported under SDK100.
    """
    started = time.perf_counter()
    out = _Collector()
    seen: set[type] = set()
    in_file: dict[str, set[str]] = {}
    for step in pipeline.steps:
        cls = type(step)
        if cls in seen:
            continue
        seen.add(cls)
        module = sys.modules.get(cls.__module__)
        run = inspect.unwrap(cls.__dict__.get("run", cls.run))
        code = getattr(run, "__code__", None)
        filename = code.co_filename if code else "<unknown>"
        module_file = getattr(module, "__file__", None)
        if module_file and code and Path(module_file).resolve() == Path(filename).resolve():
            in_file.setdefault(filename, set()).add(cls.__name__)
            continue
        config = load_config(Path.cwd())
        out.configs[filename] = config
        parsed = _parse_lines(filename) if code else None
        node = None
        if parsed is not None and code is not None:
            out.lines[filename] = parsed[1]
            node = next(
                (
                    n
                    for n in ast.walk(parsed[0])
                    if isinstance(n, ast.ClassDef)
                    and n.name == cls.__name__
                    and n.lineno <= code.co_firstlineno <= (n.end_lineno or n.lineno)
                ),
                None,
            )
        if node is None:
            out.add(
                filename,
                None,
                "SDK100",
                f"the source of step {cls.__qualname__} cannot be read "
                f"(inspect.getsource failed), so it was not checked",
            )
            continue
        _check_methods([node], _live_scope(module, config, out), filename, out)
    for filename, names in in_file.items():
        _check_file(Path(filename), out, load_config(Path(filename).parent), names)
    files = tuple(sorted({_shown(f) for f in out.lines} | {_shown(f) for f in out.raw}))
    return PolicyReport(tuple(out.findings()), files, time.perf_counter() - started)
