-- Databases of the platform on the compose file's PostgreSQL, one login role each, owner of its own database and
-- nothing else (run once by the postgres image, as its superuser, on an empty data volume; the passwords come from
-- the environment that `ml-platform compose-env` fills). A volume made before these roles existed: run this file
-- by hand (`docker compose exec postgres psql -U postgres -f /docker-entrypoint-initdb.d/create-databases.sql`,
-- after dropping what it would create twice) and re-own the old databases (ALTER DATABASE … OWNER TO …).
\set ON_ERROR_STOP on
\getenv airflow_password POSTGRES_AIRFLOW_PASSWORD
\getenv mlflow_password POSTGRES_MLFLOW_PASSWORD
\getenv ml_platform_password POSTGRES_ML_PLATFORM_PASSWORD
\getenv feast_password POSTGRES_FEAST_PASSWORD

CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE ROLE ml_platform LOGIN PASSWORD :'ml_platform_password';
CREATE ROLE feast LOGIN PASSWORD :'feast_password';

CREATE DATABASE airflow OWNER airflow;          -- Airflow's metadata and the Celery result backend
CREATE DATABASE mlflow OWNER mlflow;            -- MLflow's tracking and registry store
CREATE DATABASE mlflow_auth OWNER mlflow;       -- MLflow's users and permissions (its basic-auth app)
CREATE DATABASE ml_platform OWNER ml_platform;  -- dead-letter queue, promotion history, lineage, health
CREATE DATABASE feast OWNER feast;              -- the feature store's SQL registry

-- PUBLIC may connect to every new database by default: only the owner may now
REVOKE ALL ON DATABASE airflow, mlflow, mlflow_auth, ml_platform, feast FROM PUBLIC;
