#!/usr/bin/env bash
# Developer build: compiles fastloss._core into build/dev and links it into
# python/fastloss, so `PYTHONPATH=python python -m pytest` tests the tree.
#   FASTLOSS_ISAS=baseline scripts/dev-build.sh   # one ISA level: faster
set -euo pipefail
cd "$(dirname "$0")/.."
isas="${FASTLOSS_ISAS:-auto}"
cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSKBUILD_PROJECT_NAME=fastloss -DSKBUILD_PROJECT_VERSION=0.1.0 \
  -DFASTLOSS_ISAS="$isas" -DFASTLOSS_WERROR=ON \
  -Dpybind11_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DPython_EXECUTABLE="$(command -v python3)" >/dev/null
ninja -C build/dev ${NINJA_JOBS:+-j$NINJA_JOBS}
so=$(cd build/dev && ls _core*.so)
ln -sf "../../build/dev/$so" "python/fastloss/$so"
echo "built build/dev/$so (ISAs: $isas)"
