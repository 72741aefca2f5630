-- Databases of the platform on the compose file's PostgreSQL (run once, on an empty data volume).
CREATE DATABASE mlflow;
CREATE DATABASE ml_platform;  -- dead-letter queue and promotion history
CREATE DATABASE feast;        -- the feature store's SQL registry
