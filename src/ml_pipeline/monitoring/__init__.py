"""Model monitoring: what the model saw (the prediction log), drift against its training data, live performance.

``prediction_log`` records every scored row to the lake in the background; ``drift`` profiles the reference once
and scores a window against it with pinned methods; ``report`` draws it. No Airflow here: the monitoring DAG
kind (``ml_pipeline_airflow.dag_kinds.monitoring``) runs the steps of ``ml_pipeline.pipelines.monitoring``.
"""
