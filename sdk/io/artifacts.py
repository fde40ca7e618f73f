"""Artifacts: fitted models, metrics and other objects a step returns, saved and loaded by runners.

Steps never read or write; the runner saves what a step returns as an artifact with
:func:`save_artifact` and gives it back to a later step (or a later pipeline) with
:func:`load_artifact`. The format is chosen by the file's suffix (:data:`ARTIFACT_FORMATS`).

Every artifact file has a manifest beside it (``<file>.manifest.json``) recording the hash of
its bytes, so a file changed or truncated after it was written is refused when loaded. Formats
that can run code while loading (joblib, pickle) are loaded only from trusted paths; a skops
file is loaded only when every type in it is trusted by skops or its path is trusted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import importlib.metadata
import io
import json
import os
import pickle
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from sdk.errors import ArtifactError, IOSchemeError
from sdk.io import atomic_bytes
from sdk.logs import get_logger
from sdk.manifest import write_json

__all__ = [
    "ARTIFACT_FORMATS",
    "LoadedArtifact",
    "PreparedArtifact",
    "artifact_format",
    "is_trusted",
    "library_versions",
    "load_artifact",
    "manifest_path",
    "prepare_artifact",
    "save_artifact",
]

logger = get_logger("sdk.run")

ARTIFACT_FORMATS: dict[str, str] = {
    ".skops": "skops",
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".json": "json",
}
"""The artifact format of each accepted file suffix."""

_OPTIONAL = ("scikit-learn", "skops", "joblib")
# The libraries whose change between training and loading can change what a model does.
_COMPARED = ("python", "scikit-learn", "skops", "numpy")
_TRUST_FIX = (
    "pass --trust-artifact <pattern> or list it in trusted_artifacts = [...] in the deployment "
    "file (only for files you produced)"
)


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def artifact_format(uri: str) -> str:
    """The format of the artifact at ``uri``, by its suffix.

    Raises:
        ArtifactError: ``uri`` is not a file, or its suffix is not in :data:`ARTIFACT_FORMATS`.
    """
    if "://" in uri and not uri.startswith("file://"):
        raise ArtifactError(f"artifacts are files: {uri!r} is not a file path or file:// URI")
    fmt = ARTIFACT_FORMATS.get(_path(uri).suffix.lower())
    if fmt is None:
        raise ArtifactError(
            f"artifact {uri!r} has no known suffix; use one of {', '.join(ARTIFACT_FORMATS)}"
        )
    return fmt


def manifest_path(uri: str) -> Path:
    """The manifest of the artifact at ``uri``: ``<file>.manifest.json`` beside the file."""
    path = _path(uri).resolve()
    return path.with_name(path.name + ".manifest.json")


def library_versions() -> dict[str, str]:
    """The versions an artifact depends on: python, sdk, numpy, pandas, and scikit-learn, skops
    and joblib where installed (read from package metadata; nothing is imported)."""
    from sdk import __version__

    versions = {"python": platform.python_version(), "sdk": __version__}
    for name in ("numpy", "pandas", *_OPTIONAL):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.partition(".")[0]
        raise ArtifactError(
            f"{package} is not installed; artifacts in its format need it: "
            f"pip install 'pipeline-sdk[ml]'"
        ) from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dump_joblib(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _require("joblib").dump(obj, buffer)
    return buffer.getvalue()


_DUMPERS: dict[str, Callable[[Any], bytes]] = {
    "skops": lambda obj: _require("skops.io").dumps(obj),
    "joblib": _dump_joblib,
    "pickle": lambda obj: pickle.dumps(obj, protocol=5),
    "json": lambda obj: (
        json.dumps(obj, sort_keys=True, indent=2, default=_json_default) + "\n"
    ).encode(),
}


def _serialize(obj: Any, uri: str, fmt: str, type_name: str) -> bytes:
    try:
        return _DUMPERS[fmt](obj)
    except ArtifactError:
        raise
    except Exception as exc:
        fix = {
            "json": "only dicts, lists, numbers and strings are saved as .json; save it as .skops",
            "skops": "save it as .joblib or .pkl instead (loaded only from trusted paths), or "
            "keep only persistable attributes on it",
        }.get(fmt, "make the object picklable")
        raise ArtifactError(
            f"cannot save artifact {uri!r}: {fmt} cannot persist {type_name} "
            f"({type(exc).__name__}: {exc}); {fix}"
        ) from exc


def save_artifact(obj: Any, uri: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``obj`` to ``uri`` in the format of its suffix, then its manifest beside it.

    The object is serialized in memory first, so an object that cannot be saved leaves no file.
    Each file is written atomically: it fully lands or the previous content stays.

    Args:
        obj: what to save (a fitted estimator, a dict of metrics, an array, ...).
        uri: a file path or ``file://`` URI whose suffix names the format.
        manifest: fields to record in the manifest (e.g. ``run_id``, ``pipeline``, ``step``).

    Returns:
        The manifest written: ``manifest`` plus ``format``, ``content_hash``
        (``sha256:<hex>`` of the file's bytes), ``bytes``, ``type`` and ``versions``
        (:func:`library_versions`, unless ``manifest`` gives them).

    Raises:
        ArtifactError: the URI or the object cannot be saved in that format, or a write failed.
    """
    prepared = prepare_artifact(obj, uri, manifest)
    prepared.write()
    return prepared.manifest


