"""Artifacts: saved atomically with a manifest, verified and trust-checked when loaded."""

from __future__ import annotations

import hashlib
import json
import logging
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from sdk.errors import ArtifactError, IOSchemeError
from sdk.io.artifacts import (
    ARTIFACT_FORMATS,
    LoadedArtifact,
    artifact_format,
    is_trusted,
    library_versions,
    load_artifact,
    manifest_path,
    save_artifact,
)


class Custom:
    """A type of our own: skops does not trust it by default."""

    def __init__(self, value: int) -> None:
        self.value = value


class Bomb:
    """Unpickling it creates ``marker``: proof that untrusted files are never unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def model() -> LinearRegression:
    """A fitted estimator."""
    x = np.arange(20, dtype=float).reshape(-1, 2)
    return LinearRegression().fit(x, x @ np.array([1.5, -2.0]) + 3.0)


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    """The records of event ``name``."""
    return [r for r in caplog.records if r.getMessage() == name]


def test_fitted_model_round_trips_through_skops(tmp_path: Path, model: LinearRegression) -> None:
    """A fitted estimator saved as .skops loads back and predicts the same."""
    uri = str(tmp_path / "model.skops")
    save_artifact(model, uri, {"step": "train"})
    loaded = load_artifact(uri)
    x = np.array([[0.5, 1.0], [7.0, -3.0]])
    assert isinstance(loaded, LoadedArtifact)
    assert isinstance(loaded.obj, LinearRegression)
    np.testing.assert_array_equal(loaded.obj.predict(x), model.predict(x))
    assert loaded.uri == uri
    assert loaded.bytes == Path(uri).stat().st_size
    assert loaded.manifest is not None and loaded.manifest["step"] == "train"


def test_dict_round_trips_through_json_with_numpy_scalars(tmp_path: Path) -> None:
    """A dict saved as .json is sorted, indented JSON; numpy scalars become numbers."""
    uri = str(tmp_path / "info.json")
    save_artifact({"b": [1, 2], "a": np.float64(0.25), "n": np.int64(3)}, uri, {})
    text = Path(uri).read_text()
    assert text.index('"a"') < text.index('"b"') < text.index('"n"')
    assert "\n  " in text
    assert load_artifact(uri).obj == {"a": 0.25, "b": [1, 2], "n": 3}


def test_metrics_mapping_round_trips_as_a_dict(tmp_path: Path) -> None:
    """Metrics (any mapping of name to number) are saved as JSON and load as a dict."""
    uri = str(tmp_path / "metrics.json")
    metrics = types.MappingProxyType({"rmse": 0.125, "r2": np.float32(0.5)})
    written = save_artifact(metrics, uri, {})
    assert load_artifact(uri).obj == {"rmse": 0.125, "r2": 0.5}
    assert written["type"] == "builtins.mappingproxy"


def test_manifest_beside_records_hash_size_type_versions_and_given_fields(
    tmp_path: Path, model: LinearRegression
) -> None:
    """The manifest beside the file is what save_artifact returns, and its hash is the file's."""
    uri = str(tmp_path / "model.skops")
    written = save_artifact(model, uri, {"run_id": "r1", "step": "train"})
    on_disk = json.loads((tmp_path / "model.skops.manifest.json").read_text())
    data = Path(uri).read_bytes()
    assert on_disk == written
    assert written["run_id"] == "r1" and written["step"] == "train"
    assert written["format"] == "skops"
    assert written["content_hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert written["bytes"] == len(data)
    assert written["type"] == "sklearn.linear_model._base.LinearRegression"
    assert written["versions"] == library_versions()
    assert {"python", "sdk", "numpy", "pandas", "scikit-learn", "skops"} <= set(written["versions"])


def test_given_versions_are_kept(tmp_path: Path) -> None:
    """Versions given in the manifest fields are recorded instead of the current ones."""
    written = save_artifact({"a": 1}, str(tmp_path / "a.json"), {"versions": {"numpy": "1.0"}})
    assert written["versions"] == {"numpy": "1.0"}


def test_one_changed_byte_is_refused_naming_the_file(
    tmp_path: Path, model: LinearRegression
) -> None:
    """A file with one byte changed after it was written is refused, with the fix."""
    uri = str(tmp_path / "model.skops")
    written = save_artifact(model, uri, {})
    data = bytearray(Path(uri).read_bytes())
    data[len(data) // 2] ^= 0x01
    Path(uri).write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as caught:
        load_artifact(uri)
    message = str(caught.value)
    assert uri in message
    assert "was changed or truncated after it was written" in message
    assert written["content_hash"][:19] in message
    assert "re-running the training pipeline" in message


def test_truncated_file_is_refused(tmp_path: Path, model: LinearRegression) -> None:
    """A truncated file is refused, with the expected and actual sizes."""
    uri = str(tmp_path / "model.joblib")
    written = save_artifact(model, uri, {})
    Path(uri).write_bytes(Path(uri).read_bytes()[:100])
    with pytest.raises(ArtifactError, match="changed or truncated") as caught:
        load_artifact(uri, trusted=["*"])
    assert f"({written['bytes']} bytes)" in str(caught.value)
    assert "(100 bytes)" in str(caught.value)


@pytest.mark.parametrize("name", ["model.skops", "info.json"])
def test_damaged_file_without_manifest_is_refused_with_the_cause(tmp_path: Path, name: str) -> None:
    """A damaged file with no manifest fails as an ArtifactError naming the file and the cause."""
    uri = str(tmp_path / name)
    Path(uri).write_bytes(b"\x00garbage{")
    with pytest.raises(ArtifactError) as caught:
        load_artifact(uri)
    assert uri in str(caught.value)
    assert "cannot load artifact" in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)


@pytest.mark.parametrize("name", ["bomb.joblib", "bomb.pkl", "bomb.pickle"])
def test_untrusted_pickled_file_is_refused_and_never_unpickled(tmp_path: Path, name: str) -> None:
    """A joblib or pickle file outside the trusted patterns is refused before unpickling."""
    marker = tmp_path / "unpickled"
    uri = str(tmp_path / name)
    save_artifact(Bomb(marker), uri, {})
    with pytest.raises(ArtifactError) as caught:
        load_artifact(uri, trusted=["elsewhere/*"])
    assert not marker.exists()
    message = str(caught.value)
    assert "can run arbitrary code when loaded" in message
    assert "--trust-artifact" in message and "trusted_artifacts" in message
    assert "save the model as .skops" in message
    # the same file, trusted, does run its code: the refusal above is what kept it from running
    load_artifact(uri, trusted=[str(tmp_path / "bomb.*")]).obj.close()
    assert marker.exists()


def test_trusted_joblib_loads_through_a_pattern(
    tmp_path: Path, model: LinearRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A joblib file loads when a pattern matches its relative or absolute path."""
    monkeypatch.chdir(tmp_path)
    Path("models").mkdir()
    save_artifact(model, "models/model.joblib", {})
    for pattern in ("models/*.joblib", f"{tmp_path}/models/*", "*.joblib"):
        loaded = load_artifact("models/model.joblib", trusted=[pattern])
        assert loaded.obj.coef_.tolist() == model.coef_.tolist()
    absolute = f"file://{tmp_path}/models/model.joblib"
    assert load_artifact(absolute, trusted=[f"{tmp_path}/models/*"]).obj is not None


def test_is_trusted_matches_the_uri_as_given_or_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Patterns match the URI without file:// or its absolute path; nothing else."""
    monkeypatch.chdir(tmp_path)
    assert is_trusted("models/m.pkl", ["models/*"])
    assert is_trusted("file://models/m.pkl", ["models/*.pkl"])
    assert is_trusted("models/m.pkl", [str(tmp_path / "models" / "*")])
    assert not is_trusted("models/m.pkl", ["other/*", "*.joblib"])
    assert not is_trusted("models/m.pkl", [])


def test_skops_file_with_an_untrusted_type_is_refused_listing_it(tmp_path: Path) -> None:
    """A skops file holding a type skops does not trust is refused; it loads when trusted."""
    uri = str(tmp_path / "custom.skops")
    save_artifact({"custom": Custom(7)}, uri, {})
    with pytest.raises(ArtifactError) as caught:
        load_artifact(uri)
    message = str(caught.value)
    assert f"{Custom.__module__}.Custom" in message
    assert "--trust-artifact" in message and "trusted_artifacts = [...]" in message
    loaded = load_artifact(uri, trusted=[str(tmp_path / "*.skops")])
    assert loaded.obj["custom"].value == 7


def test_object_skops_cannot_persist_is_refused_naming_its_type(tmp_path: Path) -> None:
    """An object skops cannot save fails naming its type, and leaves nothing behind."""
    with pytest.raises(ArtifactError, match=r"builtins\.generator.*\.joblib"):
        save_artifact((i for i in range(3)), str(tmp_path / "gen.skops"), {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("obj", [object(), np.arange(3)])
def test_failing_save_leaves_no_file_and_no_temporary(tmp_path: Path, obj: object) -> None:
    """A save that fails (not JSON serializable) leaves no file, manifest or temporary."""
    uri = str(tmp_path / "out.json")
    with pytest.raises(ArtifactError) as caught:
        save_artifact({"value": obj}, uri, {})
    assert uri in str(caught.value) and ".skops" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_previous_artifact(tmp_path: Path) -> None:
    """Saving over an artifact and failing keeps the old file and manifest loadable."""
    uri = str(tmp_path / "out.json")
    save_artifact({"v": 1}, uri, {})
    with pytest.raises(ArtifactError):
        save_artifact({"v": object()}, uri, {})
    assert load_artifact(uri).obj == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.json.manifest.json"]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("model.onnx", "use one of .skops, .joblib, .pkl, .pickle, .json"),
        ("model", "use one of"),
        ("s3://bucket/model.skops", "artifacts are files"),
        ("postgresql://host/db?table=t", "artifacts are files"),
    ],
)
def test_unknown_suffix_or_non_file_uri_is_refused(uri: str, expected: str) -> None:
    """Only files with a known suffix are artifacts; the error names the URI and the choices."""
    with pytest.raises(ArtifactError) as caught:
        artifact_format(uri)
    assert uri in str(caught.value) and expected in str(caught.value)
    with pytest.raises(ArtifactError):
        load_artifact(uri)
    with pytest.raises(ArtifactError):
        save_artifact({}, uri, {})


def test_formats_by_suffix() -> None:
    """Each accepted suffix names its format, case-insensitively, for paths and file:// URIs."""
    assert ARTIFACT_FORMATS[".pkl"] == ARTIFACT_FORMATS[".pickle"] == "pickle"
    assert artifact_format("file:///tmp/m.SKOPS") == "skops"
    assert artifact_format("out/m.joblib") == "joblib"


def test_manifest_path_is_beside_the_file(tmp_path: Path) -> None:
    """The manifest of a path or file:// URI is <resolved file>.manifest.json."""
    expected = tmp_path / "m.skops.manifest.json"
    assert manifest_path(str(tmp_path / "m.skops")) == expected.resolve()
    assert manifest_path(f"file://{tmp_path}/m.skops") == expected.resolve()


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """Loading a file that does not exist names it and says what to do."""
    uri = str(tmp_path / "absent.skops")
    with pytest.raises(ArtifactError, match="does not exist; check the path") as caught:
        load_artifact(uri)
    assert uri in str(caught.value)
    assert isinstance(caught.value, IOSchemeError)


def test_version_mismatch_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A manifest recording other library versions logs artifact_version_mismatch, and loads."""
    uri = str(tmp_path / "info.json")
    save_artifact({"a": 1}, uri, {})
    path = manifest_path(uri)
    manifest = json.loads(path.read_text())
    now = manifest["versions"]
    manifest["versions"] = {
        **now,
        "scikit-learn": "0.24.2",
        "numpy": "1.0.0",
        "python": "2.7.18",
        "pandas": "0.1",  # not compared
        "skops": now["skops"],
    }
    path.write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="sdk"):
        assert load_artifact(uri).obj == {"a": 1}
    (record,) = events(caplog, "artifact_version_mismatch")
    assert record.__dict__["uri"] == uri
    assert record.__dict__["differences"] == {
        "scikit-learn": {"trained": "0.24.2", "now": now["scikit-learn"]},
        "numpy": {"trained": "1.0.0", "now": now["numpy"]},
        "python": {"trained": "2.7", "now": ".".join(now["python"].split(".")[:2])},
    }


def test_same_python_minor_is_no_mismatch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Only python's major.minor is compared: another patch release logs nothing."""
    uri = str(tmp_path / "info.json")
    versions = library_versions()
    save_artifact({"a": 1}, uri, {"versions": {**versions, "python": versions["python"] + "9"}})
    with caplog.at_level(logging.WARNING, logger="sdk"):
        load_artifact(uri)
    assert events(caplog, "artifact_version_mismatch") == []
    assert events(caplog, "artifact_unverified") == []


def test_file_without_manifest_loads_with_an_unverified_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file with no manifest beside it loads, with an artifact_unverified warning."""
    uri = str(tmp_path / "info.json")
    save_artifact({"a": 1}, uri, {})
    manifest_path(uri).unlink()
    with caplog.at_level(logging.WARNING, logger="sdk"):
        loaded = load_artifact(uri)
    assert loaded.obj == {"a": 1} and loaded.manifest is None
    (record,) = events(caplog, "artifact_unverified")
    assert record.__dict__["uri"] == uri
    assert "no manifest" in record.__dict__["reason"]


def test_unreadable_manifest_is_refused(tmp_path: Path) -> None:
    """A manifest that is not JSON (or has no hash) cannot verify the file: it is refused."""
    uri = str(tmp_path / "info.json")
    save_artifact({"a": 1}, uri, {})
    manifest_path(uri).write_text("{not json")
    with pytest.raises(ArtifactError, match="cannot be verified"):
        load_artifact(uri)
