#!/usr/bin/env bash
# install-torch.sh — make sure Debian's PyTorch (python3-torch, python3-torchvision)
# is importable by /usr/bin/python3, for `make bench`; installs it with apt-get
# (sudo when not root) only when the import fails. Non-zero on failure.
set -euo pipefail
/usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null && exit 0
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "install-torch: need root or sudo to install python3-torch python3-torchvision" >&2
        exit 1
    }
    sudo=(sudo)
fi
echo "install-torch: installing python3-torch python3-torchvision"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y -q --no-install-recommends python3-torch python3-torchvision ||
    { "${sudo[@]}" apt-get update -q &&
        "${sudo[@]}" apt-get install -y -q --no-install-recommends python3-torch python3-torchvision; }
/usr/bin/python3 -c 'import torch, torchvision'
