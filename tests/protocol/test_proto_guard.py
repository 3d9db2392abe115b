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


def test_importing_the_core_loads_no_io_loop_thread_or_clock() -> None:
    # Through the real parent package, as a user would import it: the
    # package's public names are imported lazily, so nothing of the app
    # layer (anyio, email.utils -> socket) comes along.
    assert _added_by("", FORBIDDEN) == ""


def test_the_package_root_imports_nothing_eagerly() -> None:
    # The guard above only holds while ``sansketch/__init__.py`` stays lazy.
    assert _added_by("import sansketch", ["sansketch.app", "anyio", "multidict"]) == ""
