#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers and prints its admin URL as the last line of stdout.
# Everything else goes to stderr.
#
#   scripts/ensure-postgres.sh              find or start a server, print its URL
#   scripts/ensure-postgres.sh --stop FILE  stop the throwaway server recorded in FILE
#
# Order of preference:
#   1. $OPENBSP_TEST_POSTGRES_URL, if set and it answers;
#   2. postgres://postgres@127.0.0.1:5432/postgres, if it answers (trust auth);
#      skipped when OPENBSP_PG_PROBE_DEFAULT=0;
#   3. a throwaway cluster in a temporary directory, on a free port, with fsync off
#      (installing Debian's `postgresql` package first if initdb/pg_ctl are missing).
#
# When a throwaway server is started, its data directory, pid and port are written to
# $OPENBSP_PG_STATE_FILE (default: <temp dir>/state, named on stderr); pass that file to
# `--stop` to stop it and remove its directory. scripts/test.sh does this at exit.
#
# Exits 1 with a message if no server can be made to answer; never prints a URL that does
# not answer.
set -euo pipefail

DEFAULT_URL="postgres://postgres@127.0.0.1:5432/postgres"

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# The directory holding initdb/pg_ctl/postgres: the highest installed version under
# /usr/lib/postgresql, else wherever pg_ctl is on PATH. Empty if none.
pg_bindir() {
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] || continue
		best=$(printf '%s\n%s\n' "$best" "$d" | sed '/^$/d' | sort -V | tail -n1)
	done
	if [ -z "$best" ] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		best=$(dirname "$(command -v pg_ctl)")
	fi
	printf '%s' "$best"
}

# Path of a client tool (psql, pg_isready): PATH first, then the server's bin directory.
pg_tool() {
	local name=$1 bindir
	if command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
		return 0
	fi
	bindir=$(pg_bindir)
	if [ -n "$bindir" ] && [ -x "$bindir/$name" ]; then
		printf '%s\n' "$bindir/$name"
		return 0
	fi
	return 1
}

# Does the server at URL accept a connection and run a query? psql `select 1` checks
# authentication too; pg_isready (only whether connections are accepted) is the fallback.
answers() {
	local url=$1 psql isready out
	if psql=$(pg_tool psql); then
		out=$(PGCONNECT_TIMEOUT=3 "$psql" "$url" -X -A -t -q -c 'select 1' 2>/dev/null) || return 1
		[ "$(printf '%s' "$out" | tr -d '[:space:]')" = "1" ]
		return
	fi
	if isready=$(pg_tool pg_isready); then
		"$isready" -q -t 3 -d "$url" >/dev/null 2>&1
		return
	fi
	log "neither psql nor pg_isready is installed; cannot probe $(redact "$url")"
	return 1
}

# The URL with any password replaced by ***.
redact() {
	printf '%s' "$1" | sed -E 's#^([a-z]+://[^:/@]+):[^@]*@#\1:***@#'
}

# Runs a command as the user that owns the throwaway cluster.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

install_postgres() {
	command -v apt-get >/dev/null 2>&1 ||
		die "initdb/pg_ctl not found and apt-get is unavailable: install PostgreSQL (server binaries) or set OPENBSP_TEST_POSTGRES_URL"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 ||
			die "initdb/pg_ctl not found; installing the postgresql package needs root or sudo. Install it, or set OPENBSP_TEST_POSTGRES_URL"
		sudo=(sudo)
	fi
	log "initdb/pg_ctl not found: installing Debian's postgresql package"
	"${sudo[@]}" apt-get update >&2 || die "apt-get update failed"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 ||
		die "apt-get install postgresql failed"
}

