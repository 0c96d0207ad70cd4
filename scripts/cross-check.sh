#!/usr/bin/env bash
# arm64 cross-check of the whole catalogue: every loss, both dtypes, every
# verb (scripts/bits.py's record), computed by fastloss._core cross-compiled
# for aarch64 (ARMv8-A with NEON: the baseline level) and run by an aarch64
# CPython under qemu-aarch64, must give the same bits as the x86-64 baseline
# kernels on the same inputs. Every kernel is written without FMA contraction
# (-ffp-contract=off) and with fastloss's own exp/log, so nothing may differ.
#   scripts/cross-check.sh [outdir]          (exit 0: identical results)
# What it sets up under outdir (default build/cross), all from Debian's and
# PyPI's packages, nothing installed on the host but the tools below:
#   sysroot/  Debian's arm64 python3.11 (apt-get download + dpkg -x: it
#             cannot be installed beside the amd64 one)
#   site/     NumPy's manylinux aarch64 wheel, the host's NumPy version
#   build/    fastloss._core for aarch64 (CMake, aarch64-linux-gnu-g++)
#   py/       a package tree of links to python/fastloss with that module
# then records the bits natively (FASTLOSS_ISA=baseline; PYTHON, default
# python3 with PYTHONPATH=python, i.e. the developer build; a wheel venv's
# python works too) and under qemu, on the inputs the native side saved
# (outdir/inputs.pkl, ~420 MB), and diffs the two records.
# NATIVE=1 also runs the older Python-free driver (tests/native/kernels_main.cpp:
# the element-wise families and cross_entropy only) built statically for both.
# Needs (Debian, as root; bookworm's python3.11, so a host Python 3.11):
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install g++-aarch64-linux-gnu qemu-user
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out="${1:-build/cross}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
py="${PYTHON:-python3}"
pyver=3.11

