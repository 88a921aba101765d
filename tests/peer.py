#!/usr/bin/env python3
"""ferry's scriptable test peer (python3 stdlib only), run inside network namespaces.

Subcommands:
  server   accept connections and echo / sink / source bytes; one JSON line per finished connection
  client   connect, send an optional PROXY header and a deterministic payload, print one JSON result
  header   print a PROXY v1 or v2 header as hex (for --header-hex)
  find     wait for the server log line of one connection and print it
  logfind  wait for a proxy (zap JSON) log line with a given msg and keys and print it
  jsonlines  check that every line of a file is a JSON object
  get      print fields of a JSON object read from stdin
  delay    a TCP relay that delays every byte by a fixed time each way (half-close forwarded): the
           tests' stand-in for a slow network path (there is no netem here)
  socks5d  a SOCKS5 server (CONNECT; optional RFC 1929 auth; TCP Fast Open on its listener) that forwards
           half-close faithfully, which Debian's microsocks and ss-local do not

Payloads are pseudo-random bytes from random.Random(seed), drawn in 1 MiB chunks, so the same
--bytes/--seed always give the same stream and sha256.
"""

import argparse
import errno
import hashlib
import json
import os
import random
import select
import selectors
import socket
import struct
import sys
import threading
import time

CHUNK = 1 << 20          # payload generator granularity (fixed: it defines the byte stream)
RECV_SIZE = 256 * 1024   # large reads keep a 32 MiB transfer to a few hundred syscalls


# ---------------------------------------------------------------- addresses

def parse_addr(text):
    """'1.2.3.4:80' or '[2001:db8::1]:80' -> (host, port)."""
    if text.startswith('['):
        host, sep, port = text[1:].partition(']:')
        if not sep:
            raise ValueError('bad address %r' % text)
    else:
        host, sep, port = text.rpartition(':')
        if not sep:
            raise ValueError('bad address %r' % text)
    return host, int(port)


def family_of(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def fmt_addr(sockaddr):
    host, port = sockaddr[0], sockaddr[1]
    return '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)


def norm_addr(text):
    """Canonical 'host:port' for comparisons: brackets kept for v6, ::ffff: mapping stripped."""
    try:
        host, port = parse_addr(text)
    except ValueError:
        return text
    if host.lower().startswith('::ffff:') and '.' in host:
        host = host[7:]
    if ':' in host:
        host = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, host))
        return '[%s]:%d' % (host, port)
    return '%s:%d' % (host, port)


def err_name(exc):
    if isinstance(exc, socket.timeout):
        return 'timeout'
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__ + ': ' + str(exc)


# ---------------------------------------------------------------- payload

def payload_chunks(nbytes, seed):
    rng = random.Random(seed)
    left = nbytes
    while left > 0:
        chunk = rng.randbytes(CHUNK)
        if left < CHUNK:
            chunk = chunk[:left]
        left -= len(chunk)
        yield chunk


# ---------------------------------------------------------------- server

class ConnLog:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, record):
        line = json.dumps(record, sort_keys=True)
        with self.lock:
            if self.path:
                with open(self.path, 'a') as f:
                    f.write(line + '\n')
            else:
                sys.stdout.write(line + '\n')
                sys.stdout.flush()


