"""``python -m conformance``: run the corpus in-process, against a URL, or against peers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ._cases import Case, CaseError, load_cases, select
from ._judge import Transcript, judge


def run_cases(cases: Sequence[Case], run: Callable[[Case], Transcript]) -> dict[str, list[str]]:
    """Run and judge every case; maps case id to its failures (empty: passed)."""
    return {case.id: judge(case, run(case)) for case in cases}


def report(results: dict[str, list[str]], out: Callable[[str], object] = print) -> int:
    """Print one line per failed case and the closing tally; the exit status."""
    failed = 0
    for case_id, problems in results.items():
        if problems:
            failed += 1
            out(f"FAIL {case_id}: {' | '.join(problems)}")
    out(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m conformance``."""
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__)
    parser.add_argument("--url", help="a live server on loopback: http://127.0.0.1:PORT")
    parser.add_argument("--peers", action="store_true", help="run against every known server")
    parser.add_argument("--only", default="", help="comma-separated case ids")
    parser.add_argument("--category", help="run only this category")
    parser.add_argument("--json-out", type=Path, help="write per-case results as JSON")
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    args = parser.parse_args(argv)
    try:
        only = [s for s in args.only.split(",") if s]
        cases = select(load_cases(), only, args.category)
    except CaseError as exc:
        parser.error(str(exc))
    if args.list:
        for case in cases:
            print(f"{case.id}\t{case.category}\t{case.expect}\t{case.strength}\t{case.rule}")
        return 0
    if args.peers:
        from ._peers import run_peers

        return run_peers(cases)
    if args.url:
        from ._live import loopback_address, run_live

        try:
            address = loopback_address(args.url)
        except (ValueError, OSError) as exc:
            parser.error(str(exc))
        results = run_cases(cases, lambda c: run_live(c, address))
    else:
        from ._inprocess import run_inprocess

        results = run_cases(cases, run_inprocess)
    if args.json_out:
        by_id = {c.id: c for c in cases}
        rows = [
            {
                "id": case_id,
                "category": by_id[case_id].category,
                "rule": by_id[case_id].rule,
                "strength": by_id[case_id].strength,
                "passed": not problems,
                "failures": problems,
            }
            for case_id, problems in results.items()
        ]
        args.json_out.write_text(json.dumps(rows, indent=1) + "\n")
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
