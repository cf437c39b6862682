#!/usr/bin/env python3
"""A shaped link in front of a TCP server: a round-trip time and a bandwidth limit.

fake_dropbox.py starts this as a child process when it is given --rtt-ms or --bandwidth-mbit
(README.md, "Shaping: round-trip time and bandwidth"): the fake then serves on an internal loopback
port, and this relay owns the public listening socket (passed as an inherited fd). It works below
TLS, on the TCP byte stream, so every flight pays the delay: the TLS handshake's as well as each
HTTP request's and answer's. Standard library only; a separate process so that its timers do not
wait for the fake's GIL.

The model, per direction (client to server, server to client):
- one token bucket of `rate` bytes/s and `burst` bytes for the whole direction, shared by all
  connections (an access link): a chunk leaves when the bucket has its bytes (chunks of several
  connections interleave; the burst absorbs the timers' slack);
- then a one-way delay of rtt/2 before it is written to the other side;
- the TCP handshake: the kernel completes connect() on loopback at once, so the client's first
  bytes are held one extra round trip (they leave at accept + rtt, as they would after a SYN /
  SYN-ACK exchange); a client that sends right after connect() sees the same total time;
- at most `queue_limit` bytes are in flight per direction of a connection (a TCP window of
  4 MiB plus one bandwidth-delay product); beyond that, and while a chunk waits for the bucket,
  the relay stops reading and TCP's own flow control pushes back.
Not modelled: loss, reordering, jitter, TCP slow start and congestion control (the real sockets
on both sides see loopback), TCP/IP header bytes (only payload bytes, TLS records included, are
counted against the rate).
"""

import argparse
import collections
import os
import socket
import sys
import threading
import time

READ = 16 << 10    # one chunk: 0.66 ms at 200 Mbit/s, so the bucket shapes finely
HANDSHAKE_FLIGHTS = 1  # round trips the kernel's TCP handshake would cost before the first byte


class Bucket:
    """A token bucket of `rate` bytes/s holding at most `burst` bytes, computed lazily:
    `free` is when everything given to it so far has left."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.free = 0.0
        self.lock = threading.Lock()

    def depart(self, n, ready):
        """When n bytes that are ready to leave at `ready` have left."""
        if not self.rate:
            return ready
        with self.lock:
            start = max(self.free, ready - self.burst / self.rate)
            self.free = start + n / self.rate
            return max(ready, self.free)


class Pipe:
    """One direction of one connection: a reader thread queues chunks with their delivery time,
    a writer thread writes each at its time."""

    def __init__(self, conn, src, dst, bucket, delay, not_before, limit):
        self.conn, self.src, self.dst = conn, src, dst
        self.bucket, self.delay, self.not_before, self.limit = bucket, delay, not_before, limit
        self.queue = collections.deque()   # (deliver_at, bytes or None for EOF)
        self.queued = 0
        self.cond = threading.Condition()

    def start(self):
        for target in (self.read_loop, self.write_loop):
            threading.Thread(target=target, daemon=True).start()

    def put(self, at, data):
        with self.cond:
            self.queue.append((at, data))
            self.queued += len(data) if data else 0
            self.cond.notify_all()

    def read_loop(self):
        last = 0.0
        try:
            while True:
                with self.cond:
                    while self.queued >= self.limit and not self.conn.dead:
                        self.cond.wait(0.5)
                if self.conn.dead:
                    return
                data = self.src.recv(READ)
                if not data:
                    break
                # Wait here for the bucket, not in the queue: bytes not yet sent hold no link time
                # (another connection's chunks interleave; a reset drops them), and meanwhile the
                # source's bytes stay in its socket buffer, so TCP pushes back.
                depart = self.bucket.depart(len(data), max(time.monotonic(), self.not_before))
                wait = depart - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                last = depart + self.delay
                self.put(last, data)
        except OSError:
            self.conn.abort()
            return
        self.put(max(last, time.monotonic() + self.delay), None)   # the FIN travels too

    def write_loop(self):
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.conn.dead:
                        self.cond.wait(0.5)
                    if self.conn.dead:
                        return
                    at, data = self.queue[0]
                wait = at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if data is None:
                    self.dst.shutdown(socket.SHUT_WR)
                    self.conn.half_closed()
                    return
                self.dst.sendall(data)
                with self.cond:
                    self.queue.popleft()
                    self.queued -= len(data)
                    self.cond.notify_all()
        except OSError:
            self.conn.abort()


class Connection:
    def __init__(self, client, upstream):
        self.client, self.upstream = client, upstream
        self.dead = False
        self.closed_dirs = 0
        self.lock = threading.Lock()

    def half_closed(self):
        with self.lock:
            self.closed_dirs += 1
            done = self.closed_dirs == 2
        if done:
            self.close(reset=False)

    def abort(self):
        """An error in either direction: reset both sides, as a broken path would."""
        self.close(reset=True)

    def close(self, reset):
        with self.lock:
            if self.dead:
                return
            self.dead = True
        for s in (self.client, self.upstream):
            try:
                if reset:   # close() sends RST; SHUT_RD first wakes a reader blocked in recv()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.shutdown(socket.SHUT_RD)
            except OSError:
                pass
            s.close()


def serve(listener, upstream_addr, rtt, buckets, queue_limit):
    delay = rtt / 2
    up_bucket, down_bucket = buckets
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        accepted = time.monotonic()
        try:
            upstream = socket.create_connection(upstream_addr)
        except OSError:
            client.close()
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(client, upstream)
        Pipe(conn, client, upstream, up_bucket, delay, accepted + HANDSHAKE_FLIGHTS * rtt, queue_limit).start()
        Pipe(conn, upstream, client, down_bucket, delay, 0.0, queue_limit).start()


def queue_limit_for(rtt, rate):
    """Bytes in flight per direction of a connection: a bandwidth-delay product, so the link can
    stay full, and 4 MiB more (without a rate this is the window: 4 MiB per round trip)."""
    return (4 << 20) + int((rate or 0) * rtt)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A shaped TCP relay (RTT and bandwidth); see README.md")
    ap.add_argument("--fd", required=True, help="inherited listening sockets, comma-separated")
    ap.add_argument("--to", required=True, help="HOST:PORT of the server behind the link")
    ap.add_argument("--rtt-ms", type=float, default=0.0)
    ap.add_argument("--bandwidth-mbit", type=float, default=0.0, help="each direction; 0 = unlimited")
    ap.add_argument("--burst-kib", type=float, default=64.0, help="token bucket depth")
    args = ap.parse_args(argv)
    host, port = args.to.rsplit(":", 1)
    rtt = args.rtt_ms / 1000
    rate = args.bandwidth_mbit * 1e6 / 8
    parent = os.getppid()
    buckets = Bucket(rate, args.burst_kib * 1024), Bucket(rate, args.burst_kib * 1024)
    for fd in args.fd.split(","):   # one link (one pair of buckets) for every address
        threading.Thread(target=serve, daemon=True,
                         args=(socket.socket(fileno=int(fd)), (host, int(port)), rtt, buckets,
                               queue_limit_for(rtt, rate))).start()
    while os.getppid() == parent:   # the fake is gone (even by SIGKILL): so is its link
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