if [ "${NATIVE:-0}" = 1 ]; then
  srcs=(cpp/kernels/*.cpp)
  flags=(-std=c++17 -O3 -fopenmp -ffp-contract=off -fno-math-errno -fno-trapping-math
         -Wall -Wextra -Icpp/include -DFASTLOSS_ISA_NS=baseline -DFASTLOSS_HAVE_BASELINE=1)
  build() {  # compiler, output
    "$1" "${flags[@]}" "${srcs[@]}" cpp/src/runtime.cpp tests/native/kernels_main.cpp -o "$2" -static
  }
  build g++ "$out/kernels_x86_64"
  build aarch64-linux-gnu-g++ "$out/kernels_aarch64"
  "$out/kernels_x86_64" > "$out/native_x86_64.txt"
  qemu-aarch64 "$out/kernels_aarch64" > "$out/native_aarch64.txt"
  diff -u "$out/native_x86_64.txt" "$out/native_aarch64.txt"
  echo "native driver: arm64 and x86-64 agree on $(wc -l < "$out/native_x86_64.txt") results"
fi

# 1. An aarch64 CPython: Debian's, unpacked (its libraries and libc with it).
sysroot="$out/sysroot"
if [ ! -x "$sysroot/usr/bin/python$pyver" ]; then
  debs="$out/debs"
  rm -rf "$debs" && mkdir -p "$debs"
  (cd "$debs" && apt-get download \
    "python$pyver-minimal:arm64" "libpython$pyver-minimal:arm64" \
    "libpython$pyver-stdlib:arm64" "libpython$pyver-dev:arm64" \
    libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libgomp1:arm64 libexpat1:arm64 \
    zlib1g:arm64 libffi8:arm64 libssl3:arm64 libbz2-1.0:arm64 liblzma5:arm64 \
    libuuid1:arm64 libcrypt1:arm64 libsqlite3-0:arm64 libncursesw6:arm64 \
    libtinfo6:arm64 libreadline8:arm64 libnsl2:arm64 libtirpc3:arm64 \
    libdb5.3:arm64 libgdbm6:arm64)
  rm -rf "$sysroot" && mkdir -p "$sysroot"
  for d in "$debs"/*.deb; do dpkg -x "$d" "$sysroot"; done
  # Debian's pyconfig.h picks the per-architecture one by the compiler's
  # macros from a multiarch include directory; put aarch64's in its place.
  cp "$sysroot/usr/include/aarch64-linux-gnu/python$pyver/pyconfig.h" \
     "$sysroot/usr/include/python$pyver/pyconfig.h"
fi
qpy=(qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/python$pyver")

# 2. NumPy for it: the manylinux aarch64 wheel of the host's NumPy version.
npver=$("$py" -c 'import numpy; print(numpy.__version__)')
site="$out/site"
if [ ! -f "$site/numpy/version.py" ] || ! grep -q "\"$npver\"\|'$npver'" "$site/numpy/version.py"; then
  rm -rf "$out/wheels" "$site" && mkdir -p "$out/wheels" "$site"
  python3 -m pip download -q "numpy==$npver" --no-deps --only-binary=:all: \
    --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
    --python-version "$pyver" --implementation cp -d "$out/wheels"
  python3 -m zipfile -e "$out"/wheels/numpy-*.whl "$site"
fi

# 3. fastloss._core for aarch64. CMake runs the host interpreter only to find
# pybind11; the headers are the arm64 CPython's and NumPy's.
cat > "$out/aarch64.cmake" <<'EOF'
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
EOF
cmake -S . -B "$out/build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$out/aarch64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DSKBUILD_PROJECT_NAME=fastloss -DSKBUILD_PROJECT_VERSION=0.1.0 \
  -DFASTLOSS_WERROR=ON \
  -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DPython_EXECUTABLE="$(command -v python3)" \
  -DPython_INCLUDE_DIR="$sysroot/usr/include/python$pyver" \
  -DPython_NumPy_INCLUDE_DIR="$site/numpy/_core/include" >/dev/null
ninja -C "$out/build" ${NINJA_JOBS:+-j$NINJA_JOBS}
rm -rf "$out/py" && mkdir -p "$out/py"
cp -rs "$root/python/fastloss" "$out/py/"
rm -f "$out"/py/fastloss/_core*.so
so=$(cd "$out/build" && ls _core*.so)
ln -s "$out/build/$so" "$out/py/fastloss/_core.cpython-${pyver/./}-aarch64-linux-gnu.so"

# 4. The records, and their diff. Both sides compute on the same input bytes:
# the x86-64 side draws them (tests/cases.py) and saves them, the aarch64 side
# loads them. Drawing them twice would not do: some cases use NumPy's float64
# exp/log, which its x86-64 and aarch64 builds round differently, and a
# different input is no evidence about the kernels. Each record also hashes
# its inputs, so the diff would show inputs that differ as such.
export FASTLOSS_ISA=baseline
inputs="$out/inputs.pkl"
start=$(date +%s)
if [ -z "${PYTHON:-}" ]; then
  PYTHONPATH="$root/python:$root/tests" "$py" scripts/bits.py record "$out/x86_64.json" --save-inputs "$inputs"
else
  PYTHONPATH="$root/tests" "$py" scripts/bits.py record "$out/x86_64.json" --save-inputs "$inputs"
fi
echo "x86-64 record: $(( $(date +%s) - start )) s"
start=$(date +%s)
PYTHONPATH="$out/py:$root/tests:$site" "${qpy[@]}" - <<'EOF'
import platform
from fastloss import _core
assert platform.machine() == "aarch64", platform.machine()
print("aarch64 module:", _core.__file__, _core.compiled_isas(), _core.isa())
EOF
PYTHONPATH="$out/py:$root/tests:$site" "${qpy[@]}" scripts/bits.py record "$out/aarch64.json" --load-inputs "$inputs"
echo "aarch64 record under qemu: $(( $(date +%s) - start )) s"
if python3 scripts/bits.py diff "$out/x86_64.json" "$out/aarch64.json"; then
  echo "arm64 (NEON) and x86-64 baseline agree bit for bit on the whole catalogue"
else
  echo "arm64 and x86-64 results differ" >&2
  exit 1
fi
