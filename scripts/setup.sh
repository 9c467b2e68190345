#!/usr/bin/env bash
# Installs what flashjit needs to build and test on Debian 12, idempotently, and checks for the CUDA toolkit.
# Only Debian's packages are used; nothing is downloaded any other way.
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache zstd
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools   # LLVM/MLIR 22, lit and FileCheck
  libcli11-dev libzstd-dev zlib1g-dev                      # CLI parsing; static zstd/zlib for LLVMSupport
  libgtest-dev                                             # GoogleTest (usually preinstalled)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all packages present"
fi

cuda=${CUDA_HOME:-/usr/local/cuda}
problems=()
[ -f "$cuda/include/cuda.h" ] || problems+=("$cuda/include/cuda.h (CUDA driver API header)")
[ -x "$cuda/bin/ptxas" ] || problems+=("$cuda/bin/ptxas (offline PTX assembler)")
[ -f "$cuda/nvvm/libdevice/libdevice.10.bc" ] || problems+=("$cuda/nvvm/libdevice/libdevice.10.bc")
if [ ${#problems[@]} -gt 0 ]; then
  echo "setup: the CUDA 13 toolkit is incomplete or missing at $cuda; not found:" >&2
  printf '  %s\n' "${problems[@]}" >&2
  echo "setup: install the CUDA toolkit there, or point CUDA_HOME at it" >&2
  exit 1
fi
echo "setup: CUDA toolkit at $cuda ($("$cuda/bin/ptxas" --version | tail -n 1))"