@attrs.frozen
class PreparedArtifact:
    """An artifact serialized and ready to be written (see :func:`prepare_artifact`).

    Attributes:
        uri: where it goes.
        data: the file's bytes.
        manifest: the manifest to write beside it.
    """

    uri: str
    data: bytes
    manifest: dict[str, Any]

    def write(self) -> None:
        """Write the file, then its manifest, each atomically.

        Raises:
            ArtifactError: a write failed.
        """
        try:
            atomic_bytes(_path(self.uri), self.data)
            write_json(manifest_path(self.uri), self.manifest)
        except IOSchemeError as exc:  # from the atomic writes
            raise ArtifactError(f"cannot save artifact {self.uri!r}: {exc}") from exc


def prepare_artifact(obj: Any, uri: str, manifest: Mapping[str, Any]) -> PreparedArtifact:
    """Serialize ``obj`` for ``uri`` without writing anything, so that a run can refuse an
    artifact it cannot save before it publishes any output.

    Raises:
        ArtifactError: the URI or the object cannot be saved in that format.
    """
    fmt = artifact_format(uri)
    type_name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    data = _serialize(obj, uri, fmt, type_name)
    written = {
        **manifest,
        "format": fmt,
        "content_hash": "sha256:" + hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "type": type_name,
        "versions": manifest["versions"] if "versions" in manifest else library_versions(),
    }
    return PreparedArtifact(uri, data, written)


@attrs.frozen
class LoadedArtifact:
    """An artifact as loaded: the object, where it came from, and what verified it.

    Attributes:
        obj: the deserialized object.
        uri: the URI it was loaded from.
        content_hash: ``sha256:<hex>`` of the file's bytes.
        bytes: the file's size.
        manifest: the manifest beside the file, or ``None`` when there was none.
    """

    obj: Any
    uri: str
    content_hash: str
    bytes: int
    manifest: dict[str, Any] | None


def is_trusted(uri: str, trusted: Sequence[str]) -> bool:
    """Whether ``uri`` matches a trusted pattern (:mod:`fnmatch`, where ``*`` also matches
    ``/``), written either as given (without ``file://``) or as its resolved absolute path; a
    relative pattern is also taken from the working directory."""
    candidates = (uri.removeprefix("file://"), str(_path(uri).resolve()))
    # a relative pattern also matches from the working directory: deployment files give
    # absolute paths, and `--trust-artifact models/*.joblib` must still trust them
    patterns = {*trusted, *(os.path.abspath(p) for p in trusted if not os.path.isabs(p))}
    return any(fnmatch.fnmatch(c, pattern) for c in candidates for pattern in patterns)


