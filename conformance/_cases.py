"""Loading and validating the case corpus (``conformance/cases/*.toml``).

A case file holds a top-level ``category`` and an array of ``[[case]]``
tables. Byte strings are TOML strings read as latin-1, so every byte value
0-255 can be written (``\\u0000`` for NUL, ``\\r\\n`` for CRLF). The format is
described in ``conformance/README.md``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads the corpus with the tomli backport
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

CASES_DIR = Path(__file__).with_name("cases")

StepKind = Literal["data", "pause", "half_close", "wait_100"]
Outcome = Literal["accept", "reject", "either"]

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_STRENGTHS = ("MUST", "SHOULD", "MAY")
_OUTCOMES = ("accept", "reject", "either")


class CaseError(ValueError):
    """A case file does not follow the corpus format."""


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the client does: send bytes, pause, half-close, or wait for 100."""

    kind: StepKind
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ResponseCheck:
    """Checks on the response to one expected request (``None``: not checked)."""

    status: int | None = None
    body_empty: bool | None = None
    no_te: bool | None = None


@dataclass(frozen=True, slots=True)
class ExpectedRequest:
    """A request the echo application must see, as it must see it."""

    method: str
    target: str
    body: bytes = b""
    version: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    absent: tuple[str, ...] = ()
    response: ResponseCheck = field(default_factory=ResponseCheck)


@dataclass(frozen=True, slots=True)
class Case:
    """One conformance case: what the client sends and what must happen."""

    id: str
    category: str
    rule: str
    strength: str
    description: str
    steps: tuple[Step, ...]
    expect: Outcome
    requests: tuple[ExpectedRequest, ...] = ()
    status: tuple[int, ...] = ()
    prefix: int = 0
    closed: bool | None = None
    continue_sent: bool | None = None
    source: str = ""

    @property
    def wire_size(self) -> int:
        """Total bytes the client sends."""
        return sum(len(s.data) for s in self.steps)

    def segments(self) -> list[Step]:
        """Steps with adjacent data joined: each data step is one write."""
        out: list[Step] = []
        for step in self.steps:
            if step.kind == "data" and out and out[-1].kind == "data":
                out[-1] = Step("data", out[-1].data + step.data)
            else:
                out.append(step)
        return out


def _bytes(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise CaseError(f"{where}: expected a string, got {type(value).__name__}")
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise CaseError(f"{where}: characters above U+00FF cannot stand for bytes") from exc


def _bool(table: Mapping[str, object], key: str, where: str) -> bool | None:
    value = table.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise CaseError(f"{where}: {key} must be true or false")


def _steps(table: Mapping[str, object], where: str) -> tuple[Step, ...]:
    if ("raw" in table) == ("steps" in table):
        raise CaseError(f"{where}: give exactly one of raw or steps")
    if "raw" in table:
        return (Step("data", _bytes(table["raw"], f"{where}.raw")),)
    raw_steps = table["steps"]
    if not isinstance(raw_steps, list) or not raw_steps:
        raise CaseError(f"{where}: steps must be a non-empty array")
    steps: list[Step] = []
    for i, item in enumerate(raw_steps):
        here = f"{where}.steps[{i}]"
        if not isinstance(item, dict):
            raise CaseError(f"{here}: each step is a table")
        if "data" in item:
            repeat = item.get("repeat", 1)
            if not isinstance(repeat, int) or not 1 <= repeat <= 4 * 1024 * 1024:
                raise CaseError(f"{here}: repeat must be an integer in 1..4Mi")
            steps.append(Step("data", _bytes(item["data"], here) * repeat))
        elif item.get("pause") is True:
            steps.append(Step("pause"))
        elif item.get("half_close") is True:
            steps.append(Step("half_close"))
        elif item.get("wait_100") is True:
            steps.append(Step("wait_100"))
        else:
            raise CaseError(f"{here}: a step is data, pause, half_close or wait_100")
    if steps[-1].kind == "half_close" or all(s.kind != "half_close" for s in steps):
        return tuple(steps)
    raise CaseError(f"{where}: half_close must be the last step")


def _request(item: object, where: str) -> ExpectedRequest:
    if not isinstance(item, dict):
        raise CaseError(f"{where}: each request is a table")
    for key in ("method", "target"):
        if not isinstance(item.get(key), str):
            raise CaseError(f"{where}: {key} is required")
    headers = item.get("headers", [])
    if not isinstance(headers, list) or not all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in headers
    ):
        raise CaseError(f"{where}: headers is an array of [name, value] pairs")
    absent = item.get("absent", [])
    if not isinstance(absent, list) or not all(isinstance(a, str) for a in absent):
        raise CaseError(f"{where}: absent is an array of header names")
    resp = item.get("response", {})
    if not isinstance(resp, dict):
        raise CaseError(f"{where}: response is a table")
    status = resp.get("status")
    if status is not None and not isinstance(status, int):
        raise CaseError(f"{where}: response.status is an integer")
    repeat = item.get("body_repeat", 1)
    if not isinstance(repeat, int) or not 1 <= repeat <= 4 * 1024 * 1024:
        raise CaseError(f"{where}: body_repeat must be an integer in 1..4Mi")
    version = item.get("version")
    if version is not None and version not in ("1.0", "1.1"):
        raise CaseError(f"{where}: version is 1.0 or 1.1")
    return ExpectedRequest(
        method=str(item["method"]),
        target=str(item["target"]),
        body=_bytes(item.get("body", ""), f"{where}.body") * repeat,
        version=version,
        headers=tuple((h[0], h[1]) for h in headers),
        absent=tuple(absent),
        response=ResponseCheck(
            status=status,
            body_empty=_bool(resp, "body_empty", where),
            no_te=_bool(resp, "no_te", where),
        ),
    )


