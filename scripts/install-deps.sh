#!/usr/bin/env bash
# install-deps.sh — install the Debian packages that building and testing need,
# only those missing (no apt-get call when all are there). A library package is
# missing when dpkg -s says so; nodejs and npm only when their commands are
# absent, since a node from elsewhere (e.g. NodeSource, which bundles npm and
# conflicts with Debian's npm) does the job as well.
# Uses sudo when not root. Prints what it installs; non-zero on failure.
set -euo pipefail

# clang and libclang-rt-14-dev: the libFuzzer targets (make fuzz-smoke); valgrind:
# make check-valgrind. gcc brings its own ASan/UBSan/TSan runtimes.
packages=(gcc make libc6-dev pkg-config libopenblas-openmp-dev zlib1g-dev libpng-dev
    libjpeg-dev libcmocka-dev protobuf-c-compiler libprotobuf-c-dev clang libclang-rt-14-dev
    valgrind)
commands=(node:nodejs npm:npm) # command:package

missing=()
for p in "${packages[@]}"; do
    # Captured, not piped into grep -q: with pipefail an early-closing grep
    # would make dpkg die of SIGPIPE and the package look missing.
    status=$(dpkg -s "$p" 2>/dev/null || true)
    [[ $status == *"Status: install ok installed"* ]] || missing+=("$p")
done
for cp in "${commands[@]}"; do
    command -v "${cp%%:*}" >/dev/null || missing+=("${cp#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
        exit 1
    }
    sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "install-deps: apt-get install failed; updating the package lists and retrying" >&2
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" || {
        echo "install-deps: apt-get install ${missing[*]} failed" >&2
        exit 1
    }
fi
