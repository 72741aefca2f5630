"""Lineage: where every model version came from, where its data went, and what rebuilding it needs.

- ``provenance``: the code commit, package versions and config that produced a run (MLflow tags).
- ``record``: a training run's ``TrainingRecord`` (``lineage/lineage.json`` in MLflow), what a rebuild reads, and
  the software differences a rebuild reports.
- ``naming``: stable OpenLineage dataset names for everything the pipelines read and write (lake partitions,
  snapshots, feature views, MLflow runs and model versions, endpoints, monitoring reports).
- ``events``: what each pipeline step read and wrote, as datasets (the Airflow layer emits them).
- ``store``: the OpenLineage events the platform received, in the platform database.
- ``graph``, ``queries``, ``describe``: the graph those events draw; a version's lineage and a partition's reach;
  their text for ``ml-pipeline lineage``.
- ``retention``: which run snapshots may be deleted, and deleting them (``ml-pipeline gc``).

Rebuilding a version is a pipeline of its own: ``ml_pipeline.pipelines.reproduce``.
"""

from ml_pipeline.lineage.provenance import code_dir, code_version, lineage_tags, package_versions

__all__ = ["code_dir", "code_version", "lineage_tags", "package_versions"]
