#!/usr/bin/env bash
# Makes sure a `schemathesis` executable exists and prints its path as the last line of
# stdout. Everything else goes to stderr.
#
#   scripts/ensure-schemathesis.sh
#
# Order of preference:
#   1. $OPENBSP_SCHEMATHESIS, if set and it runs;
#   2. the venv under ${XDG_CACHE_HOME:-$HOME/.cache}/openbsp/schemathesis, made and filled
#      with PyPI's `schemathesis` (the version below) when missing.
#
# The venv is the gateway's own, so the version the tests were written against is the one
# that runs, whatever else the machine has installed. Exits 1 with a message if schemathesis
# cannot be installed; never prints a path that does not run.
set -euo pipefail

# The release the schemathesis test's flags and checks were written against (`schemathesis
# run` changed its options between major versions).
version="4.32.5"

log() { printf 'ensure-schemathesis: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

runs() { "$1" --version >/dev/null 2>&1; }

if [ -n "${OPENBSP_SCHEMATHESIS:-}" ] && runs "$OPENBSP_SCHEMATHESIS"; then
	echo "$OPENBSP_SCHEMATHESIS"
	exit 0
fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/openbsp/schemathesis"
exe="$venv/bin/schemathesis"
if runs "$exe" && "$exe" --version 2>/dev/null | grep -q "$version"; then
	echo "$exe"
	exit 0
fi

command -v python3 >/dev/null 2>&1 || die "python3 is required to install schemathesis"
# Two test binaries (one per backend) may get here at once: one installs, the other waits.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi
if ! (runs "$exe" && "$exe" --version 2>/dev/null | grep -q "$version"); then
	log "installing schemathesis $version from PyPI into $venv"
	rm -rf "$venv"
	if ! python3 -m venv "$venv" >&2; then
		# Debian's python3 comes without venv: install it, as test.sh installs python3.
		if command -v apt-get >/dev/null 2>&1; then
			log "installing python3-venv"
			sudo=""
			[ "$(id -u)" -eq 0 ] || sudo="sudo"
			$sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq python3-venv >&2 || true
		fi
		rm -rf "$venv"
		python3 -m venv "$venv" >&2 || die "could not make a venv at $venv (python3-venv missing?)"
	fi
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
		"schemathesis==$version" >&2 || die "could not install schemathesis $version"
fi
runs "$exe" || die "$exe does not run"
echo "$exe"
