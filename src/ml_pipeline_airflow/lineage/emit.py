"""Emit a step's datasets as an OpenLineage RUNNING event of the running task (the provider's ``emit_dataset_lineage``).

The provider's listener sends the task's START and COMPLETE events; ours, in between, says what the step really
read and wrote (``ml_pipeline.lineage.events``), each dataset with its facets: ``version`` (the content digest),
``schema``, input/output statistics (``rowCount``) and ``mlPlatform`` (``{"kind", **properties}``), and the run with
its ``mlPlatform`` facet (model, commit, config hash, trigger, dag and run ids).

Lineage never fails or holds up a task: nothing is built when OpenLineage is off, the transports have short
timeouts, and any error is logged and counted (``FAILURES``, StatsD ``ml_platform.lineage.emit_failed``). The
provider counts transport errors itself (StatsD ``ol.emit.failed``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    dataset_version_dataset,
    input_statistics_input_dataset,
    output_statistics_output_dataset,
    schema_dataset,
)

from ml_pipeline.lineage.naming import FACET, DatasetRef

if TYPE_CHECKING:
    from ml_pipeline.lineage.events import StepLineage
    from ml_pipeline.pipelines.context import RunContext

log = logging.getLogger(__name__)
FAILED_METRIC = "ml_platform.lineage.emit_failed"
FACET_SCHEMA = "https://ml-platform.invalid/spec/facets/1-0-0/MlPlatformFacet.json"  # ours: documented in DESIGN.md
FAILURES = 0
"""Lineage emissions that failed in this process (also sent as the StatsD counter ``FAILED_METRIC``)."""


@attr.define
class MlPlatformRunFacet(RunFacet):
    """The ``mlPlatform`` run facet: what produced the run (model, code, config) and what started it."""

    model: str
    git_commit: str
    config_hash: str
    trigger: str
    dag_id: str
    run_id: str
    git_dirty: str = "unknown"  # "true": files differed from git_commit (last: the facets of older events lack it)

    @staticmethod
    def _get_schema() -> str:
        return FACET_SCHEMA


def platform_facet(ref: DatasetRef) -> dict[str, Any]:
    """The ``mlPlatform`` dataset facet, ``{"kind", **properties}`` as it is serialized.

    A plain dict, not an ``attrs`` facet: property names such as ``from`` cannot be Python attributes, and the
    OpenLineage serializer writes a dict as it is.
    """
    return {"_producer": _producer(), "_schemaURL": FACET_SCHEMA, **ref.properties, "kind": ref.kind}


def dataset_facets(ref: DatasetRef) -> dict[str, DatasetFacet]:
    """A dataset's facets: ``version``, ``schema`` (when known) and ``mlPlatform``."""
    facets: dict[str, Any] = {FACET: platform_facet(ref)}
    if ref.version:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(ref.version))
    if ref.schema:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type=kind) for name, kind in ref.schema])
    return facets


def input_dataset(ref: DatasetRef) -> InputDataset:
    """An OpenLineage input: the dataset's facets and the rows read."""
    statistics = {} if ref.rows is None else {
        "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(rowCount=ref.rows)}
    return InputDataset(namespace=ref.namespace, name=ref.name, facets=dataset_facets(ref), inputFacets=statistics)


def output_dataset(ref: DatasetRef) -> OutputDataset:
    """An OpenLineage output: the dataset's facets and the rows written."""
    statistics = {} if ref.rows is None else {
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=ref.rows)}
    return OutputDataset(namespace=ref.namespace, name=ref.name, facets=dataset_facets(ref), outputFacets=statistics)


def run_facets(facet: dict[str, str]) -> dict[str, RunFacet]:
    """The run facets we add to the provider's: ``mlPlatform``."""
    return {FACET: MlPlatformRunFacet(**facet)}


def emit_lineage(lineage: StepLineage, facet: dict[str, str]) -> bool:
    """Emit one step's datasets as a RUNNING event of the current task; False (logged, counted) when it failed."""
    from airflow.providers.openlineage.api import emit_dataset_lineage

    try:
        emit_dataset_lineage(inputs=[input_dataset(ref) for ref in lineage.inputs],
                             outputs=[output_dataset(ref) for ref in lineage.outputs],
                             additional_run_facets=run_facets(facet), raise_on_error=True)
    except Exception as exc:
        count_failure(f"{lineage.step}: {exc}")
        return False
    return True


def emit_step_lineage(step: str, ctx: RunContext, args: Sequence[Any], result: Any) -> bool:
    """What ``step`` read and wrote, emitted when OpenLineage is on; never raises. True when an event went out."""
    try:
        from airflow.providers.openlineage.api import is_openlineage_active

        if not is_openlineage_active():
            return False
        from ml_pipeline.lineage.events import run_facet, step_lineage

        lineage = step_lineage(step, ctx, args, result)
        if lineage is None:
            return False
        return emit_lineage(lineage, run_facet(ctx))
    except Exception as exc:
        count_failure(f"{step}: {exc}")
        return False


def count_failure(what: str) -> None:
    """Log a lineage emission that failed and count it (this process, and StatsD)."""
    global FAILURES
    FAILURES += 1
    log.warning("OpenLineage event not emitted (the task goes on): %s", what)
    try:
        from airflow.providers.common.compat.sdk import Stats

        Stats.incr(FAILED_METRIC)
    except Exception:
        log.debug("StatsD counter %s not sent", FAILED_METRIC, exc_info=True)


def _producer() -> str:
    from openlineage.client.generated.base import PRODUCER

    return PRODUCER
