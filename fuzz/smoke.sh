#!/usr/bin/env bash
# fuzz/smoke.sh BUILD SECONDS TARGET... — the fuzzing part of `make check`.
# For each target: replay its regression inputs (fuzz/regress/TARGET), then
# fuzz for SECONDS from its seeds (fuzz/corpus/TARGET; new inputs go to
# BUILD/corpus/TARGET, never into the repository). Prints one line per target
# with libFuzzer's final figures; exits non-zero on any crash, leak, timeout
# or out-of-memory, leaving the log and the crashing input in BUILD.
# The seed is fixed (FUZZ_SEED, default 1) so that a check run explores the
# same inputs every time: a gate that does not fail at random. New ground is
# for the long runs (fuzz/long.sh, docs/fuzzing.md) and FUZZ_SEED=0 (random).
set -uo pipefail
build=$1 secs=$2
shift 2
fail=0
for t in "$@"; do
    bin=$build/fuzz_$t log=$build/fuzz_$t.log
    mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
    regress=()
    [ -d "fuzz/regress/$t" ] && mapfile -t regress < <(find "fuzz/regress/$t" -type f ! -name '.*' | sort)
    start=$(date +%s)
    ok=1
    if [ ${#regress[@]} -gt 0 ] && ! "$bin" "${regress[@]}" > "$log.regress" 2>&1; then
        ok=0
        echo "fuzz $t: a regression input fails (see $log.regress)"
    fi
    if [ $ok = 1 ] && ! "$bin" -seed="${FUZZ_SEED:-1}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" \
        "$build/corpus/$t" "fuzz/corpus/$t" > "$log" 2>&1; then
        ok=0
        echo "fuzz $t: FINDING (last lines of $log; input in $build/artifacts/$t/)"
        tail -n 40 "$log"
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" 2>/dev/null)
    cov=$(grep -o 'cov: [0-9]*' "$log" 2>/dev/null | tail -n 1)
    ft=$(grep -o 'ft: [0-9]*' "$log" 2>/dev/null | tail -n 1)
    printf 'fuzz %-10s %-4s %4ds  %s regression inputs, %s runs, %s, %s\n' "$t" \
        "$([ $ok = 1 ] && echo ok || echo FAIL)" $(($(date +%s) - start)) "${#regress[@]}" \
        "${execs:-?}" "${cov:-cov: ?}" "${ft:-ft: ?}"
    [ $ok = 1 ] || fail=1
done
exit $fail
