"""Publishing produced datasets: to a destination atomically, or back into memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pandas as pd
import pandera.pandas as pa

from sdk.errors import IOSchemeError, SdkError
from sdk.io import open_writer, redact
from sdk.runners.stage import Data

if TYPE_CHECKING:
    from sdk.runners.session import RunSession, Spilled

__all__ = [
    "PublishesItself",
    "appended",
    "collect",
    "keep_quarantine",
    "ordered",
    "publish",
    "publish_all",
    "rows_of",
    "stream",
]


@runtime_checkable
class PublishesItself(Protocol):
    """A spilled dataset that can publish itself where its parts are (a distributed runner's
    workers writing their parts), instead of having its frames brought to the writer."""

    def publish_to(
        self, uri: str, schema: type[pa.DataFrameModel] | None, run_id: str
    ) -> int | None:
        """Publish to ``uri`` atomically and return the rows written, or ``None`` when it
        cannot for this destination (the run then writes its frames)."""
        ...


def stream(value: Data | Spilled) -> Iterator[pd.DataFrame]:
    """The rows of a produced dataset, frame by frame."""
    if isinstance(value, Data):
        yield value.frame
    else:
        yield from value.frames()


def rows_of(value: Data | Spilled) -> int:
    """The rows of a produced dataset."""
    return len(value.frame) if isinstance(value, Data) else value.rows


def collect(value: Data | Spilled) -> pd.DataFrame:
    """A produced dataset as one frame (a spilled one is read back)."""
    if isinstance(value, Data):
        return value.frame
    parts = list(value.frames())
    return pd.concat(parts) if parts else pd.DataFrame()


def ordered(value: Data | Spilled, columns: Sequence[str] = ()) -> Iterator[pd.DataFrame]:
    """The rows of a produced dataset, frame by frame; with ``columns`` (``outputs_sort``),
    sorted stably by them, which reads a spilled dataset whole into memory first."""
    if not columns:
        yield from stream(value)
        return
    # stable: rows with equal keys keep the order the runner produced them in
    yield collect(value).sort_values(list(columns), kind="stable")


def publish(
    name: str,
    frames: Iterable[pd.DataFrame],
    uri: str,
    schema: type[pa.DataFrameModel] | None = None,
) -> int:
    """Write ``frames`` to ``uri`` atomically (``schema``: the dataset's model, if known);
    return the rows written."""
    writer = open_writer(uri, schema)
    rows = 0
    try:
        for frame in frames:
            writer.append(frame)
            rows += len(frame)
        writer.commit()
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, SdkError) or not isinstance(exc, Exception):
            raise
        raise IOSchemeError(f"cannot write {name!r} to {redact(uri)}: {exc}") from exc
    return rows


def keep_quarantine(quarantine: pd.DataFrame, run_path: Path) -> str | None:
    """Keep a quarantine that was published nowhere in the run directory, as
    ``quarantine.parquet``; return its path (``None`` when there are no records)."""
    if not len(quarantine):
        return None
    path = str(run_path / "quarantine.parquet")
    publish("quarantine", [quarantine], path)
    return path


def publish_all(
    session: RunSession, quarantine: pd.DataFrame
) -> tuple[dict[str, str], dict[str, int]]:
    """Publish a finished run: the quarantine, each requested dataset (atomically) and each
    requested artifact (with its manifest). Returns the URIs written and the rows of every
    produced dataset."""
    request = session.request
    written: dict[str, str] = {}

    def done(name: str, uri: str) -> None:
        written[name] = uri
        if session.directory is not None:
            session.directory.published[name] = uri

    # a produced artifact's manifest names the inputs by content hash: the run's identity
    # hashes them whenever the pipeline has artifacts
    inputs = session.identity["inputs"]
    artifacts = session.artifacts
    # serialized first: an artifact that cannot be saved fails the run before anything is
    # published, not after some outputs are
    prepared = {
        name: artifacts.prepare(name, uri, run_id=session.info.run_id, inputs=inputs)
        for name, uri in request.outputs.items()
        if name in artifacts.objects
    }
    if request.quarantine:
        publish("quarantine", [quarantine], request.quarantine)
        done("quarantine", request.quarantine)
    rows_out: dict[str, int] = {}
    for name, uri in request.outputs.items():
        if name in prepared:
            artifacts.write(name, prepared[name])
            done(name, uri)
            continue
        producer = request.pipeline.producer(name)
        schema = type(producer).contract().output if producer is not None else None
        produced, sort = session.datasets[name], request.outputs_sort.get(name, ())
        rows = (  # a distributed dataset may write its parts where they are
            produced.publish_to(uri, schema, session.info.run_id)
            if not sort and isinstance(produced, PublishesItself)
            else None
        )
        if rows is None:
            rows = publish(name, ordered(produced, sort), uri, schema)
        rows_out[name] = rows
        done(name, uri)
    for name in request.pipeline.outputs:
        value = session.datasets.get(name)
        if value is not None:
            rows_out.setdefault(name, rows_of(value))
    return written, rows_out


def appended(session: RunSession) -> tuple[dict[str, str], dict[str, int]]:
    """What a runner that appends as it goes wrote: every requested destination, and the rows
    out of each produced dataset (from the merged step totals)."""
    request = session.request
    written = dict(request.outputs)
    if request.quarantine:
        written = {"quarantine": request.quarantine, **written}
    rows_out = {
        step.output_name: session.state.steps[step.name].rows_out
        for step in request.pipeline.order
        if step.name in session.state.steps
    }
    return written, rows_out
