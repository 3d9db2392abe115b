"""Machine instructions per request of the asyncio Protocol driver, in-process.

The same loads as ``bench/driver_cpu.py`` (``examples/hello.py`` through
``HttpProtocol`` on uvloop, a fake transport; one request per read on one
connection or on 16 read in each loop turn, or 16 requests per read),
counted by ``valgrind --tool=callgrind`` instead of timed. The count is the
same from run to run and hardly moves when other work shares the machine,
so a change of 1% shows where wall-clock figures need many rounds to.

Two runs per load, one with ``--requests`` more requests than the other;
the difference over ``--requests`` is what one request costs (start-up,
imports and warm-up cancel out). Needs ``valgrind`` (Debian: ``apt-get
install valgrind``). Like ``driver_cpu.py`` it includes the harness: its
loop trips and fake transports cost about 16,100 instructions per plain
request on one connection and 5,800 with 16 connections a turn (a protocol
that writes a fixed response in ``data_received`` counts that much).

Run from the repository root: ``python bench/instructions.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What each valgrind run executes: warm up, then serve ``count`` requests.
_CHILD = """
import asyncio, importlib.util, sys
sys.path.insert(0, {root!r})
spec = importlib.util.spec_from_file_location("driver_cpu", {script!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import uvloop
loop = uvloop.new_event_loop()
loop.run_until_complete(module._serve(module.asyncio_protocol, 1600, {per_read}, {connections}))
if {count}:
    loop.run_until_complete(
        module._serve(module.asyncio_protocol, {count}, {per_read}, {connections})
    )
"""


def instructions(count: int, per_read: int, connections: int) -> int:
    """Instructions valgrind counts for a run serving ``count`` requests."""
    code = _CHILD.format(
        root=str(ROOT),
        script=str(ROOT / "bench" / "driver_cpu.py"),
        per_read=per_read,
        connections=connections,
        count=count,
    )
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr}")
    return int(match.group(1))


def main() -> None:
    """Count and print instructions per request for both loads."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=16000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    print("| load | instructions per request |")
    print("|---|---:|")
    loads = (("plain", 1, 1), ("plain, 16 connections a turn", 1, 16), ("pipelined 16", 16, 1))
    for load, per_read, connections in loads:
        base = instructions(0, per_read, connections)
        more = instructions(args.requests, per_read, connections)
        print(f"| {load} | {(more - base) / args.requests:,.0f} |")


if __name__ == "__main__":
    main()
