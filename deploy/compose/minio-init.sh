#!/bin/sh
# The compose file's MinIO: buckets `lake` and `mlflow`, and one user per client with a policy of its own
# (policies/<user>.json): airflow (the lake), mlflow (its artifact bucket), serving (the lake's predictions/).
# Run by the create-buckets job (image minio/mc) on every `docker compose up`: each step may run again.
set -eu
export MC_HOST_lake="http://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@minio:9000"  # not on mc's command line
mc mb --ignore-existing lake/lake lake/mlflow
for user in airflow mlflow serving; do
  case "$user" in
    airflow) secret="${MINIO_AIRFLOW_PASSWORD:?run ml-platform compose-env}" ;;
    mlflow) secret="${MINIO_MLFLOW_PASSWORD:?run ml-platform compose-env}" ;;
    serving) secret="${MINIO_SERVING_PASSWORD:?run ml-platform compose-env}" ;;
  esac
  # mc takes the secret as an argument: this one-shot job's own process, for a second, never a long-running one
  mc admin user add lake "$user" "$secret"
  mc admin policy create lake "$user" "/opt/minio-init/policies/$user.json"
  # attaching a policy the user already has is an error: then check that it is there
  mc admin policy attach lake "$user" --user "$user" \
    || mc admin user info lake "$user" | grep -q "PolicyName: *$user\$"
done
