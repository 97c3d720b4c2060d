#!/bin/sh
# Create Temporal's two databases on PostgreSQL and bring their schemas up to date.
#
# Runs in temporalio/admin-tools (Alpine: POSIX sh, no bash). Safe to re-run on every
# `docker compose up`: `create` ignores an existing database, `setup-schema -v 0.0` never
# lowers a recorded version, and `update-schema` applies only the versions still missing,
# which is also how a newer Temporal image's schema changes get applied.
#
# Connection settings come from the environment docker-compose.yml sets:
# POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, and SQL_PASSWORD (read by temporal-sql-tool
# itself, so the password never appears on a command line).
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS must name the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

echo "Waiting for PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT}..."
attempt=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "PostgreSQL did not answer after $attempt attempts" >&2
    exit 1
  fi
  sleep 2
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

# database name, then the folder of its versioned schema
for spec in "temporal:temporal" "temporal_visibility:visibility"; do
  db="${spec%%:*}"
  schema="${spec#*:}"
  echo "Setting up database '$db'..."
  sql_tool --db "$db" create
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$SCHEMA_ROOT/$schema/versioned"
done

echo "Temporal's PostgreSQL schemas are up to date."
