"""The conformance corpus against every sansketch backend over real sockets.

Each backend is started with the CLI on 127.0.0.1, serving the echo app, and
every case runs over its own raw socket (a thread pool keeps the cases that
pause between segments from adding up). 100% must pass.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conformance._cases import load_cases
from conformance._judge import judge
from conformance._live import run_live
from conformance._peers import SANSKETCH_COMMAND, _free_port, _stop, _wait_listening

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["asyncio", "asyncio-streams", "trio", "anyio-asyncio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_corpus_against_live_backend(backend: str) -> None:
    port = _free_port()
    command = SANSKETCH_COMMAND.format(
        python=shlex.quote(sys.executable), backend=backend, port=port
    )
    proc = subprocess.Popen(
        shlex.split(command), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert _wait_listening(port, proc), f"{backend} did not start"
        cases = load_cases()
        with ThreadPoolExecutor(max_workers=16) as pool:
            transcripts = list(pool.map(lambda case: run_live(case, ("127.0.0.1", port)), cases))
        failures = {
            case.id: problems
            for case, transcript in zip(cases, transcripts, strict=True)
            if (problems := judge(case, transcript))
        }
        assert not failures, (
            f"{len(failures)} of {len(cases)} cases failed on {backend}: {failures}"
        )
        assert proc.poll() is None, f"{backend} died during the run"
    finally:
        _stop(proc)
