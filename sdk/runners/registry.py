"""The runner registry: runner classes from every plugin, checked, by name.

The table is built once per process and kept while the registered plugins stay the same:
it is rebuilt when a plugin is registered or unregistered (the hook implementations of
``sdk_register_runners`` change), so a run does not pay the plugins' metadata lookups.
"""

from __future__ import annotations

import threading
from typing import Any

import pluggy

from sdk.errors import PluginError
from sdk.plugins import get_plugin_manager, origin
from sdk.runners.base import Runner

__all__ = ["get_runner", "list_runners"]

_Table = dict[str, tuple[type[Runner], str]]
_cache: dict[tuple[tuple[int, object], ...], _Table] = {}
_lock = threading.Lock()


def list_runners() -> dict[str, tuple[type[Runner], str]]:
    """Return every registered runner: name -> (class, "distribution version").

    Raises:
        PluginError: a plugin registered something that is not a runner, a runner without a
            name, or a name twice.
    """
    pm = get_plugin_manager()
    impls = pm.hook.sdk_register_runners.get_hookimpls()
    key = tuple((id(impl.plugin), impl.function) for impl in impls)
    with _lock:
        table = _cache.get(key)
        if table is None:
            table = _build(pm, impls)
            _cache.clear()  # only the current plugins' table is kept
            _cache[key] = table
    return dict(table)


def _build(pm: pluggy.PluginManager, impls: list[pluggy.HookImpl]) -> _Table:
    table: _Table = {}
    for impl in impls:
        project, version = origin(pm, impl.plugin)
        provided: list[Any] = list(impl.function() or [])  # type: ignore[call-overload]
        for cls in provided:
            if not (isinstance(cls, type) and issubclass(cls, Runner)):
                raise PluginError(
                    f"plugin {impl.plugin_name!r} registered {cls!r}, which is not a subclass "
                    f"of sdk.Runner"
                )
            if not cls.name:
                raise PluginError(f"plugin {impl.plugin_name!r}: runner {cls.__name__} has no name")
            if cls.name in table:
                raise PluginError(
                    f"runner {cls.name!r} is registered twice ({table[cls.name][1]} and "
                    f"{project}); uninstall one"
                )
            table[cls.name] = (cls, f"{project} {version}")
    return table


def get_runner(name: str, **options: Any) -> Runner:
    """Return an instance of the runner called ``name`` with ``options``.

    Raises:
        PluginError: no runner has that name (the message lists those that exist), or an
            option is unknown or ill-typed (the message lists the accepted ones).
    """
    table = list_runners()
    if name not in table:
        raise PluginError(
            f"no runner named {name!r}; available: {', '.join(sorted(table))} "
            f"(a runner plugin may not be installed)"
        )
    return table[name][0](**options)
