#!/bin/sh
# One-shot (compose service temporal-schema, image temporalio/admin-tools): creates or upgrades
# the Temporal server's schemas before the server starts. Safe to run again: setup-schema keeps
# an existing version and update-schema applies only the missing steps, from the schemas
# embedded in temporal-sql-tool (so they always match the admin-tools version, which must be
# the server's version).
#
# The databases themselves are created by deploy/postgres/initdb.d/10-pyxis-databases.sh.
# Connection settings come from the environment: SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER,
# SQL_PASSWORD (temporal-sql-tool reads them).
set -eu

: "${SQL_HOST:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"
: "${TEMPORAL_DBNAME:=temporal}" "${TEMPORAL_VISIBILITY_DBNAME:=temporal_visibility}"

echo "waiting for PostgreSQL at ${SQL_HOST}:${SQL_PORT:-5432}"
tries=0
until nc -z "$SQL_HOST" "${SQL_PORT:-5432}"; do
	tries=$((tries + 1))
	if [ "$tries" -ge 60 ]; then
		echo "PostgreSQL at ${SQL_HOST}:${SQL_PORT:-5432} is unreachable" >&2
		exit 1
	fi
	sleep 1
done

# setup_schema DATABASE EMBEDDED_SCHEMA
setup_schema() {
	echo "schema of database $1: $2"
	temporal-sql-tool --db "$1" setup-schema -v 0.0
	temporal-sql-tool --db "$1" update-schema --schema-name "$2"
}

setup_schema "$TEMPORAL_DBNAME" postgresql/v12/temporal
setup_schema "$TEMPORAL_VISIBILITY_DBNAME" postgresql/v12/visibility
echo "Temporal schemas are up to date"
