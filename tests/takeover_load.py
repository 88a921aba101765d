#!/usr/bin/env python3
"""A load generator for the zero-downtime restart tests (tests/e2e/takeover.sh): it keeps connections going
through a proxy until told to stop, and counts every one that did not come back whole.

  takeover_load.py --connect HOST:PORT [--bind IP] [--proxy-header v1|none] [--workers N] [--long N]
                   --stop-file PATH --out PATH

Short connections: each worker connects, sends a PROXY v1 header (a unique client address and port per
connection, so the server side never reuses a 4-tuple) and 1-32 KiB of seeded bytes, shuts down its sending
side, and reads the echo to the end; the connection counts as ok only if the echo is byte for byte what it sent.
Long connections (--long): each one stays open, sending a chunk every 100 ms and checking its echo, until the
stop file appears; then it half-closes and reads the rest. A refused connect, a reset, a timeout, a short or wrong
echo: each is a failure, with its reason. When the stop file appears, the workers finish the connection at hand,
and the totals go to --out as JSON: {"ok":N,"failed":N,"reasons":{...},"long_ok":N,"long_failed":N,
"rate_per_s":X}.
"""
import argparse
import hashlib
import json
import os
import random
import socket
import threading
import time

TIMEOUT_S = 10


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.reasons = {}
        self.long_ok = 0
        self.long_failed = 0

    def add(self, reason, long=False):
        with self.lock:
            if reason is None:
                if long:
                    self.long_ok += 1
                else:
                    self.ok += 1
                return
            if long:
                self.long_failed += 1
            else:
                self.failed += 1
            self.reasons[reason] = self.reasons.get(reason, 0) + 1


def header(kind, n, dst):
    if kind == 'none':
        return b''
    src = '203.0.113.%d' % (1 + n % 250)
    port = 10000 + (n // 250) % 50000
    return ('PROXY TCP4 %s %s %d %d\r\n' % (src, dst[0], port, dst[1])).encode()


def read_all(sock, want):
    got = bytearray()
    while len(got) < want + 1:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return bytes(got)


def connect(args, dst):
    source = (args.bind, 0) if args.bind else None
    return socket.create_connection(dst, timeout=TIMEOUT_S, source_address=source)


def short_connection(args, n, dst, totals):
    rnd = random.Random(n)
    payload = rnd.randbytes(rnd.randint(1024, 32 * 1024))
    try:
        with connect(args, dst) as s:
            s.sendall(header(args.proxy_header, n, dst) + payload)
            s.shutdown(socket.SHUT_WR)
            echo = read_all(s, len(payload))
    except ConnectionRefusedError:
        return totals.add('refused')
    except ConnectionResetError:
        return totals.add('reset')
    except socket.timeout:
        return totals.add('timeout')
    except OSError as e:
        return totals.add('error: %s' % e.strerror)
    if len(echo) != len(payload):
        return totals.add('short echo')
    if hashlib.sha256(echo).digest() != hashlib.sha256(payload).digest():
        return totals.add('wrong bytes')
    totals.add(None)


def long_connection(args, n, dst, totals):
    rnd = random.Random(1000000 + n)
    try:
        with connect(args, dst) as s:
            s.sendall(header(args.proxy_header, 1000000 + n, dst))
            while not os.path.exists(args.stop_file):
                chunk = rnd.randbytes(512)
                s.sendall(chunk)
                echo = b''
                while len(echo) < len(chunk):
                    part = s.recv(len(chunk) - len(echo))
                    if not part:
                        return totals.add('long: closed early', long=True)
                    echo += part
                if echo != chunk:
                    return totals.add('long: wrong bytes', long=True)
                time.sleep(0.1)
            s.shutdown(socket.SHUT_WR)
            if s.recv(1) != b'':
                return totals.add('long: bytes after the end', long=True)
    except OSError as e:
        return totals.add('long: %s' % (e.strerror or type(e).__name__), long=True)
    totals.add(None, long=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--connect', required=True)
    ap.add_argument('--bind', default='')
    ap.add_argument('--proxy-header', default='v1', choices=['v1', 'none'])
    ap.add_argument('--workers', type=int, default=8)
    ap.add_argument('--long', type=int, default=0)
    ap.add_argument('--stop-file', required=True)
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    host, port = args.connect.rsplit(':', 1)
    dst = (host.strip('[]'), int(port))
    totals = Totals()
    counter = iter(range(1 << 62))
    counter_lock = threading.Lock()

    def worker():
        while not os.path.exists(args.stop_file):
            with counter_lock:
                n = next(counter)
            short_connection(args, n, dst, totals)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    threads += [threading.Thread(target=long_connection, args=(args, i, dst, totals)) for i in range(args.long)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    with open(args.out, 'w') as f:
        json.dump({'ok': totals.ok, 'failed': totals.failed, 'reasons': totals.reasons,
                   'long_ok': totals.long_ok, 'long_failed': totals.long_failed,
                   'rate_per_s': round(totals.ok / elapsed, 1) if elapsed > 0 else 0}, f)


if __name__ == '__main__':
    main()
