#!/bin/sh
# pgadvisor's CI recipe for any CI system: wait for the test database, run the migrations (and, if given,
# the application's tests), then `pgadvisor check`. Plain POSIX sh; needs psql only for --sql.
#
#   PGADVISOR_DSN="postgresql://postgres:postgres@localhost:5432/app" \
#     docker/ci-check.sh --migrate "alembic upgrade head" --tests "pytest -q" -- --format sarif -o pgadvisor.sarif
#
# Options (each also as an environment variable):
#   --migrate CMD   shell command that applies the migrations              (MIGRATE)
#   --sql FILE      apply a .sql file with psql, stopping at the first error (repeatable; SQL_FILES, space-separated)
#   --tests CMD     shell command that runs the application's tests, so pg_stat_statements sees their
#                   statements for the workload rules                         (APP_TESTS)
#   --wait SECONDS  how long to wait for the database to accept connections (WAIT_SECONDS, default 60)
#   -- ARGS...      everything after -- goes to `pgadvisor check` (e.g. --fail-on error --format junit -o report.xml)
# The database is PGADVISOR_DSN (else libpq's PG* variables); PGADVISOR names the command (default: pgadvisor).
# Exit status: pgadvisor check's (0 pass, 1 findings at or above --fail-on, 2 usage/config error, 3 could not
# run); 3 too when the database never came up or a migration or the tests failed.
set -eu

MIGRATE="${MIGRATE:-}"
APP_TESTS="${APP_TESTS:-}"
SQL_FILES="${SQL_FILES:-}"
WAIT_SECONDS="${WAIT_SECONDS:-60}"
PGADVISOR="${PGADVISOR:-pgadvisor}"

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "ci-check: $1" >&2; exit "${2:-3}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --migrate) [ $# -ge 2 ] || die "--migrate needs a command" 2; MIGRATE="$2"; shift 2 ;;
    --sql) [ $# -ge 2 ] || die "--sql needs a file" 2; SQL_FILES="$SQL_FILES $2"; shift 2 ;;
    --tests) [ $# -ge 2 ] || die "--tests needs a command" 2; APP_TESTS="$2"; shift 2 ;;
    --wait) [ $# -ge 2 ] || die "--wait needs a number of seconds" 2; WAIT_SECONDS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option $1 (pgadvisor check's options go after --)" 2 ;;
  esac
done
case "$WAIT_SECONDS" in ''|*[!0-9]*) die "--wait: '$WAIT_SECONDS' is not a number of seconds" 2 ;; esac

DSN="${PGADVISOR_DSN:-}"
ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -d "$DSN" >/dev/null 2>&1
  else
    python3 -c 'import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=2).close()' "$DSN" >/dev/null 2>&1
  fi
}
waited=0
until ready; do
  [ "$waited" -lt "$WAIT_SECONDS" ] || die "the database did not accept connections within ${WAIT_SECONDS}s"
  sleep 1
  waited=$((waited + 1))
done
echo "ci-check: database ready after ${waited}s" >&2

for f in $SQL_FILES; do
  echo "ci-check: applying $f" >&2
  psql "$DSN" -X -q -v ON_ERROR_STOP=1 -f "$f" >/dev/null || die "applying $f failed"
done
if [ -n "$MIGRATE" ]; then
  echo "ci-check: migrating: $MIGRATE" >&2
  sh -c "$MIGRATE" || die "the migrations failed: $MIGRATE"
fi
if [ -n "$APP_TESTS" ]; then
  echo "ci-check: running the application's tests: $APP_TESTS" >&2
  sh -c "$APP_TESTS" || die "the application's tests failed: $APP_TESTS"
fi

status=0
# shellcheck disable=SC2086  # PGADVISOR may be a command with arguments (python3 -m pgadvisor)
$PGADVISOR check "$@" || status=$?
exit "$status"
