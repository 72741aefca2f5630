"""What each component's environment holds: all of the platform's, or only the part it needs.

Airflow's components and tasks get the whole platform environment (its Fernet key, JWT secret, connections). The
others are started with the basics of a process (``BASIC``) and the few settings they read, so a model server or a
local alert sink never holds a secret it does not use.
"""

from __future__ import annotations

from ml_pipeline.process_env import BASIC, MODEL_SERVER, only

__all__ = ["BASIC", "MLFLOW_SERVER", "MODEL_SERVER", "only"]
# MLflow's server: its settings (MLFLOW_*); its component blanks the tasks' login (MLFLOW_TRACKING_USERNAME/PASSWORD)
MLFLOW_SERVER = (*BASIC, "MLFLOW_")
