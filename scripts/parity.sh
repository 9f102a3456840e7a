#!/usr/bin/env bash
# parity.sh BUILD — generate the torchvision ONNX parity fixtures into BUILD/parity
# (scripts/gen_parity.py full) when Debian's python3-torch, python3-torchvision and
# python3-onnx are importable by /usr/bin/python3; otherwise say that they are
# skipped. Regenerates only when scripts/gen_parity.py changed (stamp file).
set -euo pipefail
build=${1:-build}
out="$build/parity"
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c "import torch, torchvision, onnx" 2>/dev/null; then
    echo "parity: $py cannot import torch, torchvision and onnx; torchvision parity tests skipped"
    echo "parity: (apt-get install python3-torch python3-torchvision python3-onnx to run them)"
    rm -rf "$out"
    exit 0
fi
stamp=$(sha256sum scripts/gen_parity.py | cut -c1-64)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
    exit 0
fi
echo "parity: generating the torchvision fixtures into $out (a few minutes, ~3 GB)"
rm -rf "$out" "$out.tmp"
"$py" scripts/gen_parity.py full "$out.tmp" 2> "$build/parity-gen.log" >> "$build/parity-gen.log" || {
    echo "parity: scripts/gen_parity.py failed; see $build/parity-gen.log" >&2
    exit 1
}
echo "$stamp" > "$out.tmp/stamp"
mv "$out.tmp" "$out"
