"""What FMA would cost fastloss's vector math under the same-bits rule.

fastloss's exp/log/log1p use no FMA: the baseline x86-64 level has no FMA
instruction, and DESIGN.md requires every ISA level to give the same bits,
while an FMA rounds once where a*b + c rounds twice. vmath_bench.py's
"fl+FMA" column shows what FMA would gain at the AVX2 level. This script
shows the other half: what keeping the same bits with FMA would cost the
baseline level, which would need an exact software FMA.

It compiles fma_cost.cpp at the baseline level and at x86-64-v3, checks that
the software FMA matches the hardware on 2e8 inputs and that an exp(float)
written with FMAs gives the same bits at both levels, and times it against
today's vm::exp at each level (single thread, in-cache arrays):

    python3 benchmarks/micro/fma_cost.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vmath_bench import LIB_FLAGS  # the library's avx2 flags (this script's folder)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SRC = HERE / "fma_cost.cpp"
ARCH = [f for f in LIB_FLAGS if f.startswith(("-march=", "-mtune="))]
FLAGS = ["-std=c++17", *(f for f in LIB_FLAGS if f not in ARCH), f"-I{ROOT / 'cpp' / 'include'}"]
LEVELS = {"base": [], "avx2": ARCH}


def main() -> None:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        sys.exit("needs a C++ compiler (g++ or $CXX)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        objs = []
        for ns, arch in LEVELS.items():
            obj = tmp / f"{ns}.o"
            subprocess.run(
                [
                    cxx,
                    *FLAGS,
                    *arch,
                    "-DFC_PART=1",
                    f"-DFC_NS={ns}",
                    f"-DFASTLOSS_ISA_NS=fc_{ns}",
                    "-c",
                    str(SRC),
                    "-o",
                    str(obj),
                ],
                check=True,
            )
            objs.append(str(obj))
        main_o = tmp / "main.o"
        subprocess.run(
            [cxx, "-std=c++17", "-O2", "-DFC_MAIN", "-c", str(SRC), "-o", str(main_o)], check=True
        )
        exe = tmp / "fma_cost"
        subprocess.run([cxx, *objs, str(main_o), "-o", str(exe)], check=True)
        sys.exit(subprocess.run([str(exe)], env=dict(os.environ, OMP_NUM_THREADS="1")).returncode)


if __name__ == "__main__":
    main()
