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
import sysconfig
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sdk.policy.checker import analyze_function
from sdk.policy.config import PolicyConfig
from sdk.policy.estimators import built_class
from sdk.policy.modules import Modules, is_guarded
from sdk.policy.report import Collector, PolicyReport, shown
from sdk.policy.rules import top_module
from sdk.policy.scope import FunctionNode, Loaded, Scope, is_mutable

if TYPE_CHECKING:
    from sdk.pipeline import Pipeline

__all__ = ["check_paths", "check_pipeline"]

_SKIP_DIRS = {"__pycache__", "node_modules", "build", "dist", "venv", "site-packages"}


def _check_methods(
    lineage: Iterable[tuple[str, ast.ClassDef, Scope]],
    modules: Modules,
    at_import: Iterable[tuple[str, FunctionNode, Scope]] = (),
) -> None:
    """Check every method of the classes (with the file and scope of each), the module-level
    code ``at_import``, and the functions of the analyst's they reach, each once, with the scope
    of the module that defines it."""
    out = modules.out
    done: set[tuple[str, int]] = set()
    pending: list[tuple[Scope, str, str]] = []

    def queue(scope: Scope, key: str) -> Callable[[str], None]:
        return lambda name: pending.append((scope, name, key))

    for key, body, scope in at_import:
        analyze_function(scope, body, _emitter(out, key, at_import=True), queue(scope, key))
    for key, cls, scope in lineage:
        nested = [c for c in cls.body if isinstance(c, ast.ClassDef)]  # Params and its methods
        methods = [
            item
            for body in (cls.body, *(c.body for c in nested))
            for item in body
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        state = _class_state(cls, methods)
        for item in methods:
            if (key, item.lineno) not in done:
                done.add((key, item.lineno))
                analyze_function(scope, item, _emitter(out, key), queue(scope, key), state)
        if (key, cls.lineno) not in done:  # attributes and nested Params run at class creation
            done.add((key, cls.lineno))
            body = _definitions(cls.body, nested=True)
            analyze_function(scope, body, _emitter(out, key, at_import=True), queue(scope, key))
    while pending:
        scope, name, caller = pending.pop()
        loader = scope.functions.get(name)
        loaded = loader() if loader else scope.find(name) if scope.find else None
        if loaded is None:
            if loader is not None:
                out.add(caller, None, "SDK100", f"the source of helper {name}() cannot be read")
            continue
        node, key, helper_scope = loaded
        if (key, node.lineno) in done:
            continue
        done.add((key, node.lineno))
        modules.check_imports(key)
        analyze_function(helper_scope, node, _emitter(out, key), queue(helper_scope, key))


def _emitter(
    out: Collector, filename: str, at_import: bool = False
) -> Callable[[str, ast.AST, str], None]:
    """Report findings of a function under the file it is defined in (``at_import``: code that
    runs once when the module is imported, where assigning module and class state is defining
    it, not mutating it)."""

    def emit(rule: str, node: ast.AST, message: str) -> None:
        if not (at_import and rule == "SDK106"):
            out.add(filename, node, rule, message)

    return emit


def _definitions(body: list[ast.stmt], nested: bool = False) -> ast.FunctionDef:
    """The statements of a module or class body that run when it is defined, as one function:
    not functions, imports, or blocks guarded by ``TYPE_CHECKING``/``__main__`` (``nested``:
    the bodies of nested classes such as ``Params`` too)."""
    kept: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and not nested:
            kept += _evaluated_at_definition(stmt)
        if isinstance(stmt, ast.ClassDef):
            kept += _definitions(stmt.body, nested).body if nested else []
        elif not isinstance(
            stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.Import | ast.ImportFrom
        ) and not is_guarded(stmt):
            kept.append(stmt)
    arguments = ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
    )
    func = ast.FunctionDef(name="<definitions>", args=arguments, body=kept, decorator_list=[])
    func.lineno, func.col_offset = (kept[0].lineno, 0) if kept else (1, 0)
    return func


def _evaluated_at_definition(
    stmt: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
) -> list[ast.stmt]:
    """The decorators (and default values) of a module-level definition: they run at import."""
    values = list(stmt.decorator_list)
    if not isinstance(stmt, ast.ClassDef):
        values += [*stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d is not None)]
    return [ast.copy_location(ast.Expr(value=v), v) for v in values]


def _class_state(
    cls: ast.ClassDef, methods: list[ast.FunctionDef | ast.AsyncFunctionDef]
) -> dict[str, str | None]:
    """Mutable containers and other objects built on the class itself (``seen = {}``,
    ``model = LinearRegression()`` in the class body) that no method rebinds per instance
    (``self.seen = {}``): ``self.seen[k] = v`` or ``self.model.fit(...)`` changes them for all.
    Each with the class it was built from, where known."""
    shared = {
        t.id: built_class(stmt.value)
        for stmt in cls.body
        if isinstance(stmt, ast.Assign | ast.AnnAssign)
        and (is_mutable(stmt.value) or isinstance(stmt.value, ast.Call))
        for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
        if isinstance(t, ast.Name)
    }
    rebound = {  # plain assignment only: `self.seen += [x]` extends the class's list in place
        target.attr
        for method in methods
        for node in ast.walk(method)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    }
    return {name: kind for name, kind in shared.items() if name not in rebound}


