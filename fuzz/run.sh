#!/usr/bin/env bash
# Fuzzes each target (all, or those named) for FUZZ_SECONDS (600 by default) from its seeds,
# and prints libFuzzer's final figures (executions, corpus, crashes) into logs/<target>.log.
#
#   fuzz/run.sh [TARGET...]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Overflow checks and
# debug assertions are on (-a): an arithmetic overflow on a client's number is a crash here.
# A crash's input lands in fuzz/artifacts/<target>/: once fixed, copy it into
# fuzz/regressions/<target>/, where the test suite runs it (crates/fuzzing/tests/regressions.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs=${FUZZ_SECONDS:-600}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(cloud_send webhook_payload webhook_pipeline template_definition phone_number campaign_import surfaces)
fi
mkdir -p logs
for t in "${targets[@]}"; do
	echo "== $t: ${secs}s" >&2
	# The binary writes the target's seeds (Meta's and the vendors' examples) into its corpus
	# before libFuzzer reads it. -rss_limit_mb: the in-process gateway holds a database.
	OPENBSP_FUZZ_SEEDS="$PWD/corpus/$t" cargo +nightly fuzz run -s none -a "$t" -- \
		-max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 \
		2>&1 | tee "logs/$t.log" | grep -E '^(#[0-9]+.*(DONE|pulse)|stat::|==[0-9]+==|.*panicked)' || true
done
