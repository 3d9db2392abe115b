"""The connection's state machine, as data.

Theory of operation
-------------------
One HTTP/1.1 server connection answers requests strictly in order. Its state
is the state of the *answering* side: which part of the response to the
oldest unanswered request may be produced next. Parsing runs ahead of it
(pipelined requests are parsed eagerly and held), so the parser keeps its own
small bookkeeping in ``_parser.py``; this table only changes when the core
releases an event to the driver or the driver produces response bytes.

    IDLE          no request released; waiting for a request head.
    RECV_REQUEST  a head was released; the app owes a response (its body may
                  still be arriving).
    SEND_BODY     the response head was produced; body bytes and the end may
                  follow.
    MUST_CLOSE    the last response ended and the connection must close.
    SWITCHED      a 101 (or 2xx to CONNECT) was sent: HTTP is over.
    ERROR         the peer broke the protocol (or a deadline passed); only the
                  error response may be produced.
    CLOSED        the error response was produced or the core gave up; the
                  driver closes the socket.

Invariants: every state change is a lookup in ``TRANSITIONS``. It happens in
``_transition`` in ``_connection.py``, except on the per-request hot paths
(a request that arrived whole, the next pipelined request, a cached
response head), which assign the result of that lookup, made once at
import, where the state is known, to save a call. A trigger missing from
the table raises ``LocalProtocolError`` and changes nothing.
ERROR and CLOSED are sticky: no trigger leads out of them except
ERROR -> CLOSED.

Rules that do not fit the table sit in ``_connection.py`` beside the code,
with the reason: whether a finished response leads to IDLE or MUST_CLOSE
(keep-alive is a property of the request and the response, not a state), and
the upgrade decision (it depends on the response status).
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    """States of the answering side of a server connection."""

    # Members are singletons: identity hashing is exact and, unlike Enum's
    # name-based __hash__, runs in C (the transition table is on the hot path).
    __hash__ = object.__hash__

    IDLE = "IDLE"
    RECV_REQUEST = "RECV_REQUEST"
    SEND_BODY = "SEND_BODY"
    MUST_CLOSE = "MUST_CLOSE"
    SWITCHED = "SWITCHED"
    ERROR = "ERROR"
    CLOSED = "CLOSED"


class Trigger(enum.Enum):
    """What happened: an event released or bytes produced."""

    __hash__ = object.__hash__

    REQUEST_HEAD = "request_head"  # a RequestHead was handed to the driver
    SEND_HEAD = "send_head"  # the final response head was produced
    RESPONSE_DONE = "response_done"  # the response ended, connection stays
    RESPONSE_DONE_CLOSE = "response_done_close"  # it ended; connection closes
    SWITCH = "switch"  # 101 / CONNECT 2xx produced
    PEER_ERROR = "peer_error"  # RequestRejected released, or 408
    CLOSE = "close"  # error response produced, shutdown, drain expired
    LOCAL_ERROR = "local_error"  # the app broke framing: close, never corrupt


S = State
T = Trigger

#: (state, trigger) -> next state. Anything absent is illegal.
TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (S.IDLE, T.REQUEST_HEAD): S.RECV_REQUEST,
    (S.IDLE, T.PEER_ERROR): S.ERROR,
    (S.IDLE, T.CLOSE): S.CLOSED,
    (S.RECV_REQUEST, T.SEND_HEAD): S.SEND_BODY,
    (S.RECV_REQUEST, T.RESPONSE_DONE): S.IDLE,
    (S.RECV_REQUEST, T.RESPONSE_DONE_CLOSE): S.MUST_CLOSE,
    (S.RECV_REQUEST, T.SWITCH): S.SWITCHED,
    (S.RECV_REQUEST, T.PEER_ERROR): S.ERROR,
    (S.RECV_REQUEST, T.LOCAL_ERROR): S.MUST_CLOSE,
    (S.RECV_REQUEST, T.CLOSE): S.CLOSED,
    (S.SEND_BODY, T.RESPONSE_DONE): S.IDLE,
    (S.SEND_BODY, T.RESPONSE_DONE_CLOSE): S.MUST_CLOSE,
    (S.SEND_BODY, T.PEER_ERROR): S.ERROR,
    (S.SEND_BODY, T.LOCAL_ERROR): S.MUST_CLOSE,
    (S.SEND_BODY, T.CLOSE): S.CLOSED,
    (S.MUST_CLOSE, T.CLOSE): S.CLOSED,
    (S.MUST_CLOSE, T.PEER_ERROR): S.MUST_CLOSE,
    (S.MUST_CLOSE, T.LOCAL_ERROR): S.MUST_CLOSE,
    (S.SWITCHED, T.CLOSE): S.CLOSED,
    (S.ERROR, T.CLOSE): S.CLOSED,
    (S.ERROR, T.PEER_ERROR): S.ERROR,
    (S.ERROR, T.LOCAL_ERROR): S.ERROR,
    (S.CLOSED, T.CLOSE): S.CLOSED,
    (S.CLOSED, T.PEER_ERROR): S.CLOSED,
    (S.CLOSED, T.LOCAL_ERROR): S.CLOSED,
}
