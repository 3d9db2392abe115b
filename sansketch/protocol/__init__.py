"""The Sans-I/O HTTP/1.1 server core: bytes in, events out.

Imports nothing that performs I/O or reads a clock; see ``ServerConnection``.
"""

from ._connection import Action, DeadlineAction, ServerConnection
from ._counters import RejectionCounters
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import BodyData, Event, Headers, RequestEnd, RequestHead, RequestRejected, Upgrade
from ._limits import Limits
from ._state import State

__all__ = [
    "Action",
    "BodyData",
    "DeadlineAction",
    "Event",
    "Headers",
    "Limits",
    "LocalProtocolError",
    "ProtocolError",
    "RejectionCounters",
    "RemoteProtocolError",
    "RequestEnd",
    "RequestHead",
    "RequestRejected",
    "ServerConnection",
    "State",
    "Upgrade",
]
