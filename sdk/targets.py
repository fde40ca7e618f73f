"""Objects named on the command line: ``module:attr`` or ``path/to/file.py:attr``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from sdk.errors import PipelineError, SdkError

__all__ = ["load_object"]


def load_object(target: str, base: Path | None = None) -> Any:
    """Import the module of ``target`` and return its attribute (``None`` if it has none).

    ``module:attr`` imports a module from the working directory (or ``base``);
    ``path/to/file.py:attr`` loads the file (relative to ``base`` if given), with its folder on
    the import path so that its own imports of sibling modules resolve.

    Raises:
        PipelineError: the target is malformed or its module cannot be imported.
    """
    module_name, sep, attr = target.rpartition(":")
    is_file = module_name.endswith(".py")
    if not sep or not module_name or not attr or (not is_file and "/" in module_name):
        raise PipelineError(
            f"target {target!r} must be module:attribute (e.g. examples.fraud.pipeline:pipeline), "
            f"path/to/file.py:attribute, or a deployment file ending in .toml"
        )
    candidate = Path(module_name)
    if is_file and base is not None and not candidate.is_absolute():
        candidate = base / candidate
    folders = [Path.cwd(), base, candidate.resolve().parent if is_file else None]
    for folder in folders:
        if folder is not None and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    try:
        if is_file:
            if not candidate.is_file():
                raise PipelineError(f"target {target!r}: file {str(candidate)!r} does not exist")
            spec = importlib.util.spec_from_file_location(candidate.stem, candidate)
            if spec is None or spec.loader is None:
                raise PipelineError(f"target {target!r}: cannot load {str(candidate)!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[candidate.stem] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except SdkError:  # a step or pipeline defined wrongly says so itself
        raise
    except (ModuleNotFoundError, TypeError, ValueError) as exc:
        raise PipelineError(
            f"target {target!r}: cannot import {module_name!r} ({exc}); run from the folder that "
            f"contains the package, or give a path to the .py file"
        ) from None
    return getattr(module, attr, None)
