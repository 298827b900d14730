#!/usr/bin/env bash
# PostgreSQL's own regression database, the largest collection of odd objects there is, restored with --jobs 1 and
# with --jobs 4: the parallel load must split all of it (no fallback to one stream) and both restores must dump
# identically (docs/testing.md, "PostgreSQL's regression database").
#
#   npm run test:regression
#
# Needs the server's own sources, for its test library (regress.so) and schedule: Debian's source package of the
# installed version, fetched once into $REGRESSION_SRC (default /var/tmp/meatbackup-postgresql-src: the server reads
# its data files there, so it must not be under a private home). If they cannot
# be fetched, the check says so and is skipped: that is the network's failure, not the restore's. Anything else that
# goes wrong fails it. Leaves nothing running: its cluster, its emulator and their directories go at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
MAJOR=$(basename "$(dirname "$BIN")")
PACKAGE=postgresql-$MAJOR
PG_VERSION=$(dpkg-query -W -f='${Version}' "$PACKAGE")
UPSTREAM=${PG_VERSION%%-*}
SRC_ROOT=${REGRESSION_SRC:-/var/tmp/meatbackup-postgresql-src}
SRC=$SRC_ROOT/postgresql-$UPSTREAM
WORK=$(mktemp -d /tmp/meatbackup-regression-XXXXXX)
SOURCES_LIST=/etc/apt/sources.list.d/meatbackup-regression-src.sources
MOTO_PID=""

cleanup() {
  [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null || true
  if [ -f "$WORK/data/postmaster.pid" ]; then runuser -u postgres -- "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -f "$SOURCES_LIST"
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { echo "regression check: $*"; }

fetch_sources() {
  mkdir -p "$SRC_ROOT"
  # Debian's images list no source packages: a deb-src list of the same release, for this fetch only.
  local codename
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  cat >"$SOURCES_LIST" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq >/dev/null 2>&1 || return 1
  (cd "$WORK" && apt-get source -qq --download-only "$PACKAGE=$PG_VERSION" >/dev/null 2>&1) || return 1
  rm -f "$SOURCES_LIST"
  tar -xjf "$WORK/${PACKAGE}_${UPSTREAM}.orig.tar.bz2" -C "$SRC_ROOT"
}

if [ ! -f "$SRC/src/test/regress/regress.so" ]; then
  if [ ! -d "$SRC" ] && ! fetch_sources; then
    say "SKIPPED: the sources of $PACKAGE $PG_VERSION could not be fetched from Debian's deb-src (apt-get source); nothing was checked"
    exit 0
  fi
  say "building the test library of $PACKAGE $PG_VERSION in $SRC"
  (cd "$SRC" && ./configure --without-readline --without-zlib --without-icu >"$WORK/configure.log" 2>&1 &&
    make -C src/backend generated-headers >"$WORK/make.log" 2>&1 && make -C src/test/regress >>"$WORK/make.log" 2>&1) ||
    { cat "$WORK/configure.log" "$WORK/make.log" | tail -20; say "FAILED: could not build the test library"; exit 1; }
fi
# The server (user postgres) writes the COPY tests' output files into the tree.
chown -R postgres "$SRC/src/test/regress"
for d in "$SRC/src/test" "$SRC/src" "$SRC" "$SRC_ROOT"; do chmod o+x "$d"; done

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PG_PORT=$(free_port)
S3_PORT=$(free_port)
chown postgres "$WORK"
runuser -u postgres -- "$BIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
runuser -u postgres -- "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
  -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60" start >/dev/null
moto_server -H 127.0.0.1 -p "$S3_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!

export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3_PORT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 BACKUP_BUCKET=regression-check
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
for _ in $(seq 30); do curl -s -o /dev/null "$AWS_ENDPOINT_URL_S3" && break; sleep 0.5; done
curl -s -f -X PUT "$AWS_ENDPOINT_URL_S3/$BACKUP_BUCKET" >/dev/null

say "running $PACKAGE's regression tests to make the regression database"
# As the server's user: the tests have the server write files where pg_regress reads them back. A failing test only
# leaves the database with fewer objects; the restore is what is checked here.
runuser -u postgres -- make -s -C "$SRC/src/test/regress" installcheck-parallel bindir="$BIN" >"$WORK/installcheck.log" 2>&1 || true
summary=$(grep -E "tests passed|tests failed" "$WORK/installcheck.log" | sed 's/^ *=* *//; s/ *=* *$//' || true)
say "regression tests: ${summary:-no summary}"
failed=$(echo "$summary" | sed -n 's/^\([0-9]*\) of .* tests failed.*/\1/p')
# A few failing tests (a locale, a timing) leave most of the database; many mean it is not the collection it is for.
[ "${failed:-0}" -le 10 ] || { grep -m5 -A3 "^+ERROR" "$SRC/src/test/regress/regression.diffs" || true; say "FAILED: $failed regression tests failed, so the regression database lacks much of what it is for"; exit 1; }
tables=$(psql -X -At -d regression -c "select count(*) from pg_class where relkind = 'r' and relnamespace <> 'pg_catalog'::regnamespace and relnamespace <> 'information_schema'::regnamespace")
[ "$tables" -gt 100 ] || { tail -20 "$WORK/installcheck.log"; say "FAILED: the regression database has only $tables tables"; exit 1; }

CLI=(node "$REPO/bin/meatbackup.js")
PGDATABASE=regression "${CLI[@]}" backup --json 2>/dev/null | jq -r '"regression check: backed up \(.key): \(.sqlBytes) bytes of SQL"'
for jobs in 1 4; do
  "${CLI[@]}" restore latest --from-database regression --target-db "reg_$jobs" --jobs "$jobs" --yes --json 2>"$WORK/restore-$jobs.log" >"$WORK/restore-$jobs.json" ||
    { tail -5 "$WORK/restore-$jobs.log"; say "FAILED: restore --jobs $jobs failed"; exit 1; }
done
notes=$(jq -c '.notes' "$WORK/restore-4.json")
[ "$notes" = "[]" ] || { say "FAILED: --jobs 4 did not split all of it: $notes"; exit 1; }
grep -h '"parallel load: ' "$WORK/restore-4.log" | jq -r '"regression check: --jobs 4: " + (.message | .[15:200])'

for jobs in 1 4; do "$BIN/pg_dump" -d "reg_$jobs" | grep -v '^\\restrict \|^\\unrestrict ' >"$WORK/reg_$jobs.sql"; done
lines=$(wc -l <"$WORK/reg_1.sql")
if ! cmp -s "$WORK/reg_1.sql" "$WORK/reg_4.sql"; then
  diff "$WORK/reg_1.sql" "$WORK/reg_4.sql" | head -40
  say "FAILED: the database restored with --jobs 4 does not dump as the one restored with --jobs 1 does"
  exit 1
fi
say "passed: restored with --jobs 4 and with --jobs 1, the regression database dumps identically ($lines lines)"
