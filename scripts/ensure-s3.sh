#!/usr/bin/env bash
# Makes sure an S3-compatible server answers and prints its URL as the last line of stdout.
# Everything else goes to stderr.
#
#   scripts/ensure-s3.sh              find or start a server, print its URL
#   scripts/ensure-s3.sh --stop FILE  stop the throwaway server recorded in FILE
#
# Order of preference:
#   1. $OPENBSP_TEST_S3_URL, if set and it answers;
#   2. a throwaway moto server (PyPI's `moto[server]`, installed for the user if missing) on a
#      free port of 127.0.0.1, its pid written to $OPENBSP_S3_STATE_FILE for `--stop`.
#
# Exits 1 with a message if no server can be made to answer; never prints a URL that does
# not answer.
set -euo pipefail

log() { printf 'ensure-s3: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# Whether an HTTP server answers at $1 (any status: S3 refuses an unsigned request politely).
answers() {
	python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
PY
}

if [ "${1:-}" = "--stop" ]; then
	file=${2:-}
	[ -n "$file" ] && [ -s "$file" ] || exit 0
	pid=$(cat "$file")
	kill "$pid" 2>/dev/null || true
	exit 0
fi

if [ -n "${OPENBSP_TEST_S3_URL:-}" ] && answers "$OPENBSP_TEST_S3_URL"; then
	echo "$OPENBSP_TEST_S3_URL"
	exit 0
fi

if ! command -v moto_server >/dev/null 2>&1 && ! python3 -c 'import moto.server' 2>/dev/null; then
	log "installing moto[server] from PyPI (an S3-compatible server for the media tests)"
	python3 -m pip install --quiet --user 'moto[server]' >&2 ||
		python3 -m pip install --quiet --break-system-packages --user 'moto[server]' >&2 ||
		die "could not install moto[server]"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
log "starting moto's S3 server on $url"
python3 -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
pid=$!
[ -n "${OPENBSP_S3_STATE_FILE:-}" ] && echo "$pid" >"$OPENBSP_S3_STATE_FILE"
for _ in $(seq 1 100); do
	if answers "$url"; then
		echo "$url"
		exit 0
	fi
	kill -0 "$pid" 2>/dev/null || die "moto's server exited at start"
	sleep 0.1
done
kill "$pid" 2>/dev/null || true
die "moto's server did not answer on $url"
