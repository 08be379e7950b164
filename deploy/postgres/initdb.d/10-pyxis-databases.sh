#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume (the official image
# runs /docker-entrypoint-initdb.d/*.sh then). It creates one login role per application, each
# owning only its own databases:
#   temporal  owns  temporal, temporal_visibility   (schemas: deploy/temporal/setup-schema.sh)
#   pyxis     owns  pyxis                           (schema: `pyxis migrate`)
# The api and worker do not connect as the owner: 20-pyxis-app-role.sh creates their login role.
# Changing the passwords later means ALTER ROLE by hand, or a new volume: this does not run again.
set -eu

: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set for the postgres service}"
: "${PYXIS_DB_PASSWORD:?PYXIS_DB_PASSWORD must be set for the postgres service}"

# Passwords go through psql variables (:'name' quotes them), never through the SQL text.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
	-v temporal_password="$TEMPORAL_DB_PASSWORD" \
	-v pyxis_password="$PYXIS_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE ROLE pyxis LOGIN PASSWORD :'pyxis_password';

CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
CREATE DATABASE pyxis OWNER pyxis;

-- Nobody but the owner (and the superuser) may connect to an application's database.
REVOKE ALL ON DATABASE temporal, temporal_visibility, pyxis FROM PUBLIC;
SQL
