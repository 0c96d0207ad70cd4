"""Throughput of fastloss's vector math vs glibc libmvec and scalar libm.

Compiles vmath_bench.cpp with g++ (three variants of the same loops, see the
.cpp), checks with objdump that the libmvec variant really calls libmvec's
AVX2 entry points (_ZGVdN8v_expf, _ZGVdN4v_exp, ...), runs it single-threaded
and prints median throughput in G elements/s and the ratios.

    python3 benchmarks/micro/vmath_bench.py [--n 100000] [--reps 41] [--only exp]

fastloss is compiled as the library compiles its avx2 kernels (-O3
-march=x86-64-v3 -mtune=haswell -ffp-contract=off -fno-math-errno
-fno-trapping-math); libmvec with -O3 -march=x86-64-v3 -ffast-math
-fopenmp-simd; libm with -O3 -march=x86-64-v3 -fno-math-errno (scalar calls).
softplus is vm::softplus for fastloss and log1p(exp(x)) for glibc; sigmoid
is vm::sigmoid and 1/(1+exp(-x)).

A fourth column, "fl+FMA", is the same fastloss source compiled with
-ffp-contract=fast, so that the compiler fuses each a*b + c into one FMA
instruction as libmvec's code does. That build is not what the library
ships: the baseline x86-64 level has no FMA, and an FMA rounds once where
a*b + c rounds twice, so its results would differ from the baseline
kernels' in the last bit, against the rule that every ISA level gives the
same bits (DESIGN.md). The column measures what that rule costs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SRC = HERE / "vmath_bench.cpp"

LIB_FLAGS = [
    "-O3",
    "-DNDEBUG",
    "-march=x86-64-v3",
    "-mtune=haswell",
    "-ffp-contract=off",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fopenmp-simd",
]
VARIANTS = {
    "fastloss_v": LIB_FLAGS
    + ["-DVB_IS_FASTLOSS=1", "-DFASTLOSS_ISA_NS=avx2", f"-I{ROOT / 'cpp' / 'include'}"],
    "fastloss_fma_v": [f if f != "-ffp-contract=off" else "-ffp-contract=fast" for f in LIB_FLAGS]
    + ["-DVB_IS_FASTLOSS=1", "-DFASTLOSS_ISA_NS=avx2_fma", f"-I{ROOT / 'cpp' / 'include'}"],
    "libmvec_v": ["-O3", "-march=x86-64-v3", "-ffast-math", "-fopenmp-simd", "-DVB_IS_FASTLOSS=0"],
    "libm_v": ["-O3", "-march=x86-64-v3", "-fno-math-errno", "-fopenmp-simd", "-DVB_IS_FASTLOSS=0"],
}


def build(tmp: Path, cxx: str) -> Path:
    objs = []
    for name, flags in VARIANTS.items():
        obj = tmp / f"{name}.o"
        subprocess.run(
            [cxx, "-std=c++17", *flags, f"-DVB_VARIANT={name}", "-c", str(SRC), "-o", str(obj)],
            check=True,
        )
        objs.append(obj)
    main = tmp / "main.o"
    subprocess.run(
        [cxx, "-std=c++17", "-O2", "-DVB_MAIN", "-c", str(SRC), "-o", str(main)], check=True
    )
    exe = tmp / "vmath_bench"
    subprocess.run([cxx, *map(str, objs), str(main), "-o", str(exe), "-lm"], check=True)
    return exe


def calls(obj: Path) -> dict[str, set[str]]:
    """Functions called from each benchmark loop of an object file."""
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", "-C", str(obj)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    res: dict[str, set[str]] = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            cur = m.group(1)
            res[cur] = set()
        elif cur and "call" in line:
            m = re.search(r"<([^>+]+)", line)
            if m:
                res[cur].add(m.group(1))
    return res


def check_libmvec(tmp: Path) -> list[str]:
    """Report the libmvec symbols each libmvec-variant loop calls; fail if
    a loop calls none (then it would time scalar libm)."""
    # Calls in a relocatable object show up as relocations.
    out = subprocess.run(
        ["objdump", "-dr", str(tmp / "libmvec_v.o")], check=True, capture_output=True, text=True
    ).stdout
    syms = sorted(set(re.findall(r"R_X86_64_PLT32\s+(_ZGV\w+)", out)))
    if not syms:
        sys.exit("libmvec variant calls no _ZGV* symbol: the comparison would be meaningless")
    for name in ("fastloss_v", "fastloss_fma_v"):
        fl = subprocess.run(
            ["objdump", "-dr", str(tmp / f"{name}.o")], check=True, capture_output=True, text=True
        ).stdout
        fl_calls = sorted(set(re.findall(r"R_X86_64_PLT32\s+(\S+)", fl)))
        if fl_calls:
            sys.exit(f"{name} calls {fl_calls}: vm:: should be inlined, call-free")
    # fl, the fl+FMA variant's disassembly, must hold FMA instructions
    if not re.search(r"\bvfn?m(add|sub)", fl):
        sys.exit("the fl+FMA variant contains no FMA instruction: its column would be meaningless")
    return syms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=41)
    ap.add_argument("--only", default="")
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    args = ap.parse_args()
    if shutil.which(args.cxx) is None or shutil.which("objdump") is None:
        sys.exit("needs g++ and objdump")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        exe = build(tmp, args.cxx)
        syms = check_libmvec(tmp)
        print("libmvec entry points called:", " ".join(syms))
        env = dict(os.environ, OMP_NUM_THREADS="1")
        proc = subprocess.Popen(
            [str(exe), str(args.n), str(args.reps), args.only],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        print(
            f"n = {args.n}, single thread, median G elements/s "
            f"(5 rounds x {args.reps} calls, median of round medians)"
        )
        hdr = (
            f"{'function':<10}{'dtype':<8}{'fastloss':>10}{'libmvec':>10}{'libm':>10}"
            f"{'fl/mvec':>10}{'fl/libm':>10}{'fl+FMA':>10}{'FMA/mvec':>10}"
        )
        print(hdr)
        print("-" * len(hdr))
        assert proc.stdout is not None
        for line in proc.stdout:
            fn, ty, a, b, c, d = line.split()
            a, b, c, d = float(a), float(b), float(c), float(d)
            print(
                f"{fn:<10}{ty:<8}{a:>10.3f}{b:>10.3f}{c:>10.3f}{a / b:>10.2f}{a / c:>10.2f}"
                f"{d:>10.3f}{d / b:>10.2f}",
                flush=True,
            )
        if proc.wait() != 0:
            sys.exit(f"benchmark exited with {proc.returncode}")


if __name__ == "__main__":
    main()
