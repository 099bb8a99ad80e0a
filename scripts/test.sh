#!/usr/bin/env bash
# THE test command: runs the whole workspace's test suite, on both storage backends.
#
#   scripts/test.sh [ARGS...]   ARGS go to the test runner (cargo nextest run, else cargo test)
#
# PostgreSQL comes from scripts/ensure-postgres.sh: $OPENBSP_TEST_POSTGRES_URL if it answers,
# else a local server on 127.0.0.1:5432, else a throwaway server that is stopped at exit.
# The S3-compatible server of the media tests comes from scripts/ensure-s3.sh:
# $OPENBSP_TEST_S3_URL if it answers, else a throwaway moto server, stopped at exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

state=$(mktemp "${TMPDIR:-/tmp}/openbsp-pg-state.XXXXXX")
s3_state=$(mktemp "${TMPDIR:-/tmp}/openbsp-s3-state.XXXXXX")
cleanup() {
	scripts/ensure-postgres.sh --stop "$state" || true
	scripts/ensure-s3.sh --stop "$s3_state" || true
	rm -f "$state" "$s3_state"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The webhook tests check signatures with an independent consumer written in Python, and the
# schemathesis test runs PyPI's schemathesis (scripts/ensure-schemathesis.sh installs it into a
# venv under ~/.cache/openbsp on first use).
if ! command -v python3 >/dev/null 2>&1; then
	if command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: installing python3 (the webhook tests' independent consumer)" >&2
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo"
		$sudo apt-get update -qq && $sudo apt-get install -y -qq python3-minimal >/dev/null
	fi
	command -v python3 >/dev/null 2>&1 || {
		echo "test.sh: python3 is required by the webhook tests and could not be installed" >&2
		exit 1
	}
fi

pg_url=$(OPENBSP_PG_STATE_FILE="$state" scripts/ensure-postgres.sh | tail -n1)
[ -n "$pg_url" ] || {
	echo "test.sh: ensure-postgres.sh printed no URL" >&2
	exit 1
}
export OPENBSP_TEST_POSTGRES_URL="$pg_url"

redacted=$(printf '%s' "$pg_url" | sed -E 's#^([a-z]+://[^:/@]+):[^@]*@#\1:***@#')
if [ -s "$state" ]; then
	echo "test.sh: PostgreSQL: $redacted (throwaway, stopped at exit)" >&2
else
	echo "test.sh: PostgreSQL: $redacted (existing server)" >&2
fi

s3_url=$(OPENBSP_S3_STATE_FILE="$s3_state" scripts/ensure-s3.sh | tail -n1)
[ -n "$s3_url" ] || {
	echo "test.sh: ensure-s3.sh printed no URL" >&2
	exit 1
}
export OPENBSP_TEST_S3_URL="$s3_url"
echo "test.sh: S3-compatible server: $s3_url" >&2

if cargo nextest --version >/dev/null 2>&1; then
	cargo nextest run --workspace --all-targets --no-fail-fast "$@"
else
	cargo test --workspace --all-targets --no-fail-fast "$@"
fi
