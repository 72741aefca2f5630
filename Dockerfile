# The platform's image: the official Airflow 3.3.2 image with our package and its locked dependencies.
# GPU workers: build with the CUDA XGBoost (`--build-arg XGBOOST=gpu`) and set ML_PLATFORM_GPUS.
# Used by docker-compose.yaml (every Airflow component, Celery workers, MLflow, model servers) and by the Helm values
# in deploy/helm/. Build: docker build -t ml-platform:$(version of pyproject.toml) . (compose: `docker compose build`)
FROM apache/airflow:3.3.2-python3.11

ARG XGBOOST=cpu
# The folders the compose file mounts named volumes on: a new volume takes the owner of the image's folder, so the
# airflow user (uid 50000) can write the admin passwords, the dead-letter spool and the prediction spool.
USER root
RUN mkdir -p /opt/airflow/auth /var/lib/ml-platform/dlq-spool /var/lib/ml-serving/spool \
 && chown airflow:0 /opt/airflow/auth /var/lib/ml-platform/dlq-spool /var/lib/ml-serving/spool \
 && chmod 770 /opt/airflow/auth /var/lib/ml-platform/dlq-spool /var/lib/ml-serving/spool
USER airflow
WORKDIR /opt/ml-platform
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
# The exact versions of uv.lock (not Airflow's constraint file: it pins older celery/providers than our lock).
RUN pip install --no-cache-dir "uv>=0.9" \
 && uv export --frozen --no-dev --extra ${XGBOOST} --no-hashes --no-emit-project --format requirements-txt -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
COPY --chown=airflow:0 src ./src
RUN pip install --no-cache-dir --no-deps .
COPY --chown=airflow:0 airflow/dags /opt/airflow/dags
COPY --chown=airflow:0 config /opt/airflow/config

ENV ML_PIPELINE_CONFIG_DIR=/opt/airflow/config/model_configs \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true
WORKDIR /opt/airflow
