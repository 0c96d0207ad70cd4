#!/usr/bin/env bash
# Runs fastloss on an emulated x86-64 CPU without AVX (qemu user mode), with
# the normal multi-ISA module: CPU detection must choose the baseline kernels,
# and an AVX/AVX2/AVX-512 instruction executed anywhere (outside the dispatch
# too: runtime, bindings, static initialisers) stops the run with SIGILL.
#   scripts/qemu-baseline.sh [pytest args]     (default: tests/test_properties.py)
#   CPU=Nehalem scripts/qemu-baseline.sh tests/test_properties.py tests/test_catalogue.py \
#     -k "not finite_differences"              (the whole catalogue, ~9 min)
# The finite-difference tests hold the NumPy reference to its own derivatives
# and call no kernel: under emulation they cost most of the time (ms_ssim's
# alone ran over 7 minutes) and prove nothing about the instructions run.
# Environment:
#   PYTHON  interpreter whose fastloss is tested (default: python3 of PATH, with
#           PYTHONPATH=python, i.e. the tree's developer build; or a venv's
#           python holding the repaired wheel, see scripts/wheel-check.sh)
#   CPU     qemu CPU model (default qemu64: SSE3, no SSSE3/SSE4/AVX). NumPy
#           2.4 itself needs x86-64-v2 (it dies with SIGILL on qemu64), so
#           with NumPy >= 2.4 use CPU=Nehalem (x86-64-v2, no AVX); NumPy 1.26
#           runs on qemu64.
# Needs: apt-get install qemu-user
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cpu="${CPU:-qemu64}"
if [ -n "${PYTHON:-}" ]; then
  py="$PYTHON"
else
  py=$(python3 -c 'import sys; print(sys.executable)')  # past pyenv's shim script
  export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
fi
py=$(command -v "$py")  # not resolved: a venv is known by its own path
# Subprocesses the tests start (sys.executable) run natively, outside qemu;
# FASTLOSS_ISA is not set so that the choice below is the detection's.
unset FASTLOSS_ISA
q=(qemu-x86_64 -cpu "$cpu")
"${q[@]}" "$py" - <<'EOF'
import fastloss as fl
from fastloss import _core
fl.show_config()
assert _core.isa() == "baseline", _core.isa()
assert _core.supported_isas() == ["baseline"], _core.supported_isas()
EOF
echo "qemu -cpu $cpu: fastloss chose the baseline level"
"${q[@]}" "$py" "$root/examples/quickstart.py" >/dev/null && echo "quickstart ran"
start=$(date +%s)
status=0
"${q[@]}" "$py" -m pytest -q -p no:cacheprovider "${@:-$root/tests/test_properties.py}" || status=$?
echo "qemu -cpu $cpu test run: exit $status, $(( $(date +%s) - start )) s"
exit $status
