#!/usr/bin/env python3
"""Drivers for overload tests: an attacker that holds stalled connections, and good clients that time theirs.

  overload.py hold --connect ADDR:PORT --bind IP --count N [--duration S] [--reconnect-rate R] [--ready FILE]
      Opens N connections from IP that never send a byte and holds them; a connection the server closes is
      opened again (at most R per second), as an attacker would. Prints one JSON line at the end: opened,
      closed_by_server, peak_open. Touches --ready once N are open (or after 20 s with what it has).
  overload.py probe --connect ADDR:PORT --bind IP --count N [--concurrency C] [--header-text T] [--deadline S]
      N good clients, C at a time: each sends its header and 'ping', and must read 'ping' back within S
      seconds of its connect(). Prints one JSON line: ok, failed, within_deadline, p50_ms, p99_ms, max_ms, errors.
"""
import argparse
import errno
import json
import os
import select
import socket
import sys
import threading
import time


def parse_addr(text):
    host, _, port = text.rpartition(':')
    return host.strip('[]'), int(port)


def family_of(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def cmd_hold(args):
    host, port = parse_addr(args.connect)
    fam = family_of(host)
    ep = select.epoll()
    socks = {}
    stats = {'opened': 0, 'closed_by_server': 0, 'peak_open': 0, 'connect_errors': 0}
    budget = [args.reconnect_rate, time.monotonic()]

    def open_one():
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((args.bind, 0))
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            stats['connect_errors'] += 1
            s.close()
            return False
        socks[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR)
        stats['opened'] += 1
        return True

    ready_at = time.monotonic() + 20
    ready = False
    end = time.monotonic() + args.duration
    missing = args.count
    while time.monotonic() < end:
        now = time.monotonic()
        # Opens what is missing: all at once at the start, then at most --reconnect-rate per second.
        if now - budget[1] >= 1.0:
            budget[0], budget[1] = args.reconnect_rate, now
        n = missing if not ready else min(missing, budget[0])
        for _ in range(n):
            if open_one():
                missing -= 1
                if ready:
                    budget[0] -= 1
            else:
                break
        stats['peak_open'] = max(stats['peak_open'], len(socks))
        if not ready and (len(socks) >= args.count or now > ready_at):
            ready = True
            if args.ready:
                open(args.ready, 'w').close()
        for fd, _ in ep.poll(0.05):
            s = socks.pop(fd, None)
            if s is None:
                continue
            ep.unregister(fd)
            s.close()
            stats['closed_by_server'] += 1
            missing += 1
    for s in socks.values():
        s.close()
    print(json.dumps(stats), flush=True)


def cmd_probe(args):
    host, port = parse_addr(args.connect)
    fam = family_of(host)
    header = args.header_text.encode('latin-1').decode('unicode_escape').encode('latin-1') if args.header_text else b''
    results = []
    lock = threading.Lock()
    counter = [0]

    def one(i):
        t0 = time.monotonic()
        err = None
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(args.timeout)
        try:
            s.bind((args.bind, 0))
            s.connect((host, port))
            s.sendall(header.replace(b'{i}', str(i).encode()) + b'ping')
            got = b''
            while len(got) < 4:
                part = s.recv(4 - len(got))
                if not part:
                    raise ConnectionError('EOF')
                got += part
            if got != b'ping':
                err = 'bad echo'
        except OSError as e:
            err = errno.errorcode.get(e.errno, type(e).__name__) if e.errno else type(e).__name__
        finally:
            s.close()
        return err, (time.monotonic() - t0) * 1000

    def worker():
        while True:
            with lock:
                i = counter[0]
                if i >= args.count:
                    return
                counter[0] += 1
            r = one(i)
            with lock:
                results.append(r)
            if args.interval:
                time.sleep(args.interval)

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [ms for err, ms in results if err is None]
    lat = sorted(ok)
    errors = {}
    for err, _ in results:
        if err:
            errors[err] = errors.get(err, 0) + 1

    def pct(p):
        return round(lat[min(len(lat) - 1, int(len(lat) * p))], 1) if lat else None

    print(json.dumps({'count': len(results), 'ok': len(ok), 'failed': len(results) - len(ok),
                      'within_deadline': sum(1 for ms in ok if ms <= args.deadline * 1000),
                      'p50_ms': pct(0.5), 'p99_ms': pct(0.99), 'max_ms': round(lat[-1], 1) if lat else None,
                      'errors': errors}), flush=True)


def main(argv):
    p = argparse.ArgumentParser(prog='overload.py', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    h = sub.add_parser('hold')
    h.add_argument('--connect', required=True)
    h.add_argument('--bind', required=True)
    h.add_argument('--count', type=int, required=True)
    h.add_argument('--duration', type=float, default=60.0)
    h.add_argument('--reconnect-rate', type=int, default=2000)
    h.add_argument('--ready')
    g = sub.add_parser('probe')
    g.add_argument('--connect', required=True)
    g.add_argument('--bind', required=True)
    g.add_argument('--count', type=int, default=200)
    g.add_argument('--concurrency', type=int, default=4)
    g.add_argument('--header-text', default='', help="C escapes; {i} is the client's number")
    g.add_argument('--deadline', type=float, default=1.0)
    g.add_argument('--timeout', type=float, default=5.0)
    g.add_argument('--interval', type=float, default=0.0)
    args = p.parse_args(argv)
    if args.cmd == 'hold':
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        cmd_hold(args)
    else:
        cmd_probe(args)


if __name__ == '__main__':
    main(sys.argv[1:])
