"""A network partition between botops and PostgreSQL, for tests/store/test_postgres_timeouts.py.

    unshare -n python partition_proc.py DATABASE_URL SERVER_SOCKET

Runs in a network namespace of its own, so the firewall rules it adds touch nothing else. Its
loopback relays TCP to the server's Unix socket (SERVER_SOCKET, reachable from any namespace);
an engine from `open_database` talks to the relay, then both directions of the relay's port
are dropped: packets vanish without a FIN or RST, as in a real partition. (A relay that just
stops forwarding would not do: its kernel still acknowledges every byte and answers every
keepalive, so no TCP-level timeout can tell it from a slow server.)

Prints one JSON line: the error the query ended with and after how long, and whether a query
works again once the partition ends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time

from sqlalchemy import text
from sqlalchemy.engine import make_url

from botops.store.db import open_database


def relay(server_socket: str) -> int:
    listener = socket.create_server(("127.0.0.1", 0))

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while True:
            client, _ = listener.accept()
            server = socket.socket(socket.AF_UNIX)
            server.connect(server_socket)
            threading.Thread(target=pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=pipe, args=(server, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    port: int = listener.getsockname()[1]
    return port


def firewall(action: str, port: int) -> None:
    for direction in ("--dport", "--sport"):
        rule = ["INPUT", "-p", "tcp", direction, str(port), "-j", "DROP"]
        subprocess.run(["iptables", action, *rule], check=True)


def main(url: str, server_socket: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port = relay(server_socket)
    engine = open_database(make_url(url).set(host="127.0.0.1", port=port).render_as_string(False))
    with engine.begin() as conn:  # a pooled connection, then the partition
        conn.execute(text("SELECT 1"))
    firewall("-I", port)
    started = time.monotonic()
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
        error = None
    except Exception as exc:
        error = type(exc).__name__
    seconds = time.monotonic() - started
    firewall("-D", port)
    with engine.begin() as conn:
        healed = conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
    print(json.dumps({"error": error, "seconds": seconds, "healed": healed}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
