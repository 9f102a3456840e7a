#!/usr/bin/env bash
# tests/valgrind.sh BUILD — memcheck over the CLI: a short training run that
# saves its weights, then loading the model and those weights to evaluate one
# test image and to classify a PNG, and `cnn info`. Any memory error or leak
# (definite, indirect or possible; tests/valgrind.supp explains the one
# suppression) fails. Needs data/mnist (make check fetches it).
set -uo pipefail
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Idle OpenMP workers sleep instead of spinning: memcheck runs one thread at a time.
export OMP_WAIT_POLICY=passive
vg=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99
    --suppressions=tests/valgrind.supp)
fail=0
# run NAME EXPECTED-EXIT-STATUS COMMAND...: 99 is memcheck's "errors found".
run() {
    local name=$1 want=$2 start=$(date +%s) rc=0
    shift 2
    "${vg[@]}" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" || rc=$?
    if [ "$rc" = "$want" ]; then
        printf 'valgrind %-8s ok   %4ds\n' "$name" $(($(date +%s) - start))
    else
        printf 'valgrind %-8s FAIL %4ds: exit %d, expected %d: %s\n' "$name" \
            $(($(date +%s) - start)) "$rc" "$want" "$*"
        tail -n 40 "$tmp/$name.err"
        fail=1
    fi
}
run train 0 "$build/cnn" train models/lenet5.cnn --data data/mnist --subset 512 --test-subset 256 \
    --epochs 1 --quiet --save "$tmp/lenet5.weights" --run-dir "$tmp/run"
run predict 0 "$build/cnn" predict models/lenet5.cnn --weights "$tmp/lenet5.weights" \
    --data data/mnist --index 7
run image 0 "$build/cnn" predict models/lenet5.cnn --weights "$tmp/lenet5.weights" \
    fuzz/corpus/image/rgb.png
# A 200-image test set cut from MNIST's (raw or gzip) for a full evaluation.
mkdir -p "$tmp/small"
cat_idx() { if [ -f "$1" ]; then cat "$1"; else zcat "$1.gz"; fi; }
{ printf '\x00\x00\x08\x03\x00\x00\x00\xc8\x00\x00\x00\x1c\x00\x00\x00\x1c'
  cat_idx data/mnist/t10k-images-idx3-ubyte | tail -c +17 | head -c $((200 * 784)); } \
    > "$tmp/small/t10k-images-idx3-ubyte"
{ printf '\x00\x00\x08\x01\x00\x00\x00\xc8'
  cat_idx data/mnist/t10k-labels-idx1-ubyte | tail -c +9 | head -c 200; } \
    > "$tmp/small/t10k-labels-idx1-ubyte"
run eval 0 "$build/cnn" eval models/lenet5.cnn --weights "$tmp/lenet5.weights" --data "$tmp/small"
run info 0 "$build/cnn" info models/lenet5.cnn
run refuse 1 "$build/cnn" eval tests/malformed/small.cnn --weights \
    tests/malformed/weights_nan.weights --data data/mnist
exit $fail
