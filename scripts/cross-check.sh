#!/usr/bin/env bash
# Builds the kernels and tests/native/kernels_main.cpp (no Python) twice --
# natively for x86-64 baseline and with aarch64-linux-gnu-g++ for arm64, where
# the baseline is ARMv8-A with NEON -- runs the arm64 binary under
# qemu-aarch64, and compares the printed bits. Needs (Debian):
#   apt-get install g++-aarch64-linux-gnu qemu-user
# Usage: scripts/cross-check.sh [outdir]     (exit 0: identical results)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/cross}"
mkdir -p "$out"
srcs=(cpp/kernels/*.cpp)
flags=(-std=c++17 -O3 -fopenmp -ffp-contract=off -fno-math-errno -fno-trapping-math
       -Wall -Wextra -Icpp/include -DFASTLOSS_ISA_NS=baseline -DFASTLOSS_HAVE_BASELINE=1)
build() {  # compiler, output
  "$1" "${flags[@]}" "${srcs[@]}" cpp/src/runtime.cpp tests/native/kernels_main.cpp -o "$2" -static
}
build g++ "$out/kernels_x86_64"
build aarch64-linux-gnu-g++ "$out/kernels_aarch64"
"$out/kernels_x86_64" > "$out/x86_64.txt"
qemu-aarch64 "$out/kernels_aarch64" > "$out/aarch64.txt"
if diff -u "$out/x86_64.txt" "$out/aarch64.txt"; then
  echo "arm64 (NEON) and x86-64 baseline kernels agree bit for bit on $(wc -l < "$out/x86_64.txt") results"
else
  echo "arm64 and x86-64 results differ" >&2
  exit 1
fi
