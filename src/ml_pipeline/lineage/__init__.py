"""Lineage: where every model version came from, where its data went, and how to rebuild it.

- ``provenance``: the code commit, package versions and config that produced a run (MLflow tags).
- ``naming``: stable OpenLineage dataset names for everything the pipelines read and write (lake partitions,
  snapshots, feature views, MLflow runs and model versions, endpoints, monitoring reports).
- ``events``: what each pipeline step read and wrote, as datasets (the Airflow layer emits them).
- ``store``: the OpenLineage events the platform received, in the platform database.
- ``graph``: the graph those events draw, queried upstream, downstream and from a partition.
- ``reproduce``: rebuild a registered version from its lineage and prove the rebuild identical.
- ``retention``: which run snapshots may be deleted, and deleting them.
"""

from ml_pipeline.lineage.provenance import code_dir, code_version, lineage_tags, package_versions

__all__ = ["code_dir", "code_version", "lineage_tags", "package_versions"]
