"""The shipped conformance corpus, run in-process against the protocol core.

One test per case (and a byte-at-a-time replay of each small case), so a
failure names the case. The judge and the corpus format have their own
tests at the end: a judge that passed everything would make the corpus
worthless.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance._cases import Case, CaseError, Step, load_cases, load_file
from conformance._inprocess import run_inprocess
from conformance._judge import PROBE, Transcript, judge, parse_responses

CASES = load_cases()
BYTEWISE_MAX = 4096  # replaying bigger cases one byte at a time adds time, not coverage


def test_corpus_size_and_coverage() -> None:
    assert len(CASES) >= 200
    categories = {c.category for c in CASES}
    for needed in (
        "content-length", "transfer-encoding", "smuggling", "chunked", "headers",
        "line-endings", "host", "request-line", "version", "pipelining", "connection",
        "expect", "upgrade", "response-framing", "limits",
    ):  # fmt: skip
        assert needed in categories
    assert {c.expect for c in CASES} == {"accept", "reject", "either"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case) -> None:
    problems = judge(case, run_inprocess(case))
    assert not problems, "\n".join(problems)


SMALL = [c for c in CASES if c.wire_size <= BYTEWISE_MAX]


@pytest.mark.parametrize("case", SMALL, ids=[c.id for c in SMALL])
def test_case_bytewise(case: Case) -> None:
    problems = judge(case, run_inprocess(case, split=1))
    assert not problems, "\n".join(problems)


# -- the judge itself ---------------------------------------------------------


def _echo(
    method: str, target: str, body: bytes = b"", seq: int = 1, version: str = "1.1"
) -> bytes:
    import base64

    doc = json.dumps(
        {
            "method": method,
            "target": target,
            "http_version": version,
            "headers": [["Host", "a"]],
            "body_b64": base64.b64encode(body).decode(),
            "seq": seq,
        }
    ).encode()
    head = f"HTTP/1.1 200 OK\r\nx-echo-method: {method}\r\ncontent-length: {len(doc)}\r\n\r\n"
    return head.encode() + doc


def _case(**kw: object) -> Case:
    base: dict[str, object] = {
        "id": "t",
        "category": "t",
        "rule": "r",
        "strength": "MUST",
        "description": "",
        "steps": (Step("data", b"x"),),
        "expect": "reject",
    }
    base.update(kw)
    return Case(**base)  # type: ignore[arg-type]


def test_judge_flags_smuggled_request() -> None:
    case = _case(status=(400,))
    data = _echo("GET", "/smuggled") + b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
    problems = judge(case, Transcript(data, True))
    assert any("smuggled request reached the app" in p for p in problems)


def test_judge_reject_passes_on_error_or_close() -> None:
    case = _case()
    assert (
        judge(case, Transcript(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n", True))
        == []
    )
    assert judge(case, Transcript(b"", True)) == []
    assert judge(case, Transcript(b"", False)) != []  # neither answered nor closed
    pinned = _case(status=(400,))
    assert judge(pinned, Transcript(b"", True)) != []  # the RFC pins a 400


def test_judge_accept_checks_body_and_probe() -> None:
    from conformance._cases import ExpectedRequest

    case = _case(expect="accept", closed=False, requests=(ExpectedRequest("POST", "/", b"hi"),))
    good = _echo("POST", "/", b"hi") + _echo("GET", "/__keepalive_probe", seq=2)
    assert judge(case, Transcript(good, False)) == []
    assert judge(case, Transcript(_echo("POST", "/", b"hi"), True)) != []  # probe unanswered
    wrong = _echo("POST", "/", b"ho") + _echo("GET", "/__keepalive_probe", seq=2)
    assert any("body" in p for p in judge(case, Transcript(wrong, False)))


def test_judge_rejects_chunked_to_http10() -> None:
    from conformance._cases import ExpectedRequest

    case = _case(expect="accept", requests=(ExpectedRequest("GET", "/stream"),))
    doc = _echo("GET", "/stream", version="1.0").split(b"\r\n\r\n", 1)[1]
    data = (
        b"HTTP/1.1 200 OK\r\nx-echo-method: GET\r\ntransfer-encoding: chunked\r\n\r\n"
        + f"{len(doc):x}\r\n".encode()
        + doc
        + b"\r\n0\r\n\r\n"
    )
    assert any("HTTP/1.0" in p for p in judge(case, Transcript(data, True)))


def test_parse_responses_head_and_close_delimited() -> None:
    head = b"HTTP/1.1 200 OK\r\nx-echo-method: HEAD\r\nx-echo: e30=\r\ncontent-length: 99\r\n\r\n"
    tail = b"HTTP/1.0 200 OK\r\nx-echo-method: GET\r\n\r\n{}"
    responses, problem = parse_responses(head + tail, True)
    assert problem is None
    assert [r.body for r in responses] == [b"", b"{}"]
    _, problem = parse_responses(head + tail, False)
    assert problem is None  # the close-delimited body is simply not complete yet
    _, problem = parse_responses(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab", True)
    assert problem is not None and "truncated" in problem


def test_case_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('category = "x"\n[[case]]\nid = "a"\nrule = "r"\nstrength = "OFTEN"\n')
    with pytest.raises(CaseError, match="strength"):
        load_file(bad)
    bad.write_text(
        'category = "x"\n[[case]]\nid = "a"\nrule = "r"\nstrength = "MUST"\n'
        'raw = "\\u0100"\nexpect = "reject"\n'
    )
    with pytest.raises(CaseError, match="U\\+00FF"):
        load_file(bad)


def test_probe_is_a_valid_request() -> None:
    assert PROBE.endswith(b"\r\n\r\n") and b"Host:" in PROBE