# Is something listening on 127.0.0.1:PORT?
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_throwaway() {
	local bindir tmp data log port attempt url state pid
	bindir=$(pg_bindir)
	if [ -z "$bindir" ]; then
		install_postgres
		bindir=$(pg_bindir)
		[ -n "$bindir" ] || die "installed postgresql, but still no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
	fi
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 ||
			die "running as root, and there is no 'postgres' system user to own the cluster (PostgreSQL refuses to run as root)"
		command -v runuser >/dev/null 2>&1 || die "running as root, and runuser is not available"
	fi

	tmp=$(mktemp -d "${TMPDIR:-/tmp}/openbsp-pg.XXXXXX") ||
		die "cannot create a temporary directory under ${TMPDIR:-/tmp}"
	chmod 755 "$tmp"
	data="$tmp/data"
	log="$tmp/postgres.log"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$tmp"
	fi

	log "starting a throwaway PostgreSQL ($bindir) in $tmp"
	# cd into the temp dir: the owner may not be allowed into the caller's working directory.
	if ! (cd "$tmp" && as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$tmp/initdb.log" 2>&1); then
		cat "$tmp/initdb.log" >&2 || true
		rm -rf "$tmp"
		die "initdb failed"
	fi

	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		port_in_use "$port" && continue
		if (cd "$tmp" && as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
			-o "-p $port -c listen_addresses=127.0.0.1 -k $tmp -c fsync=off -c full_page_writes=off -c max_connections=200" \
			start >&2); then
			url="postgres://postgres@127.0.0.1:$port/postgres"
			for _ in $(seq 1 50); do
				answers "$url" && break
				sleep 0.2
			done
			if ! answers "$url"; then
				tail -n 30 "$log" >&2 || true
				(cd "$tmp" && as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w stop >&2) || true
				rm -rf "$tmp"
				die "the throwaway PostgreSQL started but does not answer on port $port"
			fi
			pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
			state=${OPENBSP_PG_STATE_FILE:-$tmp/state}
			{
				printf 'dir=%s\n' "$tmp"
				printf 'data=%s\n' "$data"
				printf 'bindir=%s\n' "$bindir"
				printf 'pid=%s\n' "$pid"
				printf 'port=%s\n' "$port"
			} >"$state"
			log "throwaway PostgreSQL answers on 127.0.0.1:$port (pid $pid); stop it with: $0 --stop $state"
			printf '%s\n' "$url"
			return 0
		fi
		log "attempt $attempt: could not start on port $port; retrying on another port"
		tail -n 5 "$log" >&2 || true
	done
	rm -rf "$tmp"
	die "could not start a throwaway PostgreSQL (see the log above)"
}

stop_throwaway() {
	local state=$1 key value dir="" data="" bindir="" pid=""
	[ -s "$state" ] || return 0
	while IFS='=' read -r key value; do
		case $key in
		dir) dir=$value ;;
		data) data=$value ;;
		bindir) bindir=$value ;;
		pid) pid=$value ;;
		esac
	done <"$state"
	[ -n "$data" ] || return 0
	if [ -d "$data" ]; then
		log "stopping the throwaway PostgreSQL in $dir"
		if ! (cd "$dir" && as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >&2); then
			if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
				kill -QUIT "$pid" 2>/dev/null || true
				sleep 1
			fi
		fi
	fi
	# Only ever remove a directory this script created.
	case $dir in
	*/openbsp-pg.*) rm -rf "$dir" ;;
	esac
	: >"$state"
}

main() {
	if [ "${1:-}" = "--stop" ]; then
		[ $# -eq 2 ] || die "usage: $0 --stop STATE_FILE"
		stop_throwaway "$2"
		return 0
	fi
	[ $# -eq 0 ] || die "usage: $0 [--stop STATE_FILE]"

	if [ -n "${OPENBSP_TEST_POSTGRES_URL:-}" ]; then
		if answers "$OPENBSP_TEST_POSTGRES_URL"; then
			log "using OPENBSP_TEST_POSTGRES_URL ($(redact "$OPENBSP_TEST_POSTGRES_URL"))"
			printf '%s\n' "$OPENBSP_TEST_POSTGRES_URL"
			return 0
		fi
		log "OPENBSP_TEST_POSTGRES_URL is set but does not answer ($(redact "$OPENBSP_TEST_POSTGRES_URL")); looking elsewhere"
	fi

	if [ "${OPENBSP_PG_PROBE_DEFAULT:-1}" != "0" ]; then
		if answers "$DEFAULT_URL"; then
			log "using the server on 127.0.0.1:5432"
			printf '%s\n' "$DEFAULT_URL"
			return 0
		fi
		log "nothing answers at $DEFAULT_URL"
	fi

	start_throwaway
}

main "$@"
