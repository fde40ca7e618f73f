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
run is deterministic), and keeps each output as futures (:class:`DaskDataset`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sdk
from sdk_dask import tasks
from sdk_dask.data import DaskDataset
from sdk_dask.failures import check_code, cluster_errors, gather
from sdk_dask.reading import scatter_input

__all__ = ["DaskRunner"]

logger = sdk.get_logger("sdk.run")

PARTITION_ROWS = 100_000
"""Rows per part when the runner cuts a pipeline input (option ``partition_rows``)."""


class Work:
    """The dask runner's state of one run (``session.work``)."""

    def __init__(self, cluster: Any, labels: tasks.Labels) -> None:
        self.cluster = cluster
        self.client = cluster.client
        self.labels = labels
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
        session.work = Work(cluster, tasks.Labels(session.info.run_id, session.info.pipeline))
        with cluster_errors():
            check_code(cluster.client, session.stages)
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
                (f"s{stage.number:02d}-rows-{i:06d}", {name: part})
                for i, part in enumerate(_kept(data))
            ]
            self._run(session, work, stage, units)
        elif stage.kind == "inputs":
            self._inputs(session, work, stage, inputs)
        elif stage.kind == "partition":
            buckets = len(next(iter(inputs.values())).parts)
            groups = [{n: d.parts[b] for n, d in inputs.items()} for b in range(buckets)]
            sizes = [sum(d.sizes[b] for d in inputs.values()) for b in range(buckets)]
            kept = [g for g, n in zip(groups, sizes, strict=True) if n] or groups[:1]
            units = [(f"s{stage.number:02d}-part-{i:06d}", g) for i, g in enumerate(kept)]
            self._run(session, work, stage, units)
        else:  # global (or a rows stage joining several inputs: whole, to pair rows as local)
            self._global(session, work, stage, inputs)

    def _dataset(self, session: sdk.RunSession, work: Work, name: str) -> DaskDataset:
        kept = session.datasets.get(name)
        if isinstance(kept, DaskDataset):
            return kept
        rows = session.settings["partition_rows"]
        dataset = session.datasets[name] = scatter_input(work.client, session, name, rows)
        return dataset

    def _run(
        self,
        session: sdk.RunSession,
        work: Work,
        stage: sdk.Stage,
        units: Sequence[tuple[str, Mapping[str, Any]]],
        keep: Callable[[str], bool] = lambda name: True,
    ) -> dict[str, DaskDataset]:
        """Submit ``units``, commit their results in order, keep their outputs (those
        ``keep`` accepts) in ``session.datasets``; return every output, by name."""
        client = work.client
        artifacts = work.artifact_futures(session, stage)
        results = [
            client.submit(
                tasks.run_part,
                stage,
                frames,
                session.context,
                artifacts,
                unit,
                work.labels,
                key=f"sdk-{unit}-{session.info.run_id}",
            )
            for unit, frames in units
        ]
        names = [] if stage.produces_artifact else stage.outputs
        outputs = {
            name: [client.submit(tasks.output_of, r, name, pure=False) for r in results]
            for name in names
        }
        sizes = {  # counted part by part where each part is (a list would gather them)
            name: [client.submit(tasks.rows_of, part, pure=False) for part in parts]
            for name, parts in outputs.items()
        }
        summaries = [client.submit(tasks.summary_of, r, pure=False) for r in results]
        del results  # the frames stay on the workers only as the outputs' parts
        gathered = gather(client, summaries)
        work.cluster.flush_logs()  # the units' records before the stage's step events
        for (unit, _), result in zip(units, gathered, strict=True):
            self.commit(session, stage, unit, result)
        counts = [gather(client, futures) for futures in sizes.values()]
        produced = {
            name: DaskDataset(client, outputs[name], n)
            for name, n in zip(sizes, counts, strict=True)
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
        """Validate every part of every input, then shuffle the validated parts by key."""
        step, client = stage.steps[0], work.client
        units = [
            (f"s{stage.number:02d}-spill-{dataset}-{i:06d}", {dataset: part})
            for dataset, data in inputs.items()
            for i, part in enumerate(_kept(data))
        ]
        validated = self._run(session, work, stage, units, keep=lambda name: False)
        rows = sum(d.rows for d in validated.values())
        buckets = max(_workers(client), math.ceil(rows / session.settings["partition_rows"]))
        for dataset in inputs:
            name = sdk.validated_name(step.name, dataset)
            own = [
                part
                for (_, frames), part in zip(units, validated[name].parts, strict=True)
                if dataset in frames
            ]
            session.datasets[name] = _shuffle(client, own, list(stage.key or ()), buckets)

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
        frames = {name: list(data.parts) for name, data in inputs.items()}
        self._run(session, work, stage, [(f"s{stage.number:02d}-global", frames)])


def _kept(data: DaskDataset) -> list[Any]:
    """The parts worth a unit: the non-empty ones, or the first when all are empty."""
    return [p for p, n in zip(data.parts, data.sizes, strict=True) if n] or data.parts[:1]


def _shuffle(client: Any, parts: list[Any], key: list[str], buckets: int) -> DaskDataset:
    """``parts`` regrouped into ``buckets`` by a hash of ``key``, on the workers.

    The parts each worker holds are split together there (so the tasks grow with workers
    times buckets, not parts times buckets), then each bucket's pieces are joined.
    """
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


def _workers(client: Any) -> int:
    from sdk_dask.cluster import worker_addresses

    return max(len(worker_addresses(client)), 1)
