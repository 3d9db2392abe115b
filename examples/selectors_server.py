"""Hello world on a plain ``selectors`` loop, using only the protocol core:
keep-alive, pipelining, timeouts and errors come from ``ServerConnection``;
this file only moves bytes. Run: ``python examples/selectors_server.py [--port N]``
"""

from __future__ import annotations

import argparse
import selectors
import socket
import time

from sansketch.protocol import (
    Action,
    DeadlineAction,
    RequestEnd,
    RequestRejected,
    ServerConnection,
)

BODY, HEADERS = b"Hello, World!\n", [(b"Content-Type", b"text/plain; charset=utf-8")]


def handle(sock: socket.socket, conn: ServerConnection, data: bytes) -> bool:
    """Feed ``data``, answer what completed; False once the socket must close."""
    out = []
    events = conn.receive_data(data, time.monotonic())
    while events:
        for event in events:
            if isinstance(event, RequestRejected):  # bad request: answer, close
                out.append(conn.send_error(event))
            elif isinstance(event, RequestEnd):  # a real app reads BodyData too
                out.append(conn.send_response(200, HEADERS, BODY))
        events = conn.next_events(time.monotonic())  # held pipelined requests
    sock.sendall(b"".join(out))  # blocking write keeps the example short
    return conn.action in (Action.READ, Action.PAUSE)


def serve(port: int) -> None:
    """Accept and serve connections until interrupted."""
    sel = selectors.DefaultSelector()
    listener = socket.create_server(("127.0.0.1", port))
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    print(f"listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    conns: dict[socket.socket, ServerConnection] = {}
    while True:
        deadlines = [d for c in conns.values() if (d := c.next_deadline()) is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        for key, _ in sel.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is listener:
                client, _ = listener.accept()
                sel.register(client, selectors.EVENT_READ, None)
                conns[client] = ServerConnection(now=time.monotonic())
                continue
            try:
                alive = handle(sock, conns[sock], sock.recv(65536))
            except OSError:
                alive = False
            if not alive:
                sel.unregister(sock)
                sock.close()
                del conns[sock]
        for sock, conn in list(conns.items()):  # timeouts: 408, idle close
            kind, out = conn.on_deadline(time.monotonic())
            if kind is not DeadlineAction.NOTHING:
                sock.sendall(out)
                sel.unregister(sock)
                sock.close()
                del conns[sock]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="sansketch protocol core on selectors")
    parser.add_argument("--port", type=int, default=8080)
    serve(parser.parse_args().port)
