"""The ``dask`` runner: the shared plan's units as Dask tasks, data kept on the workers.

It decides only how each stage's data is cut and where units run; the base (``sdk.Runner``)
validates, counts, quarantines, budgets, logs step events and publishes, as for every runner.

- ``rows`` stage: one unit per part of its input.
- ``inputs`` stage: each part of each input validated (one unit each), then every validated
  part cut by a hash of the step's key and the pieces of each bucket joined on a worker, so
  every key lives in exactly one bucket.
- ``partition`` stage: one unit per bucket.
- ``global`` stage: its inputs' estimated size logged (``materialized``) and refused over
  ``memory_limit``, then one unit on one worker, its inputs' parts joined there.

The client receives each unit's result without its frames, commits the units in order (so a
run is deterministic), and keeps each output as futures (:class:`DaskDataset`). Each unit's
outputs are checkpointed by its worker and its result by the client once committed
(:mod:`sdk_dask.checkpoint`), so ``--resume RUN_ID`` reruns only what was not committed.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sdk
from sdk_dask import tasks
from sdk_dask.checkpoint import Checkpoints, workers_see
from sdk_dask.data import DaskDataset
from sdk_dask.failures import check_code, cluster_errors, gather
from sdk_dask.reading import scatter_input

__all__ = ["DaskRunner"]

logger = sdk.get_logger("sdk.run")

PARTITION_ROWS = 100_000
"""Rows per part when the runner cuts a pipeline input (option ``partition_rows``)."""


class Work:
    """The dask runner's state of one run (``session.work``)."""

    def __init__(self, cluster: Any, labels: tasks.Labels, checkpoints: Checkpoints) -> None:
        self.cluster = cluster
        self.client = cluster.client
        self.labels = labels
        self.checkpoints = checkpoints
        self.artifacts: dict[str, tuple[int, Any]] = {}

    def artifact_futures(self, session: sdk.RunSession, stage: sdk.Stage) -> dict[str, Any]:
        """The artifacts ``stage`` takes, each scattered to every worker once per run."""
        futures: dict[str, Any] = {}
        for name, obj in session.artifacts.given(stage).items():
            kept = self.artifacts.get(name)
            if kept is None or kept[0] != id(obj):
                future = self.client.scatter(obj, broadcast=True, hash=False)
                kept = self.artifacts[name] = (id(obj), future)
                logger.debug("artifact_scattered", extra={"artifact": name})
            futures[name] = kept[1]
        return futures


