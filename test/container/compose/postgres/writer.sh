#!/bin/bash
# One of the platform's services that write to the database (web, worker): it holds a connection and inserts a row
# every 200 ms, numbered from 1 in each session, and reconnects a second after its connection or database goes away.
# Within a session the committed rows are always 1..n: a gap is a committed row the database lost.
set -u
trap 'exit 0' TERM INT
while true; do
  session="$WRITER_SERVICE-$(date +%s%N)"
  {
    n=0
    while true; do
      n=$((n + 1))
      echo "INSERT INTO writes (service, session, n) VALUES ('$WRITER_SERVICE', '$session', $n);"
      sleep 0.2
    done
  } | psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 "$WRITER_URL" >/dev/null 2>&1 &
  # wait, not the pipeline in the foreground: SIGTERM (docker stop) is handled at once.
  wait $!
  sleep 1
done