def _check_file(
    path: Path, modules: Modules, config: PolicyConfig | None = None, step_names: Iterable[str] = ()
) -> None:
    """Check the step classes of one file (``step_names``: classes known to be steps)."""
    module = modules.load(path, config)
    if module.tree is None:
        return
    steps: list[tuple[str, ast.ClassDef, Scope]] = []
    for stmt in ast.walk(module.tree):  # steps nested in classes or factory functions too
        if isinstance(stmt, ast.ClassDef):
            is_step, chain = modules.lineage(module, stmt)
            if is_step or stmt.name in step_names:
                steps += [(m.key, c, m.scope) for m, c in chain]
    if steps:
        modules.check_imports(module.key)
        definitions = _definitions(module.tree.body)
        _check_methods(steps, modules, [(module.key, definitions, module.scope)])


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
    out = Collector()
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files += _python_files(path)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{str(path)!r} does not exist")
    modules = Modules(out)
    for file in files:
        _check_file(file, modules)
    return PolicyReport(
        tuple(out.findings()),
        tuple(dict.fromkeys([*(shown(f) for f in files), *(shown(f) for f in out.lines)])),
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


def _live_function(func: Any, out: Collector, scope: Scope) -> Loaded | None:
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
                return node, code.co_filename, scope
    return None


@functools.cache
def _installed() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    folders = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return (*(Path(f).resolve() for f in folders), Path(__file__).resolve().parents[1])


def _own_file(value: Any) -> Path | None:
    """The file of a live module or function the analyst wrote (not installed, not the SDK's)."""
    module = value if isinstance(value, ModuleType) else sys.modules.get(value.__module__ or "")
    file = getattr(module, "__file__", None)
    if not file or not file.endswith(".py"):
        return None
    path = Path(file).resolve()
    if any(part in ("site-packages", "dist-packages") for part in path.parts) or any(
        path.is_relative_to(folder) for folder in _installed()
    ):
        return None
    return path


def _live_find(modules: Modules, dotted: str) -> Loaded | None:
    """A function of an own module, named by its dotted path in a notebook's globals."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        owner = sys.modules.get(".".join(parts[:i]))
        file = _own_file(owner) if owner is not None else None
        if file is not None:
            rest = parts[i:]
            return modules.function(modules.load(file), rest[0]) if len(rest) == 1 else None
    return None


def _live_scope(module: ModuleType | None, config: PolicyConfig, modules: Modules) -> Scope:
    """Resolve names through the live globals (notebook cells: imports are in other cells)."""
    scope = Scope(allowed=config.allowed, is_static=False)
    scope.find = functools.partial(_live_find, modules)
    name = module.__name__ if module else ""
    for key, value in (vars(module) if module else {}).items():
        if key.startswith("__"):
            continue
        owner = getattr(value, "__module__", None)
        if isinstance(value, ModuleType):
            scope.aliases[key] = value.__name__
            if _own_file(value) is not None:
                scope.local.add(top_module(value.__name__))
        elif owner == name and inspect.isfunction(value):
            scope.functions[key] = functools.partial(_live_function, value, modules.out, scope)
        elif owner == name and isinstance(value, type):
            scope.classes.add(key)
        elif (inspect.isroutine(value) or isinstance(value, type)) and owner:
            scope.aliases[key] = _public_path(value, owner)
            if inspect.isfunction(value) and _own_file(value) is not None:
                scope.local.add(top_module(scope.aliases[key]))
        else:
            scope.variables.add(key)
            scope.built[key] = type(value).__name__
    return scope


def _live_bases(cls: type, modules: Modules) -> list[tuple[str, ast.ClassDef, Scope]]:
    """The analyst's base classes of a notebook step that are defined in files."""
    found = []
    for base in cls.__mro__[1:]:
        file = _own_file(base) if base.__module__ != cls.__module__ else None
        if file is not None:
            module = modules.load(file)
            if base.__name__ in module.classes:
                found.append((module.key, module.classes[base.__name__], module.scope))
    return found


def check_pipeline(pipeline: Pipeline) -> PolicyReport:
    """Check the step classes of ``pipeline``, wherever they are defined (files or notebook cells).

    Steps defined in a module file are checked as ``sdk check FILE`` would; steps defined in a
    notebook cell are read from the cell cache (``linecache``), with names resolved through the
    notebook's globals. A step whose source cannot be read is reported under SDK100.
    """
    started = time.perf_counter()
    out = Collector()
    modules = Modules(out)
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
        config = modules.config(Path.cwd().resolve())
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
        scope = _live_scope(module, config, modules)
        _check_methods([(filename, node, scope), *_live_bases(cls, modules)], modules)
    for filename, names in in_file.items():
        _check_file(Path(filename), modules, step_names=names)
    files = tuple(sorted({shown(f) for f in out.lines} | {shown(f) for f in out.raw}))
    return PolicyReport(tuple(out.findings()), files, time.perf_counter() - started)
