"""The plugin manager: built-in and installed plugins, found through the ``sdk`` entry points.

Nothing is loaded on import; :func:`get_plugin_manager` builds the manager once, on first use
by a runner or the CLI.
"""

from __future__ import annotations

import functools
import importlib.metadata
import threading
from typing import TYPE_CHECKING

import pluggy

from sdk import hookspecs
from sdk.errors import PluginError
from sdk.logs import get_logger

if TYPE_CHECKING:
    from sdk.io import IOScheme

__all__ = ["get_plugin_manager", "list_schemes", "origin", "resolve_scheme"]

logger = get_logger(__name__)

_BUILTINS = (
    "sdk.runners.local",
    "sdk.runners.batch",
    "sdk.runners.stream",
    "sdk.io.files",
    "sdk.io.sql",
    "sdk.io.postgres",
    "sdk.io.redis",
)
_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


def origin(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str]:
    """The distribution and version that provide ``plugin``."""
    for p, dist in pm.list_plugin_distinfo():
        if p is plugin:
            return dist.project_name, dist.version
    name = getattr(plugin, "__name__", type(plugin).__name__)
    return ("pipeline-sdk", _sdk_version()) if name.startswith("sdk.") else (name, "?")


@functools.cache
def _sdk_version() -> str:
    try:
        return importlib.metadata.version("pipeline-sdk")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0+unknown"


def _build() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("sdk")
    pm.add_hookspecs(hookspecs)
    for module_name in _BUILTINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
    try:
        pm.load_setuptools_entrypoints("sdk")
    except Exception as exc:
        raise PluginError(
            f"a plugin in the 'sdk' entry-point group failed to load: {exc!r}; fix or uninstall it"
        ) from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
    for plugin in pm.get_plugins():
        project, version = origin(pm, plugin)
        logger.debug(
            "plugin_loaded",
            extra={"plugin": pm.get_name(plugin), "distribution": project, "version": version},
        )
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, building it on first use."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = _build()
        return _manager


def list_schemes() -> list[IOScheme]:
    """Return every registered I/O scheme, plugins first so they can override built-ins."""
    pm = get_plugin_manager()
    schemes: list[IOScheme] = []
    for group in pm.hook.sdk_register_io_schemes():
        schemes.extend(group or [])
    return schemes


def resolve_scheme(uri: str) -> IOScheme:
    """Return the I/O scheme that handles ``uri``.

    Raises:
        PluginError: no scheme handles it; the message lists the known ones.
    """
    schemes = list_schemes()
    for scheme in schemes:
        if scheme.handles(uri):
            return scheme
    names = ", ".join(s.name for s in schemes)
    raise PluginError(
        f"no I/O scheme handles {uri!r}; known schemes: {names} (check the file extension or "
        f"install the plugin for this scheme)"
    )
