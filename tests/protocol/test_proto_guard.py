"""The protocol core stays pure: importing it loads no I/O, loop or clock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FORBIDDEN = ["asyncio", "trio", "anyio", "socket", "selectors", "threading", "ssl", "time"]
ROOT = Path(__file__).resolve().parents[2]


def _added_by(setup: str, forbidden: list[str]) -> str:
    # The interpreter itself may load some of these before user code runs
    # (zipimport loads ``time``; site hooks may load more), so count only
    # what the import adds.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"{setup}\n"
        "import sansketch.protocol\n"
        "added = set(sys.modules) - before\n"
        f"print(','.join(m for m in {forbidden!r} if m in added))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def test_protocol_package_imports_no_io_modules() -> None:
    # Load sansketch.protocol on its own (the parent package's __init__ is
    # the app layer's), as someone embedding only the core would.
    stub = (
        "import types\n"
        "pkg = types.ModuleType('sansketch')\n"
        f"pkg.__path__ = [{str(ROOT / 'sansketch')!r}]\n"
        "sys.modules['sansketch'] = pkg"
    )
    assert _added_by(stub, FORBIDDEN) == ""


def test_importing_the_core_starts_no_loop_thread_or_clock() -> None:
    # Through the real parent package. ``socket``/``selectors`` are left out
    # here only because the app layer uses email.utils, which imports socket
    # for message ids; the test above holds the core itself to the full list.
    loops = [m for m in FORBIDDEN if m not in ("socket", "selectors")]
    assert _added_by("", loops) == ""
