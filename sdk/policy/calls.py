"""Which rule a call breaks, from what is called: a dotted path or a method name.

:mod:`sdk.policy.checker` resolves names and knows the function's state (locals, module globals,
class attributes); these functions only classify. Each returns ``(rule_id, message)`` or ``None``.
"""

from __future__ import annotations

import ast

from sdk.policy.estimators import model_finding
from sdk.policy.rules import (
    CLOCKS,
    DATA_IO_PREFIXES,
    DATA_LIBRARIES,
    DYNAMIC_BUILTINS,
    DYNAMIC_MODULES,
    GLOBAL_SETTERS,
    IO_MODULES,
    LOG_HANDLERS,
    NUMPY_IO,
    PANDAS_IO,
    PATH_IO,
    PATH_TYPES,
    PRINTERS,
    PURE_IN_IO_MODULES,
    RANDOM_MODULES,
    SDK_IO_MODULES,
    SEEDABLE_NUMPY,
    TEXT_WRITERS,
    UNSEEDED,
    WRITERS,
    top_module,
)

__all__ = [
    "Finding",
    "is_seeded",
    "method_finding",
    "passed_on",
    "path_finding",
    "reference_finding",
]

Finding = tuple[str, str] | None
"""``(rule_id, message)``, or ``None`` when the call breaks no rule."""

_TARGET_KEYWORDS = ("path_or_buf", "buf", "path_or_buffer", "path", "excel_writer", "fname")
_SAMPLE_SEED_POSITION = 4  # DataFrame.sample(n, frac, replace, weights, random_state, ...)
_CLOCK_WORDS = ("now", "today")
_NOW = ("now", "today", "utcnow")
_BROAD = ("Exception", "BaseException")


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def passed_on(func: ast.expr) -> ast.Call:
    """How a function passed on as a value may be called later: with unknown arguments, so a
    target (for writers) and a seed (for random generators) are assumed to be given."""
    unknown: list[ast.expr] = [ast.Name(id="_", ctx=ast.Load()), ast.Name(id="_", ctx=ast.Load())]
    options = ast.keyword(arg=None, value=ast.Name(id="_", ctx=ast.Load()))
    return ast.Call(func=func, args=unknown, keywords=[options])


def is_seeded(call: ast.Call, keyword: str | None = None, position: int | None = None) -> bool:
    """Whether ``call`` passes a seed that is not ``None``: any argument (``keyword=None``), or
    the named keyword, or the positional argument at ``position``."""
    values = [k.value for k in call.keywords if keyword in (None, k.arg)]
    if keyword is None:
        values += list(call.args)
    elif position is not None and len(call.args) > position:
        values.append(call.args[position])
    return any(not _is_none(v) for v in values)


def _has_target(call: ast.Call, offset: int) -> bool:
    """Whether a text writer (``to_csv``...) is given a path or buffer, so it does I/O."""
    if len(call.args) > offset and not _is_none(call.args[offset]):
        return True
    return any(k.arg in _TARGET_KEYWORDS and not _is_none(k.value) for k in call.keywords)


def method_finding(attr: str, call: ast.Call, offset: int = 0) -> Finding:
    """The rule a method call ``x.attr(...)`` breaks whatever ``x`` is (``offset`` 1: the unbound
    form ``pd.DataFrame.attr(frame, ...)``)."""
    if attr in TEXT_WRITERS:
        if _has_target(call, offset):
            return "SDK101", f".{attr}() writes to a file"
        return None
    if attr in WRITERS:
        return "SDK101", f".{attr}() writes to a file or database"
    if attr in PATH_IO:
        return "SDK101", f".{attr}() reads or writes a file"
    if attr == "sample" and not is_seeded(call, "random_state", _SAMPLE_SEED_POSITION + offset):
        return "SDK104", ".sample() without random_state"
    if attr == "info" and not call.args and not any(k.arg == "buf" for k in call.keywords):
        return "SDK102", ".info() prints to standard output"
    return None


def _clock_argument(call: ast.Call) -> str | None:
    for value in (*call.args, *(k.value for k in call.keywords)):
        word = value.value if isinstance(value, ast.Constant) else None
        if isinstance(word, str) and word.strip().lower() in _CLOCK_WORDS:
            return word
    return None