def _case(table: object, category: str, source: str, index: int) -> Case:
    where = f"{source}: case[{index}]"
    if not isinstance(table, dict):
        raise CaseError(f"{where}: not a table")
    case_id = table.get("id")
    if not isinstance(case_id, str) or not _ID_RE.match(case_id):
        raise CaseError(f"{where}: id must match {_ID_RE.pattern}")
    where = f"{source}: {case_id}"
    known = {
        "id", "category", "rule", "strength", "desc", "raw", "steps", "expect",
        "requests", "status", "prefix", "closed", "continue",
    }  # fmt: skip
    unknown = set(table) - known
    if unknown:
        raise CaseError(f"{where}: unknown keys {sorted(unknown)}")
    rule, strength, expect = table.get("rule"), table.get("strength"), table.get("expect")
    if not isinstance(rule, str) or not rule:
        raise CaseError(f"{where}: rule (RFC section or CVE) is required")
    if strength not in _STRENGTHS:
        raise CaseError(f"{where}: strength must be one of {_STRENGTHS}")
    if expect not in _OUTCOMES:
        raise CaseError(f"{where}: expect must be one of {_OUTCOMES}")
    raw_requests = table.get("requests", [])
    if not isinstance(raw_requests, list):
        raise CaseError(f"{where}: requests is an array")
    requests = tuple(_request(r, f"{where}.requests[{i}]") for i, r in enumerate(raw_requests))
    status = table.get("status", [])
    if isinstance(status, int):
        status = [status]
    if not isinstance(status, list) or not all(isinstance(s, int) for s in status):
        raise CaseError(f"{where}: status is an integer or an array of them")
    prefix = table.get("prefix", 0)
    if not isinstance(prefix, int) or not 0 <= prefix <= len(requests):
        raise CaseError(f"{where}: prefix counts leading requests of the accept branch")
    if expect == "accept" and (status or prefix):
        raise CaseError(f"{where}: status and prefix belong to reject and either cases")
    if expect == "accept" and not requests:
        raise CaseError(f"{where}: an accept case lists the requests the app sees")
    steps = _steps(table, where)
    closed = _bool(table, "closed", where)
    if closed is False and steps[-1].kind == "half_close":
        raise CaseError(f"{where}: closed = false cannot follow a half-close")
    cat = table.get("category", category)
    if not isinstance(cat, str):
        raise CaseError(f"{where}: category is a string")
    desc = table.get("desc", "")
    return Case(
        id=case_id,
        category=cat,
        rule=rule,
        strength=str(strength),
        description=str(desc),
        steps=steps,
        expect=expect,
        requests=requests,
        status=tuple(status),
        prefix=prefix,
        closed=closed,
        continue_sent=_bool(table, "continue", where),
        source=source,
    )


def load_file(path: Path) -> list[Case]:
    """Parse one case file; raises ``CaseError`` on any format problem."""
    with path.open("rb") as f:
        try:
            doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise CaseError(f"{path.name}: {exc}") from exc
    category = doc.get("category")
    if not isinstance(category, str):
        raise CaseError(f"{path.name}: a top-level category is required")
    tables = doc.get("case", [])
    if not isinstance(tables, list):
        raise CaseError(f"{path.name}: cases are [[case]] tables")
    return [_case(t, category, path.name, i) for i, t in enumerate(tables)]


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    """Every case of the corpus, in file then file order; ids are unique."""
    cases: list[Case] = []
    for path in sorted(directory.glob("*.toml")):
        cases.extend(load_file(path))
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise CaseError(f"{case.source}: duplicate id {case.id}")
        seen.add(case.id)
    return cases


def select(
    cases: Iterable[Case], only: Iterable[str] = (), category: str | None = None
) -> list[Case]:
    """The cases named in ``only`` (all when empty) in ``category`` (any when None)."""
    wanted = set(only)
    picked = [
        c
        for c in cases
        if (not wanted or c.id in wanted) and (category is None or c.category == category)
    ]
    missing = wanted - {c.id for c in picked}
    if missing and category is None:
        raise CaseError(f"unknown case ids: {', '.join(sorted(missing))}")
    return picked
