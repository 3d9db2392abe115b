"""Where a sansketch driver spends its CPU per request, under wrk load.

Three passes against ``python -m sansketch examples.hello:app`` (pinned to
CPU 0, wrk pinned to CPU 1, ``wrk -t1 -c64``):

1. no profiler: req/s and server CPU µs per request (from /proc/PID/stat);
2. py-spy (sampling, little overhead), if installed: each function's share of
   the samples times the CPU µs per request of pass 1 gives its cost per
   request, both "self" (the function's own code) and "total" (with callees);
3. cProfile (deterministic, slows Python code down by roughly 1.5-2x): calls
   per request and tottime per request, for the exact call counts.

Usage, from the repository root (see bench/http.py for installing wrk;
``pip install py-spy`` for pass 2)::

    python bench/profile_driver.py                      # asyncio driver on uvloop
    python bench/profile_driver.py --backend trio --loop auto --duration 5
    python bench/profile_driver.py --pipeline 16        # 16 requests per write
"""

from __future__ import annotations

import os
import sys

# bench/http.py is named like the stdlib package; keep this directory off
# sys.path and import the harness as ``bench.http`` from the repository root.
_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import argparse  # noqa: E402
import pstats  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402

from bench.http import (  # noqa: E402
    PIPELINE_LUA,
    ServerPool,
    ServerSpec,
    Wrk,
    _sansketch,
    check_server,
    log_tail,
    parse_cpu_list,
    wait_ready,
)


def _spec(args: argparse.Namespace, wrap: Callable[[list[str]], list[str]]) -> ServerSpec:
    base = _sansketch(args.backend, args.loop)

    def argv(port: int) -> list[str]:
        return wrap(base(port))

    return ServerSpec(f"sansketch-{args.backend}-{args.loop}", "sansketch", argv, "")


def _start(pool: ServerPool, spec: ServerSpec) -> tuple[int, int]:
    server = pool.start(spec)
    wait_ready(server)
    problem = server.failed or check_server(server.port)
    if problem:
        raise SystemExit(f"{spec.name}: {problem}\n{log_tail(server)}")
    return server.port, len(pool.running) - 1


def baseline(args: argparse.Namespace, pool: ServerPool, wrk: Wrk) -> tuple[float, float]:
    """Pass 1: req/s and CPU µs per request without a profiler."""
    _start(pool, _spec(args, lambda argv: argv))
    server = pool.running[-1]
    wrk.run(server, 1.0, args.pipeline)  # warm-up
    sample = wrk.run(server, args.duration, args.pipeline)
    print(f"baseline: {sample.rps:,.0f} req/s, {sample.cpu_us:.1f} µs CPU/request\n")
    return sample.rps, sample.cpu_us


