#!/bin/sh
# One database per service, each owned by a login role of the same name, so that a service
# reaches its own data and nothing else: orders, inventory, notifications, audit.
#
# UTF-8 whatever the server's default (an image initialised with the C locale defaults to
# SQL_ASCII, whose text psycopg would hand back as bytes).
#
# Runs once, when the data volume is still empty (the postgres image runs every file in
# /docker-entrypoint-initdb.d then). It may be sourced rather than executed: POSIX sh, no
# `exit`, and the work is done in a subshell so no shell option leaks out.
(
  set -eu
  create_service_database() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      --set name="$1" --set password="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name" ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  }
  create_service_database orders "${ORDER_DB_PASSWORD:?ORDER_DB_PASSWORD is not set}"
  create_service_database inventory "${INVENTORY_DB_PASSWORD:?INVENTORY_DB_PASSWORD is not set}"
  create_service_database notifications "${NOTIFICATION_DB_PASSWORD:?NOTIFICATION_DB_PASSWORD is not set}"
  create_service_database audit "${AUDIT_DB_PASSWORD:?AUDIT_DB_PASSWORD is not set}"
)
