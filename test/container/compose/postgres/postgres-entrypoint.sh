#!/bin/sh
# Initialises the cluster on first start as the official postgres image does, then runs the server in the foreground
# (its own SIGTERM handling: a smart shutdown when Compose stops it), on 127.0.0.1:$PGPORT only.
set -eu
PGDATA=/var/lib/postgresql/data
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  umask 077
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f /tmp/pwfile
  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses='' -c port=$PGPORT" --wait --silent start
  psql --port="$PGPORT" --username="$POSTGRES_USER" --dbname=postgres --quiet --no-psqlrc -v ON_ERROR_STOP=1 \
    --command="CREATE DATABASE \"$POSTGRES_DB\""
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -c port="$PGPORT"
