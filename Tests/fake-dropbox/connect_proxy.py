#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for tests: tunnels TLS to the target and appends each
CONNECT target to LOG. Usage: connect_proxy.py STATE_DIR (writes STATE_DIR/port, STATE_DIR/connects)."""
import os
import select
import socket
import sys
import threading


def tunnel(client: socket.socket, log_path: str) -> None:
    try:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                return
            request += chunk
        line = request.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        with open(log_path, "a") as log:
            log.write(target + "\n")
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=10)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (upstream if s is client else client).sendall(data)
    except OSError:
        pass
    finally:
        client.close()


def main() -> None:
    state = sys.argv[1]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    with open(os.path.join(state, "port.tmp"), "w") as f:
        f.write(str(server.getsockname()[1]))
    os.rename(os.path.join(state, "port.tmp"), os.path.join(state, "port"))
    log_path = os.path.join(state, "connects")
    while True:
        client, _ = server.accept()
        threading.Thread(target=tunnel, args=(client, log_path), daemon=True).start()


if __name__ == "__main__":
    main()
