#!/bin/bash
# Create Nurture's own role and database next to Temporal's, on the first start of an
# empty data volume (the postgres image runs /docker-entrypoint-initdb.d once, as the
# superuser). Temporal's databases are created later by deploy/temporal/setup-postgres.sh.
#
# The image may source this file instead of running it, so: no `exit`, no `set -u`.
# Changing NURTURE_DB_PASSWORD later does not touch an existing volume; use
# `ALTER ROLE nurture PASSWORD '...'` for that.
set -e

psql -v ON_ERROR_STOP=1 \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v nurture_password="${NURTURE_DB_PASSWORD:?NURTURE_DB_PASSWORD must be set}" <<-'EOSQL'
	CREATE ROLE nurture LOGIN PASSWORD :'nurture_password';
	CREATE DATABASE nurture OWNER nurture;
EOSQL
