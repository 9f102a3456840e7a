#!/usr/bin/env bash
# fuzz/long.sh TARGET [SECONDS] — the long runs recorded in docs/fuzzing.md
# (default 600 s). Run `make fuzz` first (on a clean tree, so the binary is
# HEAD); at most two at a time on 2 cores.
# The corpus grows in build-fuzz/long/corpus/TARGET (kept between runs), a
# finding lands in build-fuzz/long/artifacts/TARGET/, the log (with libFuzzer's
# final stats) in build-fuzz/long/TARGET.log. The binary is copied first, so
# rebuilding during a run does not disturb it. Exit status: libFuzzer's.
set -uo pipefail
cd "$(dirname "$0")/.."
t=$1 secs=${2:-600} dir=build-fuzz/long
mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t"
cp "build-fuzz/fuzz_$t" "$dir/fuzz_$t.bin"
start=$(date -u +%FT%TZ) commit=$(git rev-parse --short HEAD)
"$dir/fuzz_$t.bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$t/" "$dir/corpus/$t" "fuzz/corpus/$t" > "$dir/$t.log" 2>&1
rc=$?
echo "rc=$rc start=$start end=$(date -u +%FT%TZ) commit=$commit (HEAD at the start; the binary is the last make fuzz)" >> "$dir/$t.log"
exit $rc
