"""Security counters: how many requests were refused, and why.

One ``RejectionCounters`` is shared by every connection of a server (pass it
as ``ServerConnection(limits, counters=...)``). The core adds one count each
time it answers a ``RequestRejected`` through ``send_error`` (a head timeout
included), keyed by a short reason slug and the status sent. Drivers and the
app layer may add their own keys (a handler timeout, a reader that stopped
reading) with ``add``.

Counting is a dict increment: no lock, since a server's connections share one
event-loop thread. Slugs come from a fixed table, never from client input, so
the number of keys stays small whatever a client sends.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._events import RequestRejected

# Reason text (as the parser writes it) -> slug; the first prefix that
# matches wins. Anything else is "malformed" (llhttp's own messages).
_SLUGS: tuple[tuple[str, str], ...] = (
    ("request head timeout", "head-timeout"),
    ("request line too long", "line-too-long"),
    ("header section too large", "headers-too-large"),
    ("too many header", "headers-too-many"),
    ("request body too large", "body-too-large"),
    ("chunk extension too long", "chunk-extension"),
    ("connection closed mid-request", "closed-mid-request"),
    ("unknown method", "unknown-method"),
    ("unsupported transfer coding", "unknown-coding"),
    ("unsupported expectation", "bad-expect"),
    ("unsupported HTTP version", "bad-version"),
    ("missing or repeated Host", "bad-host"),
    ("invalid Host", "bad-host"),
    ("Content-Length with Transfer-Encoding", "smuggling"),
    ("Transfer-Encoding in an HTTP/1.0", "smuggling"),
    ("Content-Length can't be present", "smuggling"),
    ("Duplicate Content-Length", "smuggling"),
    ("chunked is not the final", "smuggling"),
    ("chunked applied twice", "smuggling"),
    ("invalid request-target", "bad-target"),
    ("fragment in request-target", "bad-target"),
)
# When the text is not in the table the status still says a lot.
_BY_STATUS = {408: "head-timeout", 413: "body-too-large", 414: "line-too-long",
              431: "headers-too-large", 501: "not-implemented", 505: "bad-version"}  # fmt: skip


def reason_slug(reason: str, status: int) -> str:
    """The counter slug for a rejection: a short fixed word, never client text."""
    for prefix, slug in _SLUGS:
        if reason.startswith(prefix):
            return slug
    return _BY_STATUS.get(status, "malformed")


class RejectionCounters:
    """Counts of refused requests, keyed by ``(slug, status)``.

    Example::

        counters = RejectionCounters()
        counters.record(RequestRejected(408, "request head timeout"))
        counters[("head-timeout", 408)]  # 1
        counters.total()  # 1
    """

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}

    def add(self, slug: str, status: int, n: int = 1) -> None:
        """Count ``n`` events under ``(slug, status)`` (status 0: none was sent)."""
        key = (slug, status)
        self._counts[key] = self._counts.get(key, 0) + n

    def record(self, event: RequestRejected) -> None:
        """Count one rejection the core answers."""
        self.add(reason_slug(event.reason, event.status), event.status)

    def __getitem__(self, key: tuple[str, int]) -> int:
        return self._counts.get(key, 0)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(list(self._counts))

    def __len__(self) -> int:
        return len(self._counts)

    def total(self) -> int:
        """All events counted so far."""
        return sum(self._counts.values())

    def snapshot(self) -> dict[tuple[str, int], int]:
        """A copy of the counts, sorted by key."""
        return dict(sorted(self._counts.items()))

    def format(self) -> str:
        """One log-friendly line, e.g. ``head-timeout/408=3 malformed/400=1``."""
        if not self._counts:
            return "none"
        return " ".join(f"{slug}/{status}={n}" for (slug, status), n in self.snapshot().items())

    def __repr__(self) -> str:
        return f"<RejectionCounters {self.format()}>"
