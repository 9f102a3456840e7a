#!/usr/bin/env bash
# Run every test program in BUILD/tests; print one line each and the total.
# Exits non-zero if any test fails. Usage: tests/run.sh [BUILD]
build=${1:-build}
pass=0; fail=0; failed=()
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    start=$(date +%s.%N)
    if "$t" > "$build/tests/$name.log" 2>&1; then
        pass=$((pass + 1)); status=ok
    else
        fail=$((fail + 1)); status=FAIL; failed+=("$name")
    fi
    printf '%-28s %-4s %6.1fs  %s\n' "$name" "$status" "$(awk "BEGIN{print $(date +%s.%N) - $start}")" \
        "$(tail -n 1 "$build/tests/$name.log")"
done
for f in "${failed[@]}"; do
    echo "---- $f (last 30 lines of $build/tests/$f.log) ----"
    tail -n 30 "$build/tests/$f.log"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
