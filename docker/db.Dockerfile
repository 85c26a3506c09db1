# A test database for pgadvisor: PostgreSQL 15 with pg_stat_statements preloaded and hypopg installed.
FROM postgres:15
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15-hypopg \
 && rm -rf /var/lib/apt/lists/*
COPY init.sql /docker-entrypoint-initdb.d/10-pgadvisor.sql
CMD ["postgres", "-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all", \
     "-c", "track_io_timing=on", "-c", "compute_query_id=on"]