def _read_manifest(uri: str) -> dict[str, Any] | None:
    path = manifest_path(uri)
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        manifest = exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("content_hash"), str):
        raise ArtifactError(
            f"the manifest {str(path)!r} of artifact {uri!r} is unreadable or has no "
            f"content_hash, so the artifact cannot be verified; write it again by re-running "
            f"the training pipeline"
        )
    return manifest


def _verify(uri: str, digest: str, size: int, manifest: Mapping[str, Any]) -> None:
    expected = manifest["content_hash"]
    if expected == digest:
        return
    raise ArtifactError(
        f"artifact {uri!r} was changed or truncated after it was written: its manifest expects "
        f"{expected[:19]}… ({manifest.get('bytes')} bytes), the file has {digest[:19]}… "
        f"({size} bytes); write it again by re-running the training pipeline"
    )


def _version_differences(trained: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(trained, Mapping):
        return {}
    now: dict[str, Any] = library_versions()
    differences = {}
    for name in _COMPARED:
        then, current = trained.get(name), now.get(name)
        if name == "python" and then is not None and current is not None:
            then, current = (".".join(str(v).split(".")[:2]) for v in (then, current))
        if then is not None and then != current:
            differences[name] = {"trained": then, "now": current}
    return differences


def _load_skops(data: bytes, uri: str, trusted: Sequence[str]) -> Any:
    sio = _require("skops.io")
    untrusted: list[str] = sio.get_untrusted_types(data=data)
    if untrusted and not is_trusted(uri, trusted):
        raise ArtifactError(
            f"artifact {uri!r} holds types skops does not trust: {', '.join(untrusted)}; to "
            f"load it, {_TRUST_FIX}"
        )
    return sio.loads(data, trusted=untrusted or None)


def _load_pickled(data: bytes, uri: str, fmt: str, trusted: Sequence[str]) -> Any:
    if not is_trusted(uri, trusted):
        raise ArtifactError(
            f"{uri!r} is a {fmt} file, which can run arbitrary code when loaded; it is loaded "
            f"only when trusted: {_TRUST_FIX}; or save the model as .skops"
        )
    if fmt == "joblib":
        return _require("joblib").load(io.BytesIO(data))
    return pickle.loads(data)


def load_artifact(uri: str, *, trusted: Sequence[str] = ()) -> LoadedArtifact:
    """Load the artifact at ``uri`` after verifying it against its manifest.

    A file without a manifest is loaded with an ``artifact_unverified`` warning; a manifest
    recording other versions of python, scikit-learn, skops or numpy than those installed
    gives an ``artifact_version_mismatch`` warning.

    Args:
        uri: a file path or ``file://`` URI whose suffix names the format.
        trusted: patterns (see :func:`is_trusted`) of files that may be loaded even though
            loading them can run code: joblib and pickle files, skops files with types skops
            does not trust.

    Raises:
        ArtifactError: the file is missing, does not match its manifest, is not trusted, or
            cannot be deserialized.
    """
    fmt = artifact_format(uri)
    path = _path(uri)
    if not path.is_file():
        raise ArtifactError(
            f"artifact {uri!r} does not exist; check the path, or run the pipeline that writes it"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {uri!r}: {exc}") from exc
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    manifest = _read_manifest(uri)
    if manifest is None:
        logger.warning(
            "artifact_unverified", extra={"uri": uri, "reason": "no manifest beside the file"}
        )
    else:
        _verify(uri, digest, len(data), manifest)
        differences = _version_differences(manifest.get("versions"))
        if differences:
            logger.warning(
                "artifact_version_mismatch", extra={"uri": uri, "differences": differences}
            )
    try:
        if fmt == "skops":
            obj = _load_skops(data, uri, trusted)
        elif fmt == "json":
            obj = json.loads(data)
        else:
            obj = _load_pickled(data, uri, fmt, trusted)
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(
            f"cannot load artifact {uri!r} as {fmt}: {type(exc).__name__}: {exc}; the file is "
            f"damaged or not a {fmt} file; write it again by re-running the training pipeline"
        ) from exc
    return LoadedArtifact(obj, uri, digest, len(data), manifest)