class DaskRunner(sdk.Runner):
    """Runs the plan on a Dask distributed cluster, honouring each step's scope.

    Options (besides ``run_dir``, ``on_step_error``, ``progress``):
        address: a running scheduler (``tcp://host:8786``); default: a local cluster of
            ``n_workers`` processes, started for the run and closed at its end.
        n_workers: worker processes of that local cluster (one thread each).
        partition_rows: rows per part when a pipeline input is cut (default 100,000).
        memory_limit: the largest estimated input a global step may load (bytes or ``"2GB"``;
            default a quarter of this machine's memory), as in the batch runner; Dask's own
            worker memory limit is the cluster's business.
    """

    name = "dask"
    can_resume = True
    options = (
        *sdk.BASE_OPTIONS,
        sdk.RunnerOption(
            "address", str | None, None, "scheduler address; default: a local cluster"
        ),
        sdk.RunnerOption("n_workers", int, 2, "worker processes of the local cluster"),
        sdk.RunnerOption(
            "partition_rows", int | None, None, "rows per part of an input (default 100,000)"
        ),
        sdk.RunnerOption(
            "memory_limit",
            int | str | None,
            None,
            "largest estimated size a global step may load, e.g. 2GB (default: RAM / 4)",
        ),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for option in ("n_workers", "partition_rows"):
            value = self.config[option]
            if value is not None and value < 1:
                raise sdk.ResourceLimitError(f"{option}={value!r} must be a positive number")
        self.memory_limit = sdk.memory_limit_bytes(self.config["memory_limit"])

    def settings(self, request: sdk.RunRequest) -> dict[str, Any]:
        """The rows per part decide the units: recorded in ``run.json``."""
        return {"partition_rows": self.config["partition_rows"] or PARTITION_ROWS}

    # -- the run's cluster: open for execute and close (which publishes from the workers) -
    def execute(self, session: sdk.RunSession) -> None:
        """Connect (or start a local cluster), then run the plan."""
        from sdk_dask.cluster import open_cluster

        cluster = open_cluster(self.config, session.info.run_id)
        labels = tasks.Labels(session.info.run_id, session.info.pipeline)
        session.work = Work(cluster, labels, Checkpoints(None))
        with cluster_errors():
            check_code(cluster.client, session.stages)
            session.work.checkpoints = _checkpoints(cluster.client, session)
            super().execute(session)
        cluster.flush_logs()

    def close(self, session: sdk.RunSession, started: float) -> sdk.RunResult:
        """Publish (outputs come from the workers), then close the cluster."""
        try:
            with cluster_errors():  # outputs are brought from the workers here
                return super().close(session, started)
        finally:
            self._shutdown(session)

    def abandon(self, session: sdk.RunSession, exc: BaseException, started: float) -> None:
        """Record the failed run, then close the cluster."""
        try:
            super().abandon(session, exc, started)
        finally:
            self._shutdown(session)

    @staticmethod
    def _shutdown(session: sdk.RunSession) -> None:
        work = session.work
        if isinstance(work, Work):
            session.work = None
            work.cluster.close()

    # -- stages ----------------------------------------------------------------------------
    def run_stage(self, session: sdk.RunSession, stage: sdk.Stage) -> None:
        """Cut the stage by its kind (module docstring), run its units, commit them in order."""
        work: Work = session.work
        inputs = {name: self._dataset(session, work, name) for name in stage.inputs}
        if stage.kind == "rows" and len(inputs) == 1:
            ((name, data),) = inputs.items()
            units = [
                (f"s{stage.number:02d}-rows-{i:06d}", _frames({name: data}, i)) for i in _kept(data)
            ]
            self._run(session, work, stage, units)
        elif stage.kind == "inputs":
            self._inputs(session, work, stage, inputs)
        elif stage.kind == "partition":
            buckets = len(next(iter(inputs.values())).sizes)
            sizes = [sum(d.sizes[b] for d in inputs.values()) for b in range(buckets)]
            kept = [b for b, n in enumerate(sizes) if n] or [0]
            units = [(f"s{stage.number:02d}-part-{b:06d}", _frames(inputs, b)) for b in kept]
            self._run(session, work, stage, units)
        else:  # global (or a rows stage joining several inputs: whole, to pair rows as local)
            self._global(session, work, stage, inputs)
        _release(session, stage)

    def _dataset(self, session: sdk.RunSession, work: Work, name: str) -> DaskDataset:
        kept = session.datasets.get(name)
        if isinstance(kept, DaskDataset):
            return kept
        rows = session.settings["partition_rows"]
        dataset = scatter_input(work.client, session, name, rows, work.checkpoints)
        session.datasets[name] = dataset
        return dataset

    def _run(
        self,
        session: sdk.RunSession,
        work: Work,
        stage: sdk.Stage,
        units: Sequence[tuple[str, Callable[[], Mapping[str, Any]]]],
        keep: Callable[[str], bool] = lambda name: True,
    ) -> dict[str, DaskDataset]:
        """Submit ``units`` (each with what makes its frames), commit their results in order,
        keep their outputs (those ``keep`` accepts) in ``session.datasets``; return every
        output, by name. A unit a resumed run finds committed is replayed from its
        checkpoint, its outputs loaded from it only if a later unit needs them.

        With checkpoints, a unit's outputs are on disk once it has run: the workers forget
        them at once and each later reader loads its part from the run directory, so a worker
        holds the units it runs, not a whole stage's output (without: they stay on the
        workers as futures until no later stage reads them)."""
        client, checkpoints = work.client, work.checkpoints
        done = {unit: checkpoints.done(unit) for unit, _ in units}
        todo = [(unit, frames) for unit, frames in units if done[unit] is None]
        artifacts = work.artifact_futures(session, stage) if todo else {}
        results = {
            unit: client.submit(
                tasks.run_part,
                stage,
                frames(),
                session.context,
                artifacts,
                unit,
                work.labels,
                checkpoints.unit_folder(unit),
                key=f"sdk-{unit}-{session.info.run_id}",
            )
            for unit, frames in todo
        }
        names = [] if stage.produces_artifact else list(stage.outputs)
        on_disk = checkpoints.enabled  # outputs read back from the checkpoints, not kept
        outputs: dict[str, list[Any]] = {name: [] for name in names}
        counting: dict[str, list[Any]] = {name: [] for name in names}
        for unit, _ in units:
            for name in names:
                if (kept := done[unit]) is not None:
                    outputs[name].append(functools.partial(_load, client, kept[1][name][0]))
                elif on_disk:
                    path = f"{checkpoints.unit_folder(unit)}/{name}.pkl"
                    outputs[name].append(functools.partial(_load, client, path))
                else:  # counted where the part is (a list would gather them)
                    part = client.submit(tasks.output_of, results[unit], name, pure=False)
                    outputs[name].append(part)
                    counting[name].append(client.submit(tasks.rows_of, part, pure=False))
        summaries = [
            client.submit(tasks.summary_of, r, names if on_disk else [], pure=False)
            for r in results.values()
        ]
        del results  # the frames stay on the workers only as the outputs' parts, if at all
        gathered = dict(zip((unit for unit, _ in todo), gather(client, summaries), strict=True))
        counted = {name: iter(gather(client, futures)) for name, futures in counting.items()}
        sizes: dict[str, list[int]] = {name: [] for name in names}
        files: dict[str, dict[str, tuple[str, int]]] = {unit: {} for unit, _ in todo}
        for unit, _ in units:
            kept = done[unit]
            for i, name in enumerate(names):
                if kept is not None:
                    size = kept[1][name][1]
                elif on_disk:
                    size = gathered[unit][1][i]
                else:
                    size = next(counted[name])
                sizes[name].append(size)
                if kept is None:
                    files[unit][name] = (f"{checkpoints.unit_folder(unit)}/{name}.pkl", size)
        work.cluster.flush_logs()  # the units' records before the stage's step events
        for unit, _ in units:
            if (kept := done[unit]) is not None:
                self.replay(session, stage, kept[0])
                continue
            result = gathered[unit][0]
            self.commit(session, stage, unit, result)
            checkpoints.complete(unit, result, files[unit])
        produced = {
            name: DaskDataset(client, outputs[name], sizes[name], keep=not on_disk)
            for name in names
        }
        session.datasets.update((n, d) for n, d in produced.items() if keep(n))
        return produced

    def _inputs(
        self,
        session: sdk.RunSession,
        work: Work,
        stage: sdk.Stage,
        inputs: dict[str, DaskDataset],
    ) -> None:
        """Validate every part of every input, then shuffle the validated parts by key.

        The shuffle's buckets are decided once per run (saved for a resumed run, which
        shuffles again only if a unit of the partition stage still has to run)."""
        step, client = stage.steps[0], work.client
        pairs = [(dataset, i) for dataset, data in inputs.items() for i in _kept(data)]
        units = [
            (f"s{stage.number:02d}-spill-{dataset}-{i:06d}", _frames({dataset: inputs[dataset]}, i))
            for dataset, i in pairs
        ]
        owners = [dataset for dataset, _ in pairs]
        validated = self._run(session, work, stage, units, keep=lambda name: False)
        rows = sum(d.rows for d in validated.values())
        plan = f"shuffle-s{stage.number:02d}"
        saved = work.checkpoints.decided(plan)
        if saved is not None:
            buckets = int(saved["buckets"])
        else:
            buckets = max(_workers(client), math.ceil(rows / session.settings["partition_rows"]))
        decided: dict[str, list[int]] = {}
        for dataset in inputs:
            name = sdk.validated_name(step.name, dataset)
            data = validated[name]
            own = [i for i, owner in enumerate(owners) if owner == dataset]
            folder = work.checkpoints.shuffle_folder(plan, name)
            shuffle = functools.cache(
                lambda data=data, own=own, folder=folder: _shuffle(
                    client, [data.part(i) for i in own], list(stage.key or ()), buckets, folder
                )
            )
            if saved is not None and name in saved["sizes"]:
                sizes = [int(n) for n in saved["sizes"][name]]
                parts: list[Any] = [functools.partial(_bucket, shuffle, b) for b in range(buckets)]
                shuffled = DaskDataset(client, parts, sizes)
            else:
                shuffled = shuffle()
            session.datasets[name] = shuffled
            decided[name] = shuffled.sizes
        if saved is None:
            work.checkpoints.decide(plan, {"buckets": buckets, "sizes": decided})

    def _global(
        self,
        session: sdk.RunSession,
        work: Work,
        stage: sdk.Stage,
        inputs: dict[str, DaskDataset],
    ) -> None:
        """Check the memory limit, then run the stage whole on one worker."""
        client = work.client
        step = stage.steps[0]
        unit = f"s{stage.number:02d}-global"
        whole = _frames(inputs, None)
        if work.checkpoints.done(unit) is not None:  # committed before a resume: replayed
            self._run(session, work, stage, [(unit, whole)])
            return
        estimates = [
            client.submit(tasks.estimate_bytes, p, pure=False)
            for d in inputs.values()
            for p in d.parts
        ]
        estimate = sum(gather(client, estimates))
        logger.info(
            "materialized",
            extra={
                "step": step.name,
                "estimated_bytes": estimate,
                "memory_limit": self.memory_limit,
            },
        )
        if estimate > self.memory_limit:
            raise sdk.ResourceLimitError(
                f"step {step.name!r} (scope {step.scope_label}) needs its whole input on one "
                f"worker, estimated {estimate / 2**20:.0f} MB, over the memory limit of "
                f"{self.memory_limit / 2**20:.0f} MB; declare scope = 'rows' or partition_by "
                f"if the step allows it, or raise the runner option memory_limit"
            )
        self._run(session, work, stage, [(unit, whole)])


def _release(session: sdk.RunSession, stage: sdk.Stage) -> None:
    """Release the datasets no stage after ``stage`` reads and the run does not return or
    publish: the workers hold only what is still needed (not every stage's data)."""
    request = session.request
    kept = set(request.outputs) or set(request.pipeline.outputs)
    kept.update(d for s in session.stages if s.number > stage.number for d in s.inputs)
    for name, data in session.datasets.items():
        if isinstance(data, DaskDataset) and name not in kept:
            data.release()


def _kept(data: DaskDataset) -> list[int]:
    """The parts worth a unit: the non-empty ones, or the first when all are empty."""
    return [i for i, n in enumerate(data.sizes) if n] or [0]


def _frames(datasets: Mapping[str, DaskDataset], index: int | None) -> Callable[[], dict[str, Any]]:
    """What makes a unit's frames: part ``index`` of each dataset (``None``: every part,
    joined on the worker), made only when the unit runs."""
    if index is None:
        return lambda: {name: data.parts for name, data in datasets.items()}
    return lambda: {name: data.part(index) for name, data in datasets.items()}


def _load(client: Any, path: str) -> Any:
    """A committed unit's checkpointed output part, loaded on a worker."""
    return client.submit(tasks.load_part, path, pure=False)


def _bucket(shuffle: Callable[[], DaskDataset], bucket: int) -> Any:
    """One bucket of a shuffle, run only when a unit needs one."""
    return shuffle().part(bucket)


def _checkpoints(client: Any, session: sdk.RunSession) -> Checkpoints:
    """The run's checkpoints in its run directory, if every worker sees it (else off,
    with a warning: a resumed run would redo everything)."""
    if session.directory is None:
        return Checkpoints(None)
    folder = session.path / "dask"
    blind = workers_see(client, folder)
    if blind:
        logger.warning(
            "checkpoints_off",
            extra={
                "reason": f"{len(blind)} worker(s) do not see the run directory {folder}",
                "workers": blind,
                "fix": "put run_dir on a filesystem every worker mounts at the same path",
            },
        )
        return Checkpoints(None)
    return Checkpoints(folder)


def _shuffle(
    client: Any, parts: list[Any], key: list[str], buckets: int, folder: str | None
) -> DaskDataset:
    """``parts`` regrouped into ``buckets`` by a hash of ``key``, on the workers, so that
    every key lives in exactly one bucket.

    With checkpoints (``folder``), parts are split in groups of a few, each group's pieces
    written to ``folder``, and a bucket is its pieces loaded by the unit that reads it: a
    worker holds one group at a time, never the whole shuffle. Without, the parts each worker
    holds are split together there (so the tasks grow with workers times buckets, not parts
    times buckets), and each bucket's pieces are joined and kept on the workers.
    """
    if folder is not None:
        return _shuffle_to_files(client, parts, key, buckets, folder)
    where = client.who_has(parts)
    held: dict[str, list[Any]] = {}
    for part in parts:
        holders = where.get(part.key) or ("",)
        held.setdefault(holders[0], []).append(part)
    splits = [
        client.submit(
            tasks.split_by_key,
            group,
            key,
            buckets,
            workers=[worker] if worker else None,
            allow_other_workers=True,
            pure=False,
        )
        for worker, group in held.items()
    ]
    pieces = [
        client.submit(
            tasks.concat,
            [client.submit(tasks.item, split, b, pure=False) for split in splits],
            pure=False,
        )
        for b in range(buckets)
    ]
    sizes = gather(client, [client.submit(tasks.rows_of, piece, pure=False) for piece in pieces])
    return DaskDataset(client, pieces, sizes)


GROUP_PARTS = 8
"""Parts split together by one task of a shuffle through files (memory: one group at a time)."""


def _shuffle_to_files(
    client: Any, parts: list[Any], key: list[str], buckets: int, folder: str
) -> DaskDataset:
    groups = max(_workers(client), math.ceil(len(parts) / GROUP_PARTS))
    bounds = [round(g * len(parts) / groups) for g in range(groups + 1)]
    chunks = [parts[lo:hi] for lo, hi in itertools.pairwise(bounds) if hi > lo]
    splits = [
        client.submit(tasks.split_to_files, chunk, key, buckets, folder, g, pure=False)
        for g, chunk in enumerate(chunks)
    ]
    written = gather(client, splits)
    sizes = [sum(pieces[b][1] for pieces in written) for b in range(buckets)]
    first = written[0][0][0]  # group 0's bucket 0: always written, for the columns
    makers: list[Any] = [
        functools.partial(
            _load_bucket,
            client,
            [p for pieces in written if (p := pieces[b][0]) is not None],
            first,
        )
        for b in range(buckets)
    ]
    return DaskDataset(client, makers, sizes, keep=False)


def _load_bucket(client: Any, paths: list[str], columns_from: str | None) -> Any:
    """A bucket of a shuffle through files, loaded on a worker by the unit that reads it."""
    return client.submit(tasks.load_bucket, paths, columns_from, pure=False)


def _workers(client: Any) -> int:
    from sdk_dask.cluster import worker_addresses

    return max(len(worker_addresses(client)), 1)
