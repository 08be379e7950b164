#!/bin/sh
# Runs after 10-pyxis-databases.sh when the postgres container initialises an empty data volume.
# It creates the roles the pyxis services connect as (README, Security):
#   pyxis_app  NOLOGIN  what the application may do; `pyxis migrate` grants its table rights
#   pyxis_svc  LOGIN    the api's and worker's login (PYXIS_SVC_DB_PASSWORD), a member of pyxis_app
# Migration 0003 creates pyxis_app only when it is missing, and the schema owner `pyxis` could
# not create it anyway (it has no CREATEROLE): creating it here first is what lets the
# migration run as the owner and makes pyxis_svc a member before the grants exist.
#
# Safe to run again, e.g. to add the roles to a volume initialised before this script existed,
# or to change the password:
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/20-pyxis-app-role.sh
set -eu

: "${PYXIS_SVC_DB_PASSWORD:?PYXIS_SVC_DB_PASSWORD must be set for the postgres service}"

# The password goes through a psql variable (:'name' quotes it), never through the SQL text.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
	-v svc_password="$PYXIS_SVC_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE pyxis_app NOLOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pyxis_app') \gexec
SELECT 'CREATE ROLE pyxis_svc LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pyxis_svc') \gexec
ALTER ROLE pyxis_svc LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'svc_password';
GRANT pyxis_app TO pyxis_svc;

-- 10-pyxis-databases.sh revoked CONNECT from PUBLIC: the application's group may connect.
GRANT CONNECT ON DATABASE pyxis TO pyxis_app;
SQL