def py_spy(
    args: argparse.Namespace, pool: ServerPool, wrk: Wrk, cpu_us: float, workdir: str
) -> None:
    """Pass 2: sample the baseline server's process with py-spy while wrk runs."""
    server = pool.running[-1]
    raw = os.path.join(workdir, "py-spy.txt")
    argv = ["py-spy", "record", "--pid", str(server.proc.pid), "--rate", "250"]
    argv += ["--duration", str(int(args.duration)), "--format", "raw", "--function"]
    argv += ["--output", raw]
    if args.client_cpu is not None:
        argv = ["taskset", "-c", args.client_cpu, *argv]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wrk.run(server, args.duration, args.pipeline)
        _, err = spy.communicate(timeout=args.duration + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not os.path.exists(raw):
        print(f"py-spy failed: {err.decode(errors='replace').strip()}\n")
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(raw, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            frames = [_short(frame) for frame in stack.split(";")]
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    if not total:
        print("py-spy took no samples\n")
        return
    print(f"## py-spy: {total} samples; cost = share of samples x {cpu_us:.1f} µs/request\n")
    print("| self µs/req | self % | total µs/req | function |")
    print("|---:|---:|---:|---|")
    for frame, count in own.most_common(args.top):
        print(
            f"| {count / total * cpu_us:.2f} | {count / total:.1%} "
            f"| {inclusive[frame] / total * cpu_us:.2f} | `{frame}` |"
        )
    print("\nLargest inclusive costs (with callees):\n")
    print("| total µs/req | total % | function |")
    print("|---:|---:|---|")
    for frame, count in inclusive.most_common(args.top):
        print(f"| {count / total * cpu_us:.2f} | {count / total:.1%} | `{frame}` |")
    print()


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py:12)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({os.path.basename(where)}" if where else name


def cprofile(args: argparse.Namespace, pool: ServerPool, wrk: Wrk, workdir: str) -> None:
    """Pass 3: the server under ``python -m cProfile``, stopped with SIGINT."""
    out = os.path.join(workdir, "driver.prof")

    def wrap(argv: list[str]) -> list[str]:
        # argv is [python, "-m", "sansketch", ...]
        return [argv[0], "-m", "cProfile", "-o", out, *argv[1:]]

    _start(pool, _spec(args, wrap))
    server = pool.running[-1]
    sample = wrk.run(server, args.duration, args.pipeline)
    # The profile is written when the interpreter leaves the profiled code;
    # SIGINT lets the runner shut down as it would on Ctrl-C.
    os.killpg(server.proc.pid, signal.SIGINT)
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        print("cProfile: the server did not exit on SIGINT; no profile\n")
        return
    if not os.path.exists(out):
        print(f"cProfile: no profile written\n{log_tail(server)}\n")
        return
    stats = pstats.Stats(out)
    requests = sample.requests
    print(
        f"## cProfile: {sample.rps:,.0f} req/s under the profiler, {requests:,} requests "
        f"(costs inflated by the profiler; compare them with each other)\n"
    )
    print("| tottime µs/req | cumtime µs/req | calls/req | function |")
    print("|---:|---:|---:|---|")
    rows = []
    table = getattr(stats, "stats", {})  # pstats keeps its table in an untyped attribute
    for (path, line, func), (_cc, ncalls, tottime, cumtime, _callers) in table.items():
        where = f"{os.path.basename(path)}:{line}" if line else path
        rows.append((tottime, cumtime, ncalls, f"{func} ({where})"))
    rows.sort(reverse=True)
    for tottime, cumtime, ncalls, name in rows[: args.top]:
        print(
            f"| {tottime * 1e6 / requests:.2f} | {cumtime * 1e6 / requests:.2f} "
            f"| {ncalls / requests:.2f} | `{name}` |"
        )
    print()


def main() -> None:
    """Run the passes and print Markdown tables."""
    parser = argparse.ArgumentParser(description="Profile a sansketch driver under wrk load.")
    parser.add_argument("--backend", default="asyncio")
    parser.add_argument("--loop", default="uvloop")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--pipeline", type=int, default=1, help="requests per write")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--no-py-spy", action="store_true")
    parser.add_argument("--no-cprofile", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found; see bench/http.py's docstring to install it")
    with tempfile.TemporaryDirectory(prefix="sansketch-profile-") as workdir:
        lua_path = os.path.join(workdir, "pipeline.lua")
        with open(lua_path, "w") as f:
            f.write(PIPELINE_LUA)
        wrk = Wrk(args.client_cpu, args.connections, lua_path, parse_cpu_list(args.server_cpu))
        pool = ServerPool(workdir, args.server_cpu)
        try:
            print(
                f"# Profile: backend {args.backend}, loop {args.loop}, "
                f"wrk -t1 -c{args.connections} -d{args.duration:g}s, "
                f"{args.pipeline} request(s) per write\n"
            )
            _rps, cpu_us = baseline(args, pool, wrk)
            if not args.no_py_spy:
                if shutil.which("py-spy") is None:
                    print("py-spy not installed (pip install py-spy); skipped\n")
                else:
                    py_spy(args, pool, wrk, cpu_us, workdir)
            pool.stop_all()
            if not args.no_cprofile:
                cprofile(args, pool, wrk, workdir)
        finally:
            pool.stop_all()


if __name__ == "__main__":
    main()
