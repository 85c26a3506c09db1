-- Runs once when the container's database is created.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS hypopg;
-- the least privileges pgadvisor needs on a monitored server
CREATE ROLE pgadvisor LOGIN PASSWORD 'pgadvisor' IN ROLE pg_monitor;
