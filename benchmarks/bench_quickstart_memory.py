"""Peak memory (RSS) of the quickstart job, each run in a fresh subprocess.

Binder gives a notebook 2 GB; the quickstart must stay inside it. Each case runs
``python -m egx_notebook.quickstart`` in a new process and reads that child's
``ru_maxrss`` (``os.wait4``: the resource usage of exactly that child, like
``resource.getrusage(RUSAGE_CHILDREN)`` for a single child). Prints a table.

    python benchmarks/bench_quickstart_memory.py                       # the default checkpoint
    python benchmarks/bench_quickstart_memory.py --checkpoint runs/smoke-core/final --sizes 256 512
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BINDER_MIB = 2048


def peak_rss(cmd: list[str]) -> tuple[float, float, int, str]:
    """(peak RSS in MiB, wall seconds, exit status, last stderr line) of ``cmd`` in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err_lines = []
    # read stderr while the child runs, then reap it with wait4 to get its own rusage
    for line in proc.stderr:
        err_lines.append(line.rstrip())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    last = next((ln for ln in reversed(err_lines) if ln and "Loading weights" not in ln), "")
    return usage.ru_maxrss / 1024.0, wall, proc.returncode, last  # Linux: ru_maxrss in KiB


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="checkpoint folder; default: the bundled default model")
    p.add_argument("--sizes", type=int, nargs="+", default=[512], help="sample scene sides to run (default 512)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    py = sys.executable
    cases = [("python + import egx_notebook", [py, "-c", "import egx_notebook"]),
             ("python + import torch, transformers", [py, "-c", "import torch, transformers"])]
    for size in args.sizes:
        cmd = [py, "-m", "egx_notebook.quickstart", "--size", str(size), "--device", args.device]
        if args.checkpoint:
            cmd += ["--checkpoint", str(args.checkpoint)]
        cases.append((f"quickstart --size {size}", cmd))

    model = args.checkpoint or "default checkpoint"
    print(f"model: {model}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs; Binder limit {BINDER_MIB} MiB\n")
    print(f"| {'case':<36} | {'peak RSS (MiB)':>14} | {'wall (s)':>8} | {'exit':>4} | fits 2 GB |")
    print(f"|{'-' * 38}|{'-' * 16}|{'-' * 10}|{'-' * 6}|-----------|")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, cmd) in enumerate(cases):
            if cmd[1:3] == ["-m", "egx_notebook.quickstart"]:
                cmd = cmd + ["--out", str(Path(tmp) / f"run{i}")]
            rss, wall, rc, last = peak_rss(cmd)
            fits = "yes" if rss < BINDER_MIB else "NO"
            print(f"| {name:<36} | {rss:>14.0f} | {wall:>8.1f} | {rc:>4} | {fits:<9} |", flush=True)
            if rc != 0:
                failed = True
                print(f"  exit {rc}: {last}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