def path_finding(q: str, call: ast.Call) -> Finding:
    """The rule a call of the dotted path ``q`` (``numpy.random.rand``) breaks."""
    top, last = top_module(q), q.rsplit(".", 1)[-1]
    parts = q.split(".")
    if q in PURE_IN_IO_MODULES:
        return None
    if (found := model_finding(q, call)) is not None:
        return found
    if q == "builtins.open":
        return "SDK101", "open() reads or writes a file"
    if q in ("builtins.print", "builtins.input") or q in PRINTERS:
        return "SDK102", f"{last}() writes to or waits on the terminal"
    if parts[:2] in (["sys", "stdout"], ["sys", "stderr"], ["sys", "stdin"]):
        return "SDK102", f"{q}() uses the process's stream"
    if q == "builtins.hash":
        return "SDK104", "hash() of text differs between processes (PYTHONHASHSEED)"
    if top == "builtins" and last in DYNAMIC_BUILTINS:
        return "SDK103", f"{last}() runs code built at run time"
    if top in DYNAMIC_MODULES:
        return "SDK103", f"{q}() loads code or pickled objects"
    if top in IO_MODULES and not (top == "pathlib" and last in PATH_TYPES):
        if q in UNSEEDED:
            return "SDK104", f"{q}() is random"
        return "SDK101", f"{q}() does I/O"
    if top == "logging" and (
        last in LOG_HANDLERS
        or (last == "basicConfig" and any(k.arg == "filename" for k in call.keywords))
    ):
        return "SDK101", f"{q}() writes log records to a file or the network"
    if top == "pandas" and (last.startswith("read_") or last in PANDAS_IO):
        return "SDK101", f"{q}() reads or writes a file or database"
    if top == "pandas" and len(parts) > 2 and parts[-2] in ("DataFrame", "Series"):
        found = method_finding(last, call, offset=1)
        if found is not None:
            return found
    if top == "numpy" and last in NUMPY_IO and len(parts) == 2:
        return "SDK101", f"{q}() reads or writes a file"
    if top in DATA_LIBRARIES and last.startswith(DATA_IO_PREFIXES):
        return "SDK101", f"{q}() reads or writes a file"
    if top == "sdk" and len(parts) > 1 and parts[1] in SDK_IO_MODULES:
        return "SDK101", f"{q}() is the runner's I/O"
    if top in RANDOM_MODULES or q in UNSEEDED:
        if last in ("Random", "SystemRandom") and top == "random" and is_seeded(call):
            return None
        return "SDK104", f"{q}() uses unseeded or system random state"
    if top == "numpy" and "random" in parts[1:]:
        if last in SEEDABLE_NUMPY and is_seeded(call):
            return None
        what = "without a seed" if last in SEEDABLE_NUMPY else "uses global random state"
        return "SDK104", f"{q}() {what}"
    if last == "rvs" and top == "scipy" and not is_seeded(call, "random_state"):
        return "SDK104", f"{q}() without random_state draws from global random state"
    if q in GLOBAL_SETTERS:
        return "SDK106", f"{q}() changes process-wide settings"
    if (
        q in CLOCKS
        or (q == "time.strftime" and len(call.args) < 2)
        or (
            top == "pandas"
            and {"Timestamp", "Period"} & set(parts)
            and last in ("now", "today", "utcnow")
        )
    ):
        return "SDK105", f"{q}() reads the wall clock"
    if top in ("pandas", "numpy") and (word := _clock_argument(call)) is not None:
        return "SDK105", f"{q}({word!r}) reads the wall clock"
    if q == "contextlib.suppress" and any(
        isinstance(a, ast.Name) and a.id in _BROAD for a in call.args
    ):
        return "SDK109", "contextlib.suppress of a broad exception swallows errors"
    return None


def reference_finding(q: str) -> Finding:
    """The rule a reference to ``q`` that is not called here breaks (``os.environ``,
    ``map(print, ...)``, ``rows.pipe(pd.DataFrame.to_csv, path)``)."""
    top = top_module(q)
    if q in PURE_IN_IO_MODULES or (top == "pathlib" and q.rsplit(".", 1)[-1] in PATH_TYPES):
        return None
    if q in ("sys.stdout", "sys.stderr", "sys.stdin"):
        return "SDK102", f"{q} is the process's stream"
    if q == "sys.modules":
        return "SDK106", "sys.modules exposes (and lets a step change) every module's state"
    if top in IO_MODULES or top in DYNAMIC_MODULES:
        return ("SDK103" if top in DYNAMIC_MODULES else "SDK101"), f"{q} does I/O or loads code"
    found = path_finding(q, passed_on(ast.Name(id="_", ctx=ast.Load())))
    if found is None or found[0] in ("SDK106", "SDK109"):
        return None
    return found[0], f"{found[1]} (passed on as a value)"