def serve_conn(conn, peer, local, args, log):
    rec = {'peer': fmt_addr(peer), 'local': fmt_addr(local), 'mode': args.mode,
           'bytes_in': 0, 'sha256_in': None, 'bytes_out': 0, 'sha256_out': None,
           'error': None, 't_accept': round(time.time(), 3)}
    h_in, h_out = hashlib.sha256(), hashlib.sha256()
    state = {'in': 0, 'out': 0}
    errors = []
    conn.settimeout(args.timeout)

    def send(data):
        conn.sendall(data)
        h_out.update(data)
        state['out'] += len(data)

    head = bytearray()

    def read_all(on_data):
        while True:
            data = conn.recv(RECV_SIZE)
            if not data:
                return
            h_in.update(data)
            state['in'] += len(data)
            if len(head) < args.record_bytes:
                head.extend(data[:args.record_bytes - len(head)])
            on_data(data)

    try:
        if args.mode == 'echo':
            read_all(send)
            conn.shutdown(socket.SHUT_WR)
        elif args.mode == 'sink':
            read_all(lambda d: None)
        elif args.mode == 'halfclose-echo':
            kept = []
            read_all(kept.append)
            for data in kept:
                send(data)
            conn.shutdown(socket.SHUT_WR)
        elif args.mode == 'stall':
            # A wedged service: never reads, never writes; waits (up to --timeout) for the other side to stop
            # sending or go away, which POLLRDHUP/POLLHUP/POLLERR report even with unread bytes queued.
            p = select.poll()
            p.register(conn, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
            rec['stall_ended'] = 'peer closed' if p.poll(args.timeout * 1000) else 'timeout'
        elif args.mode == 'stall-hold':
            # The same, but a FIN does not end it: only a reset (or both sides shut) or --timeout.
            p = select.poll()
            p.register(conn, select.POLLHUP | select.POLLERR)
            rec['stall_ended'] = 'peer reset' if p.poll(args.timeout * 1000) else 'timeout'
        elif args.mode == 'source':
            def sender():
                try:
                    for chunk in payload_chunks(args.bytes, args.seed):
                        send(chunk)
                    conn.shutdown(socket.SHUT_WR)
                except OSError as e:
                    errors.append(err_name(e))
            t = threading.Thread(target=sender, daemon=True)
            t.start()
            read_all(lambda d: None)
            t.join()
    except OSError as e:
        errors.append(err_name(e))
    finally:
        conn.close()
    if args.record_bytes:
        rec['head_in'] = bytes(head).hex()
    rec.update(bytes_in=state['in'], sha256_in=h_in.hexdigest(), bytes_out=state['out'],
               sha256_out=h_out.hexdigest(), error=errors[0] if errors else None,
               t_end=round(time.time(), 3))
    log.write(rec)


def cmd_server(args):
    log = ConnLog(args.log)
    listeners = []
    for text in args.listen:
        host, port = parse_addr(text)
        s = socket.socket(family_of(host), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if s.family == socket.AF_INET6:
            # "0.0.0.0:80" and "[::]:80" side by side: each family its own socket.
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(1024)
        listeners.append(s)
    sel = selectors.DefaultSelector()
    for s in listeners:
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            try:
                conn, peer = key.fileobj.accept()
            except OSError:
                continue
            local = conn.getsockname()
            threading.Thread(target=serve_conn, args=(conn, peer, local, args, log),
                             daemon=True).start()


# ---------------------------------------------------------------- client

def unescape(text):
    return text.encode('latin-1').decode('unicode_escape').encode('latin-1')


def recv_exact(sock, n):
    data = b''
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise ConnectionResetError(errno.ECONNRESET, 'EOF during SOCKS5 handshake')
        data += part
    return data


def socks5_connect(sock, dest):
    """RFC 1928 CONNECT without authentication (blocking). Returns the reply code (0 = success), -1 when the
    server closed or answered nonsense."""
    host, port = parse_addr(dest)
    try:
        sock.sendall(b'\x05\x01\x00')
        if recv_exact(sock, 2) != b'\x05\x00':
            return -1
        try:
            packed = socket.inet_pton(socket.AF_INET, host)
            req = b'\x05\x01\x00\x01' + packed
        except OSError:
            try:
                packed = socket.inet_pton(socket.AF_INET6, host)
                req = b'\x05\x01\x00\x04' + packed
            except OSError:
                name = host.encode()
                req = b'\x05\x01\x00\x03' + bytes([len(name)]) + name
        sock.sendall(req + struct.pack('>H', port))
        head = recv_exact(sock, 4)
        if head[0] != 5:
            return -1
        atyp = head[3]
        if atyp == 1:
            recv_exact(sock, 4 + 2)
        elif atyp == 4:
            recv_exact(sock, 16 + 2)
        elif atyp == 3:
            recv_exact(sock, recv_exact(sock, 1)[0] + 2)
        else:
            return -1
        return head[1]
    except OSError:
        return -1


def cmd_delay(args):
    """Relay --listen -> --to, holding each chunk for --ms milliseconds in each direction."""
    lhost, lport = parse_addr(args.listen)
    thost, tport = parse_addr(args.to)
    delay = args.ms / 1000.0
    ls = socket.socket(family_of(lhost), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((lhost, lport))
    ls.listen(128)

    def pump(src, dst):
        import queue
        q = queue.Queue()

        def writer():
            while True:
                due, data = q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    if data is None:
                        dst.shutdown(socket.SHUT_WR)
                        return
                    dst.sendall(data)
                except OSError:
                    return
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        while True:
            try:
                data = src.recv(RECV_SIZE)
            except OSError:
                data = b''
            q.put((time.monotonic() + delay, data if data else None))
            if not data:
                break
        t.join()

    def serve(conn):
        try:
            up = socket.create_connection((thost, tport), timeout=10)
            up.settimeout(None)
        except OSError:
            conn.close()
            return
        for s_ in (conn, up):
            s_.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        a = threading.Thread(target=pump, args=(conn, up), daemon=True)
        b = threading.Thread(target=pump, args=(up, conn), daemon=True)
        a.start()
        b.start()
        a.join()
        b.join()
        conn.close()
        up.close()

    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def cmd_socks5d(args):
    lhost, lport = parse_addr(args.listen)
    ls = socket.socket(family_of(lhost), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.tfo:
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
    ls.bind((lhost, lport))
    ls.listen(128)

    def pump(src, dst):
        while True:
            try:
                data = src.recv(RECV_SIZE)
            except OSError:
                data = b''
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def serve(conn):
        buf = b''

        def need(n):
            nonlocal buf
            while len(buf) < n:
                part = conn.recv(65536)
                if not part:
                    raise ConnectionResetError('EOF')
                buf += part

        def take(n):
            nonlocal buf
            need(n)
            out, buf = buf[:n], buf[n:]
            return out

        try:
            ver, nmethods = take(2)
            methods = take(nmethods)
            want = 2 if args.user else 0
            if ver != 5 or want not in methods:
                conn.sendall(b'\x05\xff')
                return
            conn.sendall(bytes([5, want]))
            if want == 2:
                _, ulen = take(2)
                user = take(ulen)
                plen = take(1)[0]
                password = take(plen)
                ok = user == args.user.encode() and password == args.password.encode()
                conn.sendall(b'\x01\x00' if ok else b'\x01\x01')
                if not ok:
                    return
            ver, cmd, _, atyp = take(4)
            if atyp == 1:
                host = socket.inet_ntop(socket.AF_INET, take(4))
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, take(16))
            else:
                host = take(take(1)[0]).decode()
            port = struct.unpack('>H', take(2))[0]
            if cmd != 1:
                conn.sendall(b'\x05\x07\x00\x01' + bytes(6))
                return
            try:
                up = socket.socket(family_of(host), socket.SOCK_STREAM)
                if args.bind_out and family_of(args.bind_out) == family_of(host):
                    up.bind((args.bind_out, 0))
                up.settimeout(10)
                up.connect((host, port))
                up.settimeout(None)
            except OSError as e:
                code = 5 if isinstance(e, ConnectionRefusedError) else 4
                conn.sendall(bytes([5, code, 0, 1]) + bytes(6))
                return
            bound = up.getsockname()
            if up.family == socket.AF_INET6:
                reply = b'\x05\x00\x00\x04' + socket.inet_pton(socket.AF_INET6, bound[0])
            else:
                reply = b'\x05\x00\x00\x01' + socket.inet_pton(socket.AF_INET, bound[0])
            conn.sendall(reply + struct.pack('>H', bound[1]))
            if buf:
                up.sendall(buf)  # a pipelining client's first bytes
            a = threading.Thread(target=pump, args=(conn, up), daemon=True)
            b = threading.Thread(target=pump, args=(up, conn), daemon=True)
            a.start()
            b.start()
            a.join()
            b.join()
            up.close()
        except OSError:
            pass
        finally:
            conn.close()

    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def cmd_client(args):
    if args.header_hex is not None:
        header = bytes.fromhex(args.header_hex)
    elif args.header_text is not None:
        header = unescape(args.header_text)
    else:
        header = b''
    result = {'sent': 0, 'sha256_sent': None, 'received': 0, 'sha256_received': None,
              'error': None, 'closed_by_peer': False, 'elapsed': None, 'local': None,
              'header_sent': False}
    h_sent, h_recv = hashlib.sha256(), hashlib.sha256()
    t0 = time.monotonic()
    deadline = t0 + args.timeout

    def done():
        result['sha256_sent'] = h_sent.hexdigest()
        result['sha256_received'] = h_recv.hexdigest()
        result['elapsed'] = round(time.monotonic() - t0, 3)
        print(json.dumps(result, sort_keys=True))
        sys.stdout.flush()
        ok = result['error'] is None
        if args.expect_bytes is not None and result['received'] != args.expect_bytes:
            ok = False
        return 0 if ok else 1

    host, port = parse_addr(args.connect)
    sock = socket.socket(family_of(host), socket.SOCK_STREAM)
    if args.bind:
        bhost, bport = parse_addr(args.bind)
        # A fixed port may still be in TIME_WAIT from an earlier connection to another destination.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bhost, bport))
    sock.settimeout(args.timeout)
    try:
        sock.connect((host, port))
    except OSError as e:
        result['error'] = err_name(e)
        return done()
    result['local'] = fmt_addr(sock.getsockname())
    if args.socks5:
        code = socks5_connect(sock, args.socks5)
        result['socks5_reply'] = code
        if code != 0:
            result['error'] = 'socks5 reply %d' % code if code >= 0 else 'socks5 handshake failed'
            sock.close()
            return done()
    sock.setblocking(False)

    # Send plan: list of ('data', bytes) / ('sleep', s) / ('payload',) / ('shutdown',).
    plan = []
    if header:
        if args.split_at is not None and 0 < args.split_at < len(header):
            plan += [('data', header[:args.split_at]), ('sleep', args.split_delay),
                     ('data', header[args.split_at:])]
        else:
            plan.append(('data', header))
    if args.pre_payload_delay:
        plan.append(('sleep', args.pre_payload_delay))
    if args.send_bytes:
        plan.append(('payload',))
    if args.shutdown_after_send:
        plan.append(('shutdown',))
    plan.reverse()            # pop() from the end

    chunks = None             # payload generator while sending it
    buf = memoryview(b'')     # bytes of the current write not sent yet
    sleep_until = None
    sending_done = not plan
    reading_done = False
    header_left = len(header)

    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    cur_events = selectors.EVENT_READ

    def next_buffer():
        """Fill buf from the plan; return False while sleeping, None when the plan is done."""
        nonlocal buf, chunks, sleep_until, sending_done
        while not len(buf):
            if chunks is not None:
                chunk = next(chunks, None)
                if chunk is not None:
                    buf = memoryview(chunk)
                    return True
                chunks = None
            if sleep_until is not None:
                if time.monotonic() < sleep_until:
                    return False
                sleep_until = None
            if not plan:
                sending_done = True
                return None
            step = plan.pop()
            if step[0] == 'data':
                buf = memoryview(step[1])
            elif step[0] == 'sleep':
                sleep_until = time.monotonic() + step[1]
            elif step[0] == 'payload':
                chunks = payload_chunks(args.send_bytes, args.seed)
            elif step[0] == 'shutdown':
                sock.shutdown(socket.SHUT_WR)
        return True

    try:
        while True:
            if not sending_done:
                next_buffer()
            if sending_done and reading_done:
                break
            now = time.monotonic()
            if now >= deadline:
                result['error'] = 'timeout'
                break
            want = 0
            if not reading_done:
                want |= selectors.EVENT_READ
            if not sending_done and len(buf):
                want |= selectors.EVENT_WRITE
            if want == 0 and sleep_until is None:
                break
            if want != cur_events:
                if want:
                    if cur_events:
                        sel.modify(sock, want)
                    else:
                        sel.register(sock, want)
                else:
                    sel.unregister(sock)
                cur_events = want
            wait = deadline - now
            if sleep_until is not None:
                wait = min(wait, max(0.0, sleep_until - now))
            events = sel.select(wait) if want else (time.sleep(wait) or [])
            for _, mask in events:
                if mask & selectors.EVENT_READ and not reading_done:
                    try:
                        data = sock.recv(RECV_SIZE)
                    except BlockingIOError:
                        data = None
                    if data is not None:
                        if not data:
                            result['closed_by_peer'] = True
                            reading_done = True
                        else:
                            if args.expect_bytes is not None:
                                data = data[:max(0, args.expect_bytes - result['received'])]
                            h_recv.update(data)
                            result['received'] += len(data)
                            if (args.expect_bytes is not None
                                    and result['received'] >= args.expect_bytes):
                                reading_done = True
                if mask & selectors.EVENT_WRITE and len(buf):
                    try:
                        n = sock.send(buf)
                    except BlockingIOError:
                        n = 0
                    if n:
                        if header_left:
                            used = min(header_left, n)
                            header_left -= used
                            if header_left == 0:
                                result['header_sent'] = True
                            h_part = buf[used:n]
                        else:
                            h_part = buf[:n]
                        h_sent.update(h_part)
                        result['sent'] += len(h_part)
                        buf = buf[n:]
    except OSError as e:
        result['error'] = err_name(e)
    if sending_done and not args.shutdown_after_send and args.linger_rst:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()
    return done()


# ---------------------------------------------------------------- headers

V2_SIG = bytes.fromhex('0d0a0d0a000d0a515549540a')
TLV_NAMES = {'alpn': 0x01, 'authority': 0x02, 'crc32c': 0x03, 'noop': 0x04,
             'unique_id': 0x05, 'ssl': 0x20, 'netns': 0x30}


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def parse_tlv(text, is_str):
    kind, _, value = text.partition(':')
    t = TLV_NAMES.get(kind.lower())
    if t is None:
        t = int(kind, 0)
    return t, value.encode() if is_str else bytes.fromhex(value)


def build_v1(args):
    src = parse_addr(args.src) if args.src else None
    dst = parse_addr(args.dst) if args.dst else None
    proto = args.proto
    if proto is None:
        proto = 'TCP6' if src and ':' in src[0] else 'TCP4'
    if proto == 'UNKNOWN' and not src:
        return b'PROXY UNKNOWN\r\n'
    return ('PROXY %s %s %s %d %d\r\n' % (proto, src[0], dst[0], src[1], dst[1])).encode()


def build_v2(args):
    version = 2 if args.version is None else args.version
    command = (0 if args.local else 1) if args.command is None else args.command
    body = b''
    fam = 0x00
    if args.src and args.dst:
        (sh, sp), (dh, dp) = parse_addr(args.src), parse_addr(args.dst)
        if ':' in sh:
            fam = 0x21
            body = (socket.inet_pton(socket.AF_INET6, sh) + socket.inet_pton(socket.AF_INET6, dh)
                    + struct.pack('!HH', sp, dp))
        else:
            fam = 0x11
            body = (socket.inet_pton(socket.AF_INET, sh) + socket.inet_pton(socket.AF_INET, dh)
                    + struct.pack('!HH', sp, dp))
    elif not args.local:
        raise SystemExit('header v2: --src and --dst are needed unless --local')
    if args.family is not None:
        fam = args.family
    tlvs = [parse_tlv(t, False) for t in args.tlv] + [parse_tlv(t, True) for t in args.tlv_str]
    for t, v in tlvs:
        body += struct.pack('!BH', t, len(v)) + v
    crc_at = None
    if args.crc32c:
        crc_at = 16 + len(body) + 3
        body += struct.pack('!BH', 0x03, 4) + b'\0\0\0\0'
    length = len(body) if args.length is None else args.length
    hdr = bytearray(V2_SIG + bytes([(version << 4) | command, fam]) + struct.pack('!H', length) + body)
    if crc_at is not None:
        hdr[crc_at:crc_at + 4] = struct.pack('!I', crc32c(bytes(hdr)))
        if args.bad_crc:
            hdr[crc_at] ^= 0xFF
    return bytes(hdr)


def cmd_header(args):
    hdr = build_v1(args) if args.version_kind == 'v1' else build_v2(args)
    if args.truncate is not None:
        hdr = hdr[:args.truncate]
    print(hdr.hex())
    return 0


# ---------------------------------------------------------------- log helpers

def read_json_lines(path):
    out = []
    try:
        with open(path, errors='replace') as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    out.append(obj)
    except FileNotFoundError:
        pass
    return out


def cmd_find(args):
    """Wait for the server log line of one connection (by peer address, or the Nth line)."""
    end = time.monotonic() + args.timeout
    want = norm_addr(args.peer) if args.peer else None
    while True:
        recs = read_json_lines(args.log)
        if want is not None:
            hits = [r for r in recs if norm_addr(r.get('peer', '')) == want]
            if hits:
                print(json.dumps(hits[-1], sort_keys=True))
                return 0
        elif args.nth is not None and len(recs) >= args.nth:
            print(json.dumps(recs[args.nth - 1], sort_keys=True))
            return 0
        if time.monotonic() >= end:
            sys.stderr.write('find: no line for %s in %s after %.1fs (%d lines)\n'
                             % (args.peer or '#%s' % args.nth, args.log, args.timeout, len(recs)))
            return 1
        time.sleep(0.05)


def cmd_logfind(args):
    """Wait for a JSON log line whose msg is one of --msg, with every --key, matching --remote."""
    end = time.monotonic() + args.timeout
    want_remote = norm_addr(args.remote) if args.remote else None
    while True:
        recs = read_json_lines(args.log)
        for r in recs:
            if r.get('msg') not in args.msg:
                continue
            if any(k not in r for k in args.key):
                continue
            if want_remote and norm_addr(str(r.get('remoteAddr', ''))) != want_remote:
                continue
            ok = True
            for kv in args.field:
                k, _, v = kv.partition('=')
                if k not in r or (json.dumps(r[k]) != v and str(r[k]) != v):
                    ok = False
            for kv in args.contains:
                k, _, v = kv.partition('=')
                if v not in str(r.get(k, '')):
                    ok = False
            if ok:
                print(json.dumps(r, sort_keys=True))
                return 0
        if time.monotonic() >= end:
            sys.stderr.write('logfind: no line with msg in %r, keys %r, remote %r, fields %r, '
                             'contains %r in %s\n' % (args.msg, args.key, args.remote, args.field,
                                                      args.contains, args.log))
            return 1
        time.sleep(0.05)


def cmd_jsonlines(args):
    bad = 0
    total = 0
    with open(args.file, errors='replace') as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            total += 1
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError('not an object')
                for k in args.require_str:
                    if not isinstance(obj.get(k), str):
                        raise ValueError('no string %r' % k)
                for k in args.require_number:
                    v = obj.get(k)
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        raise ValueError('no number %r' % k)
            except ValueError as e:
                bad += 1
                sys.stderr.write('%s:%d: not a JSON object (%s): %r\n' % (args.file, no, e, line[:200]))
    if total < args.min_lines:
        sys.stderr.write('%s: only %d lines, expected at least %d\n' % (args.file, total, args.min_lines))
        return 1
    return 1 if bad else 0


def cmd_get(args):
    try:
        obj = json.loads(sys.stdin.read() or 'null')
    except ValueError:
        obj = None
    for key in args.keys:
        v = obj.get(key) if isinstance(obj, dict) else None
        if v is None:
            print('null')
        elif isinstance(v, bool):
            print('true' if v else 'false')
        else:
            print(v)
    return 0


# ---------------------------------------------------------------- main

# ---------------------------------------------------------------- UDP

def cmd_udpecho(args):
    """Echo every datagram back to its sender; one JSON line per datagram (peer, bytes, data as hex)."""
    log = ConnLog(args.log)
    socks = []
    for text in args.listen:
        host, port = parse_addr(text)
        s = socket.socket(family_of(host), socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if s.family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        socks.append(s)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            data, peer = key.fileobj.recvfrom(65536)
            key.fileobj.sendto(data, peer)
            log.write({'peer': fmt_addr(peer), 'local': fmt_addr(key.fileobj.getsockname()), 'bytes': len(data),
                       'data': data[:256].hex(), 't': round(time.time(), 3)})


def cmd_udpclient(args):
    """Send COUNT datagrams (HEADER + PAYLOAD-i), collect the replies for TIMEOUT s; one JSON result."""
    host, port = parse_addr(args.connect)
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    if args.bind:
        bhost, bport = parse_addr(args.bind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((bhost, bport))
    s.connect((host, port))
    header = bytes.fromhex(args.header_hex) if args.header_hex else b''
    sent = []
    for i in range(args.count):
        payload = ('%s-%d' % (args.payload, i)).encode()
        try:
            s.send(header + payload)
            sent.append(payload.decode())
        except OSError:
            pass
        if args.gap:
            time.sleep(args.gap)
    replies = []
    deadline = time.time() + args.timeout
    s.settimeout(0.05)
    while time.time() < deadline and len(replies) < args.expect:
        try:
            replies.append(s.recv(65536).decode(errors='replace'))
        except socket.timeout:
            continue
        except OSError as e:
            replies.append('error:' + err_name(e))
            break
    print(json.dumps({'local': fmt_addr(s.getsockname()), 'sent': sent, 'replies': replies}, sort_keys=True))
    return 0



def main(argv):
    p = argparse.ArgumentParser(prog='peer.py', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)

    s = sub.add_parser('server')
    s.add_argument('--listen', action='append', required=True, help='ADDR:PORT, repeatable')
    s.add_argument('--mode', choices=['echo', 'sink', 'source', 'halfclose-echo', 'stall', 'stall-hold'],
                   default='echo')
    s.add_argument('--bytes', type=int, default=0, help='source mode: bytes to send')
    s.add_argument('--seed', type=int, default=1)
    s.add_argument('--log', help='append one JSON line per finished connection (default stdout)')
    s.add_argument('--timeout', type=float, default=60.0, help='per-connection socket timeout')
    s.add_argument('--record-bytes', type=int, default=0,
                   help='log the first N bytes received, as hex ("head_in")')

    c = sub.add_parser('client')
    c.add_argument('--connect', required=True)
    c.add_argument('--bind', help='local ADDR:PORT to bind before connecting')
    g = c.add_mutually_exclusive_group()
    g.add_argument('--header-hex')
    g.add_argument('--header-text', help='with C escapes, e.g. "PROXY TCP4 ...\\r\\n"')
    c.add_argument('--split-at', type=int, help='send the header in two writes, split at this offset')
    c.add_argument('--split-delay', type=float, default=0.3)
    c.add_argument('--pre-payload-delay', type=float, default=0.0)
    c.add_argument('--send-bytes', type=int, default=0)
    c.add_argument('--seed', type=int, default=1)
    c.add_argument('--expect-bytes', type=int,
                   help='stop reading (and close) once this many bytes arrived')
    c.add_argument('--shutdown-after-send', action='store_true')
    c.add_argument('--linger-rst', action='store_true', help='close with RST (SO_LINGER 0)')
    c.add_argument('--timeout', type=float, default=10.0)
    c.add_argument('--socks5', metavar='HOST:PORT', help='SOCKS5 CONNECT to HOST:PORT first (no auth); '
                   'the reply code goes into "socks5_reply"')

    h = sub.add_parser('header')
    h.add_argument('version_kind', choices=['v1', 'v2'])
    h.add_argument('--src')
    h.add_argument('--dst')
    h.add_argument('--proto', help='v1: TCP4, TCP6, UNKNOWN or anything')
    h.add_argument('--local', action='store_true', help='v2 LOCAL command')
    h.add_argument('--tlv', action='append', default=[], help='TYPE:HEX (TYPE a name or number)')
    h.add_argument('--tlv-str', action='append', default=[], help='TYPE:TEXT')
    h.add_argument('--crc32c', action='store_true', help='append a CRC32C TLV over the header')
    h.add_argument('--bad-crc', action='store_true', help='corrupt the CRC32C value')
    h.add_argument('--version', type=lambda x: int(x, 0))
    h.add_argument('--command', type=lambda x: int(x, 0))
    h.add_argument('--family', type=lambda x: int(x, 0), help='family/transport byte, e.g. 0x11')
    h.add_argument('--length', type=lambda x: int(x, 0), help='override the length field')
    h.add_argument('--truncate', type=int, help='keep only the first N bytes')

    f = sub.add_parser('find')
    f.add_argument('--log', required=True)
    f.add_argument('--peer')
    f.add_argument('--nth', type=int)
    f.add_argument('--timeout', type=float, default=5.0)

    lf = sub.add_parser('logfind')
    lf.add_argument('--log', required=True)
    lf.add_argument('--msg', action='append', required=True, help='accepted msg values (repeatable)')
    lf.add_argument('--key', action='append', default=[], help='key that must be present')
    lf.add_argument('--field', action='append', default=[],
                    help='KEY=VALUE that must match (VALUE as JSON, e.g. true, or as text)')
    lf.add_argument('--contains', action='append', default=[], help='KEY=TEXT: value contains TEXT')
    lf.add_argument('--remote', help='remoteAddr to match (normalized)')
    lf.add_argument('--timeout', type=float, default=3.0)

    j = sub.add_parser('jsonlines')
    j.add_argument('file')
    j.add_argument('--min-lines', type=int, default=1)
    j.add_argument('--require-str', action='append', default=[], help='key with a string value')
    j.add_argument('--require-number', action='append', default=[], help='key with a number value')

    gt = sub.add_parser('get')
    gt.add_argument('keys', nargs='+')

    dl = sub.add_parser('delay')
    dl.add_argument('--listen', required=True)
    dl.add_argument('--to', required=True)
    dl.add_argument('--ms', type=float, required=True, help='added one-way delay, each direction')

    sd = sub.add_parser('socks5d')
    sd.add_argument('--listen', required=True)
    sd.add_argument('--bind-out', help='source IP of outgoing connections')
    sd.add_argument('--user', help='require RFC 1929 with this user (and --password)')
    sd.add_argument('--password', default='')
    sd.add_argument('--tfo', action='store_true', help='TCP_FASTOPEN on the listening socket')

    ue = sub.add_parser('udpecho')
    ue.add_argument('--listen', action='append', required=True)
    ue.add_argument('--log')
    uc = sub.add_parser('udpclient')
    uc.add_argument('--connect', required=True)
    uc.add_argument('--bind')
    uc.add_argument('--header-hex', default='')
    uc.add_argument('--payload', default='ping')
    uc.add_argument('--count', type=int, default=1)
    uc.add_argument('--expect', type=int, default=None, help='stop once this many replies arrived (default COUNT)')
    uc.add_argument('--gap', type=float, default=0.0, help='seconds between datagrams')
    uc.add_argument('--timeout', type=float, default=2.0)
    args = p.parse_args(argv)
    if args.cmd == 'udpclient' and args.expect is None:
        args.expect = args.count
    fn = {'server': cmd_server, 'client': cmd_client, 'header': cmd_header, 'find': cmd_find,
          'logfind': cmd_logfind, 'jsonlines': cmd_jsonlines, 'get': cmd_get, 'delay': cmd_delay,
          'socks5d': cmd_socks5d, 'udpecho': cmd_udpecho, 'udpclient': cmd_udpclient}[args.cmd]
    return fn(args)


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
