#!/bin/sh
# Runs once, when the PostgreSQL volume is initialised (docker-entrypoint-initdb.d): one role
# and one database per Partage service (DESIGN.md: one database per service).
# PARTAGE_DATABASES holds space-separated "name:password" pairs; the role owns its database.
set -eu

for pair in ${PARTAGE_DATABASES:?set PARTAGE_DATABASES to "name:password ..."}; do
    name=${pair%%:*}
    password=${pair#*:}
    echo "partage: creating role and database '$name'"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
