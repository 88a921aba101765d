#!/usr/bin/env python3
"""bench/harness.py: the measuring and reporting half of `make bench` (bench/run.sh drives it).

  harness.py run --out FILE --workload W --round R --subject S --subject-pid PID --echo-pid PID
                 [--backend-pid PID] [--server-pid PID] [--warmup S --duration S]
                 [--idle --ready-file F --ready-timeout S] -- LOADGEN ARGV...
      Runs one load generator (inside the benchmark's network namespace), samples the subject's, the
      echo's, the backend's (dante, moproxy workloads) and the server half's (srcproxy workloads: the subject is
      then the pair, --subject-pid its client half) CPU time (utime+stime of every process in their trees,
      from /proc/PID/stat) at the start and the end of the measured interval, the load generator's own CPU
      time (wait4 rusage), and for the idle
      workload the subject's RSS and fd count before and while the connections are held. Appends one JSON
      line to FILE. Exit status: 0, or 3 when the load generator crashed or printed no JSON.

  harness.py check-source --connect ADDR:PORT --src IP --upstream-port N
      Sends one PROXY v1 header claiming source IP through the subject, checks the echo answers and that
      the upstream connection really comes from IP (/proc/net/tcp). Exit 0 when it does.

  harness.py check-udp --connect ADDR:PORT --src IP [--echo-log FILE]
      (udp workload) Sends one datagram with a PROXY v2 DGRAM header claiming source IP:PORT through the subject,
      carrying the UDP echo's "ferry-udp-whoami": the echo answers with the sender it saw, which must be IP:PORT
      (and, with --echo-log, the echo's stderr must say so too). Exit 0 when it does.

  harness.py check-relay --connect ADDR:PORT --subject-port N --backend-port N
      (moproxy workloads, run as the load generator's uid) Connects to ADDR:PORT, which iptables redirects
      to the subject, checks the echo answers and that the connection really went through the subject and the
      backend (established sockets on both ports, /proc/net/tcp). Exit 0 when it did.

  harness.py check-srcproxy --connect ADDR:PORT [--bind IP] --echo-pid PID --echo-port N
                            [--subject-port N --server-port N]
      (srcproxy workloads, run as the load generator's uid in the client namespace) Connects to ADDR:PORT from
      IP (port 0: the kernel's choice), checks the echo answers and that the echo, in the server namespace
      (read through /proc/PID/net/tcp of the echo), has the connection from exactly this socket's own address
      and port; with --subject-port/--server-port, also that it went through the client half (its socket from
      us on that port, here) and the server half (an established socket on that port, there). Exit 0 when so.

  harness.py report --results FILE --meta FILE --md FILE --png FILE --chart-script FILE [--stdout]
      Medians over rounds, ratios, the targets (issue 3's, moproxy and srcproxy modes'); writes the Markdown page, the chart (gnuplot)
      and prints the tables.

Python 3 standard library only.
"""

import argparse
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf('SC_CLK_TCK')
PAGE = os.sysconf('SC_PAGE_SIZE')

# ---------------------------------------------------------------------------------------------- /proc


def _children_map():
    kids = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(')') + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def process_tree(pid):
    """pid and all its descendants (processes, not threads)."""
    if not pid:
        return []
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if os.path.exists('/proc/%d' % p):
            out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pids):
    """utime+stime summed over pids (a process's /proc/PID/stat already sums all its threads)."""
    total = 0
    for p in pids:
        try:
            with open('/proc/%d/stat' % p) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(')') + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def foreign_cpu_seconds(exclude):
    """utime+stime of every user-space process not in `exclude` (kernel threads, children of kthreadd, are left
    out: ksoftirqd does the benchmark's own loopback work). A rise over a measured interval means another job
    shared the machine."""
    total = 0
    for name in os.listdir('/proc'):
        if not name.isdigit() or int(name) in exclude:
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(')') + 2:].split()
        if name == '2' or fields[1] == '2':
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open('/proc/%d/status' % p) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def fd_count(pids):
    total = 0
    for p in pids:
        try:
            total += len(os.listdir('/proc/%d/fd' % p))
        except OSError:
            pass
    return total


def alive(pid):
    if not pid:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
        return s[s.rindex(')') + 2] != 'Z'
    except OSError:
        return False


def _hex_ip(h):
    """An address as /proc/net/tcp{,6} prints it (32-bit words in host order, i.e. little-endian) -> text."""
    raw = b''.join(int(h[i:i + 8], 16).to_bytes(4, 'little') for i in range(0, len(h), 8))
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    ip = socket.inet_ntop(socket.AF_INET6, raw)
    return ip[7:] if ip.startswith('::ffff:') and '.' in ip else ip


def tcp_sockets(net_dir='/proc/net'):
    """(local ip, local port, remote ip, remote port, state hex) of every TCP socket in the network namespace of
    net_dir (/proc/net: ours; /proc/PID/net: PID's)."""
    out = []
    for name in ('tcp', 'tcp6'):
        try:
            with open(os.path.join(net_dir, name)) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    (lh, lp), (rh, rp) = parts[1].split(':'), parts[2].split(':')
                    out.append((_hex_ip(lh), int(lp, 16), _hex_ip(rh), int(rp, 16), parts[3]))
        except OSError:
            pass
    return out


def established_to_port(port, remote_ip=None):
    """Established TCP sockets in this namespace whose local port is `port` (the echo side of each
    relayed connection), optionally only those whose remote address is remote_ip (IPv4)."""
    n = 0
    want_port = '%04X' % port
    want_ip = None
    if remote_ip:
        want_ip = ''.join('%02X' % int(b) for b in reversed(remote_ip.split('.')))
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, remote, st = parts[1], parts[2], parts[3]
                    if st != '01' or not local.endswith(':' + want_port):
                        continue
                    if want_ip and not remote.startswith(want_ip + ':'):
                        continue
                    n += 1
        except OSError:
            pass
    return n


# ------------------------------------------------------------------------------------------------ run


def sleep_until(t, proc):
    """Sleep until monotonic time t or until proc exits; True if proc is still running."""
    while True:
        left = t - time.monotonic()
        if proc.poll() is not None:
            return False
        if left <= 0:
            return True
        time.sleep(min(left, 0.05))


def cmd_run(a):
    subject_pids = process_tree(a.subject_pid)
    echo_pids = process_tree(a.echo_pid)
    backend_pids = process_tree(a.backend_pid)
    server_pids = process_tree(a.server_pid)
    rec = {
        'workload': a.workload, 'round': a.round, 'subject': a.subject, 'ts': time.time(),
        'loadgen_argv': a.argv,
    }
    before = {'fds': fd_count(subject_pids), 'rss': rss_bytes(subject_pids)}
    if a.ready_file:
        try:
            os.unlink(a.ready_file)
        except FileNotFoundError:
            pass
    stderr = open(a.stderr, 'w') if a.stderr else subprocess.DEVNULL
    t0 = time.monotonic()
    proc = subprocess.Popen(a.argv, stdout=subprocess.PIPE, stderr=stderr)
    cpu = {}

    if a.idle:
        # Sample the subject every 10 ms until the load generator says every connection is open (ready file)
        # or exits; keep the sample with the most fds too, for a subject that dies on the way (go-mmproxy exits
        # when accept fails with EMFILE, and the load generator's ready comes only after its last attempt).
        peak = None
        ready = None
        deadline = t0 + a.ready_timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if os.path.exists(a.ready_file):
                time.sleep(0.3)  # let the last connections settle before measuring
                subject_pids = process_tree(a.subject_pid) or subject_pids
                ready = {'fds': fd_count(subject_pids), 'rss': rss_bytes(subject_pids),
                         'established': established_to_port(a.upstream_port), 't': time.monotonic() - t0,
                         'subject_alive': alive(a.subject_pid)}
                break
            if alive(a.subject_pid):
                smp = {'fds': fd_count(subject_pids), 'rss': rss_bytes(subject_pids), 't': time.monotonic() - t0}
                # rss 0: the process is exiting (its memory is gone, its fd table not yet).
                if smp['rss'] > 0 and (peak is None or smp['fds'] >= peak['fds']):
                    peak = smp
            time.sleep(0.01)
        rec['idle_before'] = before
        rec['idle_ready'] = ready
        rec['idle_peak'] = peak
    else:
        start = t0 + a.warmup
        end = start + a.duration
        if sleep_until(start, proc):
            # dante forks io children as sessions arrive: its tree is read again at each end of the interval
            # (a child born in between counts whole; one that exits in between is lost, rare under a steady load).
            backend_pids = process_tree(a.backend_pid)
            ours = (set(subject_pids) | set(echo_pids) | set(backend_pids) | set(server_pids)
                    | {proc.pid, os.getpid()})
            cpu['subject_a'] = cpu_seconds(subject_pids)
            cpu['server_a'] = cpu_seconds(server_pids)
            cpu['echo_a'] = cpu_seconds(echo_pids)
            cpu['backend_a'] = cpu_seconds(backend_pids)
            cpu['foreign_a'] = foreign_cpu_seconds(ours)
            ta = time.monotonic()
            if sleep_until(end, proc):
                cpu['subject_b'] = cpu_seconds(subject_pids)
                cpu['server_b'] = cpu_seconds(server_pids)
                cpu['echo_b'] = cpu_seconds(echo_pids)
                backend_b = process_tree(a.backend_pid)
                cpu['backend_b'] = cpu_seconds(backend_b)
                cpu['foreign_b'] = foreign_cpu_seconds(ours | set(backend_b))
                tb = time.monotonic()
                rec['interval_s'] = tb - ta
                rec['subject_cpu_s'] = cpu['subject_b'] - cpu['subject_a'] if subject_pids else None
                if a.server_pid and subject_pids:
                    # srcproxy: the subject is the pair; each half also on its own.
                    rec['client_cpu_s'] = rec['subject_cpu_s']
                    rec['server_cpu_s'] = cpu['server_b'] - cpu['server_a']
                    rec['subject_cpu_s'] = rec['client_cpu_s'] + rec['server_cpu_s']
                rec['echo_cpu_s'] = cpu['echo_b'] - cpu['echo_a']
                if a.backend_pid:
                    rec['backend_cpu_s'] = max(0.0, cpu['backend_b'] - cpu['backend_a'])
                rec['foreign_cpu_s'] = max(0.0, cpu['foreign_b'] - cpu['foreign_a'])

    try:
        out, _ = proc.communicate(timeout=a.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        rec['harness_error'] = 'load generator did not finish within %ss' % a.timeout
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN, which only it adds to here.
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    rec['loadgen_wall_s'] = time.monotonic() - t0
    rec['loadgen_cpu_s'] = ru.ru_utime + ru.ru_stime
    rec['loadgen_rc'] = proc.returncode
    rec['subject_alive_after'] = alive(a.subject_pid) and alive(a.server_pid)
    result = None
    for line in reversed(out.decode(errors='replace').splitlines()):
        line = line.strip()
        if line.startswith('{'):
            try:
                result = json.loads(line)
                break
            except ValueError:
                pass
    rec['result'] = result
    if result is None and 'harness_error' not in rec:
        rec['harness_error'] = 'load generator exited %s without a JSON line' % proc.returncode
    elif proc.returncode is not None and proc.returncode < 0:
        rec['harness_error'] = 'load generator killed by signal %d' % -proc.returncode
    if a.idle and result:
        # Connections held = the ones the load generator proved relayed (its ping echoed) and kept open: it
        # holds every one until the end, so they were all held at once. Measured at the ready sample, or at the
        # sample with the most fds when the subject was dead by then.
        use = ready if ready is not None and ready['subject_alive'] else peak
        rec['idle_sample'] = 'ready' if use is ready else 'peak fds'
        held = result.get('opened') or 0
        rec['idle_held'] = held
        if use is not None and held > 0:
            rec['idle_rss_bytes'] = use['rss']
            rec['idle_fds'] = use['fds']
            rec['idle_fds_per_conn'] = (use['fds'] - before['fds']) / held
            rec['idle_bytes_per_conn'] = (use['rss'] - before['rss']) / held
    if result and rec.get('subject_cpu_s') is not None:
        gb = (result.get('bytes_up', 0) + result.get('bytes_down', 0)) / 1e9
        if gb > 0:
            rec['cpu_s_per_gb'] = rec['subject_cpu_s'] / gb
        if a.workload == 'udp' and result.get('received'):
            # per million datagrams echoed (each one relayed up and its reply down)
            rec['cpu_s_per_mdgram'] = rec['subject_cpu_s'] / (result['received'] / 1e6)
    with open(a.out, 'a') as f:
        f.write(json.dumps(rec, sort_keys=True) + '\n')
    if 'harness_error' in rec:
        print('harness: %s' % rec['harness_error'], file=sys.stderr)
        return 3
    return 0


# --------------------------------------------------------------------------------------- check-source


def cmd_check_source(a):
    host, port = a.connect.rsplit(':', 1)
    sport = 40000 + os.getpid() % 20000
    s = socket.create_connection((host, int(port)), timeout=5)
    try:
        hdr = 'PROXY TCP4 %s 127.0.0.1 %d %s\r\n' % (a.src, sport, port)
        s.sendall(hdr.encode() + b'ping\n')
        got = b''
        while len(got) < 5:
            chunk = s.recv(64)
            if not chunk:
                break
            got += chunk
        if got != b'ping\n':
            print('check-source: echo through the subject returned %r' % got, file=sys.stderr)
            return 1
        n = established_to_port(a.upstream_port, a.src)
        if n < 1:
            print('check-source: no upstream connection from %s to port %d' % (a.src, a.upstream_port),
                  file=sys.stderr)
            return 1
        return 0
    finally:
        s.close()


def cmd_check_udp(a):
    host, port = a.connect.rsplit(':', 1)
    sport = 40000 + os.getpid() % 20000
    hdr = (b'\r\n\r\n\x00\r\nQUIT\n' + bytes([0x21, 0x12]) + (12).to_bytes(2, 'big')
           + socket.inet_aton(a.src) + socket.inet_aton('127.0.0.1') + sport.to_bytes(2, 'big')
           + (25578).to_bytes(2, 'big'))
    want = '%s:%d' % (a.src, sport)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.connect((host, int(port)))
        got = None
        for _ in range(6):  # UDP: a datagram may be dropped; try a few times
            s.send(hdr + b'ferry-udp-whoami')
            try:
                got = s.recv(200).decode(errors='replace')
                break
            except socket.timeout:
                continue
        if got is None:
            print('check-udp: no answer through the subject at %s' % a.connect, file=sys.stderr)
            return 1
        if got != 'whoami ' + want:
            print('check-udp: the echo saw the datagram from %r, not from %s' % (got[7:], want), file=sys.stderr)
            return 1
        if a.echo_log:
            for _ in range(20):
                with open(a.echo_log, errors='replace') as f:
                    if ('whoami from %s\n' % want) in f.read():
                        break
                time.sleep(0.05)
            else:
                print('check-udp: %s has no "whoami from %s"' % (a.echo_log, want), file=sys.stderr)
                return 1
        print('check-udp: the echo saw %s, the header\'s client address' % want, file=sys.stderr)
        return 0
    except OSError as e:
        print('check-udp: %s: %s' % (a.connect, e), file=sys.stderr)
        return 1
    finally:
        s.close()


def cmd_check_relay(a):
    host, port = a.connect.rsplit(':', 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    try:
        s.sendall(b'ping\n')
        got = b''
        while len(got) < 5:
            chunk = s.recv(64)
            if not chunk:
                break
            got += chunk
        if got != b'ping\n':
            print('check-relay: echo through the subject returned %r' % got, file=sys.stderr)
            return 1
        for what, p in (('subject', a.subject_port), ('backend', a.backend_port)):
            if established_to_port(p) < 1:
                print('check-relay: no established connection on the %s\'s port %d: not relayed through it'
                      % (what, p), file=sys.stderr)
                return 1
        return 0
    finally:
        s.close()


def cmd_check_srcproxy(a):
    host, port = a.connect.rsplit(':', 1)
    s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        if a.bind:
            s.bind((a.bind, 0))
        s.connect((host, int(port)))
        me = s.getsockname()[:2]
        s.sendall(b'ping\n')
        got = b''
        while len(got) < 5:
            chunk = s.recv(64)
            if not chunk:
                break
            got += chunk
        if got != b'ping\n':
            print('check-srcproxy: echo from %s:%d through the subject returned %r' % (me[0], me[1], got),
                  file=sys.stderr)
            return 1
        there = '/proc/%d/net' % a.echo_pid
        seen = []
        for _ in range(20):  # the echo answered, so its socket is there; a few tries all the same
            socks = tcp_sockets(there)
            seen = [(rip, rp) for lip, lp, rip, rp, st in socks if st == '01' and lp == a.echo_port]
            if tuple(me) in seen:
                break
            time.sleep(0.05)
        else:
            print('check-srcproxy: the echo has no connection from the load generator\'s own %s:%d; it has '
                  'connections from: %s' % (me[0], me[1], ', '.join('%s:%d' % x for x in seen) or 'none'),
                  file=sys.stderr)
            return 1
        if a.subject_port:
            here = [(rip, rp) for lip, lp, rip, rp, st in tcp_sockets() if st == '01' and lp == a.subject_port]
            if tuple(me) not in here:
                print('check-srcproxy: no connection from %s:%d on the client half\'s port %d: not relayed '
                      'through it' % (me[0], me[1], a.subject_port), file=sys.stderr)
                return 1
        if a.server_port:
            if not any(st == '01' and lp == a.server_port for lip, lp, rip, rp, st in socks):
                print('check-srcproxy: no established connection on the server half\'s port %d: not relayed '
                      'through it' % a.server_port, file=sys.stderr)
                return 1
        print('check-srcproxy: the echo saw %s:%d, the load generator\'s own address and port%s'
              % (me[0], me[1], ', through both halves' if a.subject_port else ''), file=sys.stderr)
        return 0
    except OSError as e:
        print('check-srcproxy: %s: %s' % (a.connect, e), file=sys.stderr)
        return 1
    finally:
        s.close()


# --------------------------------------------------------------------------------------------- report

SUBJECT_NOTES = {
    'ferry-1': 'ferry, 1 event loop',
    'ferry': 'ferry, one loop per CPU',
    'go-mmproxy': 'Debian go-mmproxy',
    'haproxy': 'HAProxy, accept-proxy + usesrc clientip, splice',
    'ferry-moproxy-1': 'ferry moproxy, 1 event loop',
    'ferry-moproxy': 'ferry moproxy, one loop per CPU',
    'redsocks': 'Debian redsocks, default copy loop',
    'redsocks-splice': 'Debian redsocks, splice = on',
    'ferry-srcproxy': 'ferry srcproxy client in A + ferry srcproxy server in B',
    'haproxy-mmproxy': 'HAProxy send-proxy-v2 in A + Debian go-mmproxy in B',
    'direct': 'no proxy; in the moproxy workloads, no dante either; in the srcproxy workloads, across the veth',
}


def med(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else None


def fmt(x, digits=1, unit=''):
    if x is None:
        return '—'
    if isinstance(x, str):
        return x
    if abs(x) >= 1000:
        s = '{:,.0f}'.format(x)
    elif digits == 0:
        s = '{:.0f}'.format(x)
    else:
        s = '{:.{d}f}'.format(x, d=digits)
    return s + unit


def fmt_ratio(x):
    return '—' if x is None else '%.2f×' % x


def table(headers, rows, align=None):
    align = align or (['l'] + ['r'] * (len(headers) - 1))
    sep = ['---:' if a == 'r' else '---' for a in align]
    lines = ['| ' + ' | '.join(headers) + ' |', '| ' + ' | '.join(sep) + ' |']
    for r in rows:
        lines.append('| ' + ' | '.join(str(c) for c in r) + ' |')
    return '\n'.join(lines)


class Data:
    def __init__(self, recs, subjects):
        self.recs = recs
        self.subjects = subjects

    def runs(self, workload, subject):
        return [r for r in self.recs if r['workload'] == workload and r['subject'] == subject]

    def rounds(self, workload):
        return sorted({r['round'] for r in self.recs if r['workload'] == workload})

    def value(self, rec, key):
        if key.startswith('@'):
            return rec.get(key[1:])
        res = rec.get('result') or {}
        return res.get(key)

    def per_round(self, workload, subject, key):
        out = {}
        for r in self.runs(workload, subject):
            v = self.value(r, key)
            if v is not None:
                out[r['round']] = v
        return out

    def median(self, workload, subject, key):
        return med(list(self.per_round(workload, subject, key).values()))

    def ratio(self, workload, subject, ref, key):
        """Median over rounds of subject/ref in the same round (the runs of one round are back to back,
        which cancels most of the host's drift)."""
        a = self.per_round(workload, subject, key)
        b = self.per_round(workload, ref, key)
        rs = [a[k] / b[k] for k in a if k in b and b[k]]
        return med(rs)


def up_down(rec):
    res = rec.get('result') or {}
    if 'mbps_up' in res and 'mbps_down' in res:
        return res['mbps_up'] + res['mbps_down']
    return None


def cores(rec, key):
    v = rec.get(key)
    t = rec.get('interval_s')
    if v is None or not t:
        return None
    return v / t


def loadgen_cores(rec):
    if rec.get('loadgen_cpu_s') is None or not rec.get('loadgen_wall_s'):
        return None
    return rec['loadgen_cpu_s'] / rec['loadgen_wall_s']


def add_derived(recs):
    for r in recs:
        r['updown_mbps'] = up_down(r)
        r['subject_cores'] = cores(r, 'subject_cpu_s')
        r['echo_cores'] = cores(r, 'echo_cpu_s')
        r['backend_cores'] = cores(r, 'backend_cpu_s')
        r['loadgen_cores'] = loadgen_cores(r)
        r['foreign_cores'] = cores(r, 'foreign_cpu_s')
        r['client_cores'] = cores(r, 'client_cpu_s')
        r['server_cores'] = cores(r, 'server_cpu_s')


def cpu_split(d, w, s, backend=False, halves=False):
    parts = [d.median(w, s, '@subject_cores'), d.median(w, s, '@echo_cores'), d.median(w, s, '@loadgen_cores')]
    if backend:  # subject / backend / echo / loadgen
        parts.insert(1, d.median(w, s, '@backend_cores'))
    if halves:  # client half / server half / echo / loadgen (srcproxy)
        parts[0:1] = [d.median(w, s, '@client_cores'), d.median(w, s, '@server_cores')]
    if all(p is None for p in parts):
        return '—'
    return ' / '.join('—' if p is None else '%.2f' % p for p in parts)


def saturation(d, w, subjects, nproc):
    """One sentence on what limited each subject's run: the load generator's threads, or all the CPUs."""
    lg, full = [], []
    for s in subjects:
        runs = d.runs(w, s)
        if not runs:
            continue
        threads = max(((r.get('result') or {}).get('threads') or 1) for r in runs)
        lgc = d.median(w, s, '@loadgen_cores')
        tot = [d.median(w, s, k) for k in ('@subject_cores', '@echo_cores', '@loadgen_cores')]
        busy = sum(t for t in tot if t is not None) + (d.median(w, s, '@backend_cores') or 0)
        if lgc is not None and lgc >= 0.9 * threads:
            lg.append('%s (%.2f cores for %d thread%s)' % (s, lgc, threads, '' if threads == 1 else 's'))
        if all(t is not None for t in tot[1:]) and busy >= 0.85 * nproc:
            full.append('%s (%.2f of %d)' % (s, busy, nproc))
    out = []
    if lg:
        out.append('The load generator was CPU-bound (its threads busy all the time) with: %s; those numbers are '
                   'partly a measure of the load generator.' % ', '.join(lg))
    if full:
        out.append('All CPUs were busy (subject + echo + load generator%s) with: %s.'
                   % (' + dante' if w.startswith('moproxy-') else '', ', '.join(full)))
    return ' '.join(out)


def report(a):
    recs = []
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    with open(a.meta) as f:
        meta = json.load(f)
    add_derived(recs)
    subjects = meta['subjects']
    workloads = meta['workloads']
    d = Data(recs, subjects)
    cfg = meta['config']
    sections = []
    targets_input = {}

    def has(w, s):
        return bool(d.runs(w, s))

    # ---- stream and bulk
    for w, title, what in (
            ('stream', 'stream',
             '%d connections, each sends `%s` then repeats `%s` as fast as it can for %s s (after %s s of warm-up); '
             'the echo sends everything back. ↑ is client → upstream, ↓ is the echo back to the client. This is '
             'go-mmproxy\'s README workload, except that N changes with every run (its README uses 127.0.0.1): '
             'the source ports are the connection numbers, and reusing the previous runs\' 4-tuples made a few '
             'connects fail with EADDRNOTAVAIL.'
             % (cfg['connections'], cfg['stream_header_text'], cfg['message_text'], cfg['duration'], cfg['warmup'])),
            ('bulk', 'bulk',
             '%d connections, PROXY v1 header, then %d-byte messages as fast as possible for %s s.'
             % (cfg['connections'], cfg['bulk_size'], cfg['duration']))):
        if w not in workloads:
            continue
        rows = []
        for s in subjects:
            if not has(w, s):
                continue
            rows.append([
                '**%s**' % s if s.startswith('ferry') else s,
                fmt(d.median(w, s, '@updown_mbps')),
                fmt(d.median(w, s, 'mbps_down')),
                fmt(d.median(w, s, 'mbps_up')),
                fmt(d.median(w, s, 'msgs_down_per_s'), 0),
                fmt(d.median(w, s, 'msgs_up_per_s'), 0),
                fmt(d.median(w, s, '@cpu_s_per_gb'), 2),
                fmt_ratio(d.ratio(w, s, 'go-mmproxy', '@updown_mbps')) if has(w, 'go-mmproxy') else '—',
                fmt_ratio(d.ratio(w, s, 'direct', '@updown_mbps')) if has(w, 'direct') else '—',
                cpu_split(d, w, s),
                sum(d.per_round(w, s, 'errors').values()) if d.per_round(w, s, 'errors') else '—',
            ])
        sat = saturation(d, w, subjects, meta['machine']['nproc'])
        if sat:
            what += '\n\n' + sat
        sections.append((title, what, table(
            ['', '⇅ Mbps', '↓ Mbps', '↑ Mbps', '↓ msg/s', '↑ msg/s', 'CPU s/GB', '×go-mmproxy', '×direct',
             'cores: subject / echo / loadgen', 'errors'], rows)))
        for s in ('ferry', 'ferry-1'):
            targets_input[(w, s)] = {
                'x_go': d.ratio(w, s, 'go-mmproxy', '@updown_mbps'),
                'x_direct': d.ratio(w, s, 'direct', '@updown_mbps'),
                'cpu_gb': d.median(w, s, '@cpu_s_per_gb'),
                'cpu_gb_go': d.median(w, 'go-mmproxy', '@cpu_s_per_gb'),
            }

    # A churn table row: rate, failures over all rounds, p50/p99 cycle, ratios to `peers`, where the cores went.
    def churn_row(w, s, peers, backend=False, halves=False):
        fails = d.per_round(w, s, 'failures')
        return ([
            '**%s**' % s if s.startswith('ferry') else s,
            fmt(d.median(w, s, 'conns_per_s'), 0),
            sum(fails.values()) if fails else '—',
            fmt(d.median(w, s, 'p50_us'), 0),
            fmt(d.median(w, s, 'p99_us'), 0),
        ] + [fmt_ratio(d.ratio(w, s, peer, 'conns_per_s')) if has(w, peer) else '—' for peer in peers]
          + [cpu_split(d, w, s, backend=backend, halves=halves)])

    # ---- churn
    w = 'churn'
    if w in workloads:
        rows = []
        for s in subjects:
            if not has(w, s):
                continue
            rows.append(churn_row(w, s, ('go-mmproxy', 'haproxy', 'direct')))
        sat = saturation(d, w, subjects, meta['machine']['nproc'])
        sections.append(('churn',
                         '%d workers, each in a loop: connect, PROXY v1 header (a different source address each '
                         'time), %s-byte request, wait for the echo, close; for %s s. A cycle is one such '
                         'connection, from connect to the echo.' % (cfg['churn_workers'], cfg['churn_size'],
                                                                     cfg['duration'])
                         + ('\n\n' + sat if sat else ''),
                         table(['', 'conn/s', 'failures (all rounds)', 'p50 cycle µs', 'p99 cycle µs',
                                '×go-mmproxy', '×haproxy', '×direct', 'cores: subject / echo / loadgen'], rows)))
        for s in ('ferry', 'ferry-1'):
            fails = d.per_round(w, s, 'failures')
            targets_input[(w, s)] = {
                'x_direct': d.ratio(w, s, 'direct', 'conns_per_s'),
                'x_haproxy': d.ratio(w, s, 'haproxy', 'conns_per_s'),
                'failures': sum(fails.values()) if fails else None,
            }

    # ---- latency
    w = 'latency'
    if w in workloads:
        rows = []
        added = {}
        best = {s: min(d.per_round(w, s, 'p99_us').values(), default=None) for s in subjects if has(w, s)}
        added_best = {}
        for s in subjects:
            if has(w, s) and has(w, 'direct'):
                a_p99 = d.per_round(w, s, 'p99_us')
                b_p99 = d.per_round(w, 'direct', 'p99_us')
                added[s] = med([a_p99[k] - b_p99[k] for k in a_p99 if k in b_p99])
                if best.get(s) is not None and best.get('direct') is not None:
                    added_best[s] = best[s] - best['direct']

        def over_go(table_, s):
            go = table_.get('go-mmproxy')
            if s == 'direct' or table_.get(s) is None or not go or go <= 0:
                return None
            return table_[s] / go
        for s in subjects:
            if not has(w, s):
                continue
            rows.append([
                '**%s**' % s if s.startswith('ferry') else s,
                fmt(d.median(w, s, 'p50_us'), 0),
                fmt(d.median(w, s, 'p90_us'), 0),
                fmt(d.median(w, s, 'p99_us'), 0),
                fmt(d.median(w, s, 'p999_us'), 0),
                fmt(d.median(w, s, 'max_us'), 0),
                fmt(added.get(s), 0),
                fmt_ratio(over_go(added, s)),
                fmt(best.get(s), 0),
                fmt(added_best.get(s), 0),
                fmt_ratio(over_go(added_best, s)),
                fmt(d.median(w, s, 'rate_achieved'), 0),
                cpu_split(d, w, s),
            ])
        sections.append(('latency',
                         '%d connections, PROXY v1 header, then %s-byte requests at a fixed total rate of %s/s for '
                         '%s s; each request waits for its echo. Round-trip times in µs. "added p99" is the '
                         'subject\'s p99 minus direct\'s p99 in the same round, median over %d rounds. A p99 over %s s '
                         'moves with a single stall of a few tens of ms on this shared host (the raw numbers below '
                         'show rounds 10× apart), so the table also gives each subject\'s best round ("best-round '
                         'p99") and the p99 it adds over direct\'s best round; p50 and p90 are the steadier figures.'
                         % (cfg['latency_connections'], cfg['latency_size'], cfg['latency_rate'], cfg['duration'],
                            cfg.get('latency_rounds', cfg['rounds']), cfg['duration']),
                         table(['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'added p99', '÷ go-mmproxy\'s',
                                'best-round p99', 'added, best rounds', '÷ go-mmproxy\'s', 'req/s achieved',
                                'cores: subject / echo / loadgen'], rows)))
        for s in ('ferry', 'ferry-1'):
            targets_input[(w, s)] = {'ratio': over_go(added, s), 'ratio_best': over_go(added_best, s)}

    # ---- idle
    w = 'idle'
    if w in workloads:
        rows = []
        for s in subjects:
            if not has(w, s) or s == 'direct':
                continue
            runs = d.runs(w, s)
            notes = []
            if any(not r.get('idle_ready') for r in runs):
                notes.append('not all %d connections were relayed in %d of %d rounds'
                             % (cfg['idle_connections'], sum(1 for r in runs if not r.get('idle_ready')), len(runs)))
            if any(not r.get('subject_alive_after') for r in runs):
                notes.append('exited during the run (%d of %d rounds)'
                             % (sum(1 for r in runs if not r.get('subject_alive_after')), len(runs)))
            dropped = [(r.get('result') or {}).get('dropped') or 0 for r in runs]
            if any(dropped):
                notes.append('connections dropped while held: %s' % ', '.join(str(x) for x in dropped))
            if any((r.get('result') or {}).get('fd_limit_hit') for r in runs):
                notes.append('the load generator hit its own fd limit')
            if all(r.get('subject_alive_after') for r in runs) and any(
                    r.get('idle_ready') and not r['idle_ready'].get('subject_alive', True) for r in runs):
                notes.append('dead when the load generator was ready')
            rss = d.median(w, s, '@idle_rss_bytes')
            bpc = d.median(w, s, '@idle_bytes_per_conn')
            rows.append([
                '**%s**' % s if s.startswith('ferry') else s,
                fmt(d.median(w, s, '@idle_held'), 0),
                fmt(rss / 2**20 if rss is not None else None, 1),
                fmt(bpc / 1024 if bpc is not None else None, 2),
                fmt(d.median(w, s, '@idle_fds_per_conn'), 2),
                '; '.join(notes) or '',
            ])
            targets_input[(w, s)] = {'held': d.median(w, s, '@idle_held'),
                                     'rss_mib': rss / 2**20 if rss is not None else None,
                                     'fds': d.median(w, s, '@idle_fds_per_conn')}
        sections.append(('idle',
                         'The load generator opens %d connections (PROXY v1 header, a different source address '
                         'each, one short echo to prove each is relayed) and holds them; the subject\'s RSS '
                         '(VmRSS, summed over its processes) and open fds are read from /proc while they are '
                         'held. Per-connection figures are (while held − before) ÷ connections held. '
                         '**9,000 (the default) is the most that fits here**: RLIMIT_NOFILE\'s hard limit is '
                         '20,000 and cannot be raised, and a proxied connection costs the proxy 2 sockets. '
                         'go-mmproxy also holds 2 pipes (4 fds) per connection, so it tops out near 3,300 '
                         'connections; when accept then fails with EMFILE it stops listening and exits, dropping '
                         'them all, so its row shows how many it held when that happened, with its largest fd count '
                         'and the RSS at that moment (sampled every 10 ms). "Connections held" is the load '
                         'generator\'s count of connections proven relayed (their ping echoed), all held at once.'
                         % (cfg['idle_connections'],),
                         table(['', 'connections held', 'RSS MiB', 'KiB per connection', 'fds per connection',
                                'notes'], rows, ['l', 'r', 'r', 'r', 'r', 'l'])))

    # ---- udp (mmproxy mode, -p udp)
    w = 'udp'
    if w in workloads:
        rows = []
        for s in subjects:
            if not has(w, s):
                continue
            lost = d.per_round(w, s, 'lost')
            rows.append([
                '**%s**' % s if s.startswith('ferry') else s,
                fmt(d.median(w, s, 'dgrams_per_s'), 0),
                fmt(d.median(w, s, 'mbps_up')),
                fmt(d.median(w, s, 'mbps_down')),
                fmt(d.median(w, s, 'loss_pct'), 3, ' %'),
                sum(lost.values()) if lost else '—',
                fmt(d.median(w, s, 'p50_us'), 0),
                fmt(d.median(w, s, 'p99_us'), 0),
                fmt(d.median(w, s, '@cpu_s_per_mdgram'), 2),
                fmt_ratio(d.ratio(w, s, 'go-mmproxy', 'dgrams_per_s')) if has(w, 'go-mmproxy') else '—',
                fmt_ratio(d.ratio(w, s, 'direct', 'dgrams_per_s')) if has(w, 'direct') else '—',
                cpu_split(d, w, s),
            ])
        what = ('mmproxy mode over UDP (`-p udp`; HAProxy relays no UDP, so it sits this one out). The load '
                'generator opens %d UDP sockets, each with its own client identity in a PROXY v2 DGRAM header '
                '(family 0x12, source 127.9.N.(1+i):(40000+i), N changing with every run), so the proxy makes one '
                'flow (upstream socket, bound to that address with IP_TRANSPARENT) per socket; each socket keeps %d '
                'datagrams of %d payload bytes in flight (a closed loop; sendmmsg/recvmmsg), for %s s after %s s '
                'of warm-up. The UDP echo (`bench/udpecho`, 127.0.0.1:2000/udp) sends each datagram back to its '
                'sender, i.e. to the flow\'s socket, and the proxy sends it on to the load generator from its '
                'listening socket, without a header. `direct`: the same sockets send the bare payload straight to '
                'the echo. datagrams/s counts the replies that arrived in the measured interval; Mbps is payload '
                'only (headers and UDP/IP overhead not counted), ↑ client → echo, ↓ back; a datagram is lost when '
                'no reply came within %d ms (its slot is then reused: the run never stalls); p50/p99 are round '
                'trips, which with a closed loop mostly measure the queue (%d datagrams in flight ÷ the rate). '
                'CPU s/M dgram = the subject\'s CPU seconds per million datagrams echoed (each relayed up and its '
                'reply down). On its first start each subject is checked with one datagram from 127.9.8.7: the '
                'echo answers a "whoami" with the sender it saw, which must be that address and port.'
                % (cfg.get('udp_sockets', 32), cfg.get('udp_window', 8), cfg.get('udp_size', 512), cfg['duration'],
                   cfg['warmup'], cfg.get('udp_timeout_ms', 200),
                   cfg.get('udp_sockets', 32) * cfg.get('udp_window', 8)))
        sat = saturation(d, w, subjects, meta['machine']['nproc'])
        if sat:
            what += '\n\n' + sat
        sections.append((w, what, table(
            ['', 'datagrams/s', '↑ Mbps', '↓ Mbps', 'loss', 'lost (all rounds)', 'p50 µs', 'p99 µs',
             'CPU s/M dgram', '×go-mmproxy', '×direct', 'cores: subject / echo / loadgen'], rows)))
        for s in ('ferry', 'ferry-1'):
            targets_input[(w, s)] = {'x_go': d.ratio(w, s, 'go-mmproxy', 'dgrams_per_s')}

    # ---- moproxy mode: ferry moproxy against redsocks, both through the same dante
    how = ('ferry\'s moproxy mode against redsocks (the nearest C peer), both relaying through the same SOCKS5 '
           'backend: one dante (`danted`) for the whole workload, on 127.0.0.1:%d. The load generator runs as uid '
           '%d and connects to the echo\'s own address, 127.0.0.1:2000, with no PROXY header; while a proxy runs, '
           'an iptables rule (`nat OUTPUT`, `-m owner --uid-owner %d -j REDIRECT --to-ports 1122`) sends those '
           'connections, and only those, to it. The proxy reads the original destination (SO_ORIGINAL_DST), asks '
           'dante to CONNECT to it and relays; dante connects to the echo as another user, so its connection is '
           'not redirected. `direct`: the same load generator with no rule and no dante, straight to the echo. '
           'CPU s/GB is the subject\'s alone; dante\'s share of the cores is a column of its own.'
           % (cfg.get('dante_port', 1080), cfg.get('loadgen_uid', 0), cfg.get('loadgen_uid', 0)))
    w = 'moproxy-stream'
    if w in workloads:
        rows = []
        for s in subjects:
            if not has(w, s):
                continue
            rows.append([
                '**%s**' % s if s.startswith('ferry') else s,
                fmt(d.median(w, s, '@updown_mbps')),
                fmt(d.median(w, s, 'mbps_down')),
                fmt(d.median(w, s, 'mbps_up')),
                fmt(d.median(w, s, 'msgs_down_per_s'), 0),
                fmt(d.median(w, s, 'msgs_up_per_s'), 0),
                fmt(d.median(w, s, '@cpu_s_per_gb'), 2),
                fmt_ratio(d.ratio(w, s, 'redsocks', '@updown_mbps')) if has(w, 'redsocks') else '—',
                fmt_ratio(d.ratio(w, s, 'direct', '@updown_mbps')) if has(w, 'direct') else '—',
                cpu_split(d, w, s, backend=True),
                sum(d.per_round(w, s, 'errors').values()) if d.per_round(w, s, 'errors') else '—',
            ])
        what = (how + '\n\n%d connections, each repeats `%s` as fast as it can for %s s (after %s s of warm-up); the '
                'echo sends everything back. ↑ is client → upstream, ↓ is the echo back to the client.'
                % (cfg['connections'], cfg['message_text'], cfg['duration'], cfg['warmup']))
        sat = saturation(d, w, subjects, meta['machine']['nproc'])
        if sat:
            what += '\n\n' + sat
        sections.append((w, what, table(
            ['', '⇅ Mbps', '↓ Mbps', '↑ Mbps', '↓ msg/s', '↑ msg/s', 'CPU s/GB', '×redsocks', '×direct',
             'cores: subject / dante / echo / loadgen', 'errors'], rows)))
        for s in ('ferry-moproxy', 'ferry-moproxy-1'):
            targets_input[(w, s)] = {'x_redsocks': d.ratio(w, s, 'redsocks', '@updown_mbps')}
    w = 'moproxy-churn'
    if w in workloads:
        rows = []
        for s in subjects:
            if not has(w, s):
                continue
            rows.append(churn_row(w, s, ('redsocks', 'direct'), backend=True))
        what = ((how + '\n\n') if 'moproxy-stream' not in workloads else 'Set up as moproxy-stream. ') + (
            '%d workers, each in a loop: connect, %s-byte request, wait for the echo, close; for %s s. Every '
            'relayed connection costs the proxy a SOCKS5 handshake with dante, and dante (a process per '
            'negotiation stage, sessions passed between them) is slow at opening them: this measures the pair.'
            % (cfg['churn_workers'], cfg['churn_size'], cfg['duration']))
        sat = saturation(d, w, subjects, meta['machine']['nproc'])
        if sat:
            what += '\n\n' + sat
        sections.append((w, what, table(
            ['', 'conn/s', 'failures (all rounds)', 'p50 cycle µs', 'p99 cycle µs', '×redsocks', '×direct',
             'cores: subject / dante / echo / loadgen'], rows)))

    # ---- srcproxy mode: the ferry srcproxy client/server pair against HAProxy + go-mmproxy, across two namespaces
    sp = {'uid': cfg.get('loadgen_uid', 0), 'a': cfg.get('sp_a', '192.0.2.2'), 'b': cfg.get('sp_b', '192.0.2.1'),
          'dst': cfg.get('sp_dst', '203.0.113.1'), 'src': cfg.get('sp_src', '127.0.0.1'),
          'port': cfg.get('srcproxy_port', 21829)}
    sp_how = (
        'ferry\'s srcproxy mode, a client half and a server half, against the same job done with Debian\'s HAProxy '
        'and go-mmproxy. Two namespaces: A (the load generator and the client half) and B (the server half and '
        'the echo), joined by a veth pair (A %(a)s/24, B %(b)s/24). The load generator runs as uid %(uid)d, binds '
        '%(src)s and connects to %(dst)s:2000, an address on `lo` in both namespaces (the srcproxy client refuses '
        'a loopback original destination, so the destination cannot be 127.0.0.1); in A an iptables rule (`nat '
        'OUTPUT`, `-d %(dst)s --dport 2000 -m owner --uid-owner %(uid)d -j REDIRECT --to-ports 1122`) sends those '
        'connections to the client half. **ferry-srcproxy**: `ferry srcproxy client` reads the original destination '
        '(SO_ORIGINAL_DST) and sends it with the app\'s source address in its header to `ferry srcproxy server` '
        'on %(b)s:%(port)d, which connects to the destination from the app\'s own %(src)s:PORT (IP_FREEBIND, '
        'SO_REUSEADDR). **haproxy-mmproxy**: HAProxy (`mode tcp`, splice; it does not read SO_ORIGINAL_DST, so '
        'its one backend is go-mmproxy) sends a PROXY v2 header to go-mmproxy on %(b)s:%(port)d, which connects '
        'to the echo (`-4 %(dst)s:2000`) from that source (IP_TRANSPARENT). %(src)s and %(dst)s are both local '
        'in B, so neither server half needs routing of its own. **direct**: the same load generator, with no '
        'rule, straight to the echo\'s %(b)s:2000 over the veth (from %(a)s): one hop. On its first start each '
        'pair is checked with one connection: echoed, relayed by both halves, and B\'s echo sees it come from '
        'the load generator\'s own %(src)s:PORT. CPU s/GB counts both halves; the cores column splits them '
        '(client / server / echo / loadgen).' % sp)
    w = 'srcproxy-stream'
    if w in workloads:
        rows = []
        for s in subjects:
            if not has(w, s):
                continue
            rows.append([
                '**%s**' % s if s.startswith('ferry') else s,
                fmt(d.median(w, s, '@updown_mbps')),
                fmt(d.median(w, s, 'mbps_down')),
                fmt(d.median(w, s, 'mbps_up')),
                fmt(d.median(w, s, 'msgs_down_per_s'), 0),
                fmt(d.median(w, s, 'msgs_up_per_s'), 0),
                fmt(d.median(w, s, '@cpu_s_per_gb'), 2),
                fmt_ratio(d.ratio(w, s, 'haproxy-mmproxy', '@updown_mbps')) if has(w, 'haproxy-mmproxy') else '—',
                fmt_ratio(d.ratio(w, s, 'direct', '@updown_mbps')) if has(w, 'direct') else '—',
                cpu_split(d, w, s, halves=True),
                sum(d.per_round(w, s, 'errors').values()) if d.per_round(w, s, 'errors') else '—',
            ])
        what = (sp_how + '\n\n%d connections, each repeats `%s` as fast as it can for %s s (after %s s of warm-up); '
                'the echo sends everything back. ↑ is client → upstream, ↓ is the echo back to the client.'
                % (cfg['connections'], cfg['message_text'], cfg['duration'], cfg['warmup']))
        sat = saturation(d, w, subjects, meta['machine']['nproc'])
        if sat:
            what += '\n\n' + sat
        sections.append((w, what, table(
            ['', '⇅ Mbps', '↓ Mbps', '↑ Mbps', '↓ msg/s', '↑ msg/s', 'CPU s/GB', '×haproxy-mmproxy', '×direct',
             'cores: client / server / echo / loadgen', 'errors'], rows)))
        targets_input[(w, 'ferry-srcproxy')] = {'x_hm': d.ratio(w, 'ferry-srcproxy', 'haproxy-mmproxy',
                                                                '@updown_mbps')}
    w = 'srcproxy-churn'
    if w in workloads:
        rows = []
        for s in subjects:
            if not has(w, s):
                continue
            rows.append(churn_row(w, s, ('haproxy-mmproxy', 'direct'), halves=True))
        what = ((sp_how + '\n\n') if 'srcproxy-stream' not in workloads else 'Set up as srcproxy-stream. ') + (
            '%d workers, each in a loop: connect, %s-byte request, wait for the echo, close; for %s s. Every '
            'relayed connection is a connection to the server half (and its header) and one from the app\'s '
            'own address and port to the echo; the load generator\'s ports are the kernel\'s choice, so a port '
            'comes back once the kernel\'s ephemeral range has gone round, while the server half\'s last '
            'connection from it may still be in TIME_WAIT.' % (cfg['churn_workers'], cfg['churn_size'],
                                                                cfg['duration']))
        sat = saturation(d, w, subjects, meta['machine']['nproc'])
        if sat:
            what += '\n\n' + sat
        sections.append((w, what, table(
            ['', 'conn/s', 'failures (all rounds)', 'p50 cycle µs', 'p99 cycle µs', '×haproxy-mmproxy', '×direct',
             'cores: client / server / echo / loadgen'], rows)))
        targets_input[(w, 'ferry-srcproxy')] = {'x_hm': d.ratio(w, 'ferry-srcproxy', 'haproxy-mmproxy',
                                                                'conns_per_s')}

    # ---- targets (issue 3, moproxy mode's, srcproxy mode's)
    def tv(key, field):
        return (targets_input.get(key) or {}).get(field)

    def met(v, ok):
        if v is None:
            return 'n/a'
        return 'yes' if ok(v) else '**no**'

    trows = []

    def trow(name, key, field, ok, show, single='ferry-1'):
        vf, v1 = tv(key, field), tv((key[0], single), field)
        trows.append([name, show(vf), show(v1), met(vf, ok)])

    if 'stream' in workloads:
        trow('stream ⇅ ≥ 1.40× go-mmproxy', ('stream', 'ferry'), 'x_go', lambda v: v >= 1.4, fmt_ratio)
        trow('stream ⇅ ≥ 0.80× direct', ('stream', 'ferry'), 'x_direct', lambda v: v >= 0.8, fmt_ratio)
    if 'churn' in workloads:
        trow('churn conn/s ≥ 0.90× direct', ('churn', 'ferry'), 'x_direct', lambda v: v >= 0.9, fmt_ratio)
        trow('churn conn/s ≥ HAProxy', ('churn', 'ferry'), 'x_haproxy', lambda v: v >= 1.0, fmt_ratio)
        trow('churn: 0 failed connections', ('churn', 'ferry'), 'failures', lambda v: v == 0,
             lambda v: fmt(v, 0))
    if 'latency' in workloads:
        trow('latency: added p99 ≤ ½ go-mmproxy\'s (median of per-round differences)', ('latency', 'ferry'),
             'ratio', lambda v: v <= 0.5, lambda v: '—' if v is None else '%.2f of it' % v)
        trow('latency: the same, best rounds', ('latency', 'ferry'), 'ratio_best', lambda v: v <= 0.5,
             lambda v: '—' if v is None else '%.2f of it' % v)
    if 'idle' in workloads:
        trow('idle: %d connections held' % cfg['idle_connections'], ('idle', 'ferry'), 'held',
             lambda v: v >= cfg['idle_connections'], lambda v: fmt(v, 0))
        trow('idle: RSS ≤ 16 MiB', ('idle', 'ferry'), 'rss_mib', lambda v: v <= 16,
             lambda v: fmt(v, 1, ' MiB'))
        trow('idle: 2 fds per connection', ('idle', 'ferry'), 'fds', lambda v: v <= 2.05, lambda v: fmt(v, 2))
    for w in ('stream', 'bulk'):
        if w in workloads:
            go = tv((w, 'ferry'), 'cpu_gb_go')
            for s in ('ferry', 'ferry-1'):
                t = targets_input.get((w, s))
                if t is not None:
                    t['cpu_rel'] = t['cpu_gb'] / go if t.get('cpu_gb') is not None and go else None
            trow('%s: CPU s/GB ≤ ½ go-mmproxy\'s (%s)' % (w, fmt(go, 2)), (w, 'ferry'), 'cpu_rel',
                 lambda v: v <= 0.5,
                 lambda v: '—' if v is None else '%.2f of it' % v)
    if 'udp' in workloads:
        trow('udp: ferry ≥ go-mmproxy datagrams/s', ('udp', 'ferry'), 'x_go', lambda v: v >= 1.0, fmt_ratio)
    if 'moproxy-stream' in workloads:
        trow('moproxy-stream ⇅ ≥ 1.50× redsocks (moproxy mode)', ('moproxy-stream', 'ferry-moproxy'), 'x_redsocks',
             lambda v: v >= 1.5, fmt_ratio, single='ferry-moproxy-1')
    if 'srcproxy-stream' in workloads:
        trow('ferry srcproxy ≥ haproxy+go-mmproxy: srcproxy-stream ⇅ (srcproxy mode)',
             ('srcproxy-stream', 'ferry-srcproxy'), 'x_hm', lambda v: v >= 1.0, fmt_ratio, single=None)
    if 'srcproxy-churn' in workloads:
        trow('ferry srcproxy ≥ haproxy+go-mmproxy: srcproxy-churn conn/s (srcproxy mode)',
             ('srcproxy-churn', 'ferry-srcproxy'), 'x_hm', lambda v: v >= 1.0, fmt_ratio, single=None)
    targets_md = table(['target', 'ferry', 'ferry-1', 'met by ferry'], trows, ['l', 'r', 'r', 'l'])

    # ---- raw per-round numbers
    raw_cols = {
        'stream': [('⇅ Mbps', '@updown_mbps', 1), ('↓ Mbps', 'mbps_down', 1), ('↑ Mbps', 'mbps_up', 1),
                   ('CPU s/GB', '@cpu_s_per_gb', 2), ('subject cores', '@subject_cores', 2),
                   ('echo cores', '@echo_cores', 2), ('loadgen cores', '@loadgen_cores', 2),
                   ('other jobs\' cores', '@foreign_cores', 2), ('errors', 'errors', 0)],
        'churn': [('conn/s', 'conns_per_s', 0), ('completed', 'completed', 0), ('failures', 'failures', 0),
                  ('p50 µs', 'p50_us', 0), ('p99 µs', 'p99_us', 0), ('subject cores', '@subject_cores', 2),
                  ('echo cores', '@echo_cores', 2), ('loadgen cores', '@loadgen_cores', 2),
                  ('other jobs\' cores', '@foreign_cores', 2)],
        'latency': [('p50', 'p50_us', 0), ('p90', 'p90_us', 0), ('p99', 'p99_us', 0), ('p99.9', 'p999_us', 0),
                    ('max', 'max_us', 0), ('requests', 'requests', 0), ('req/s', 'rate_achieved', 0),
                    ('subject cores', '@subject_cores', 2), ('loadgen cores', '@loadgen_cores', 2),
                    ('other jobs\' cores', '@foreign_cores', 2)],
        'idle': [('opened', 'opened', 0), ('failed', 'failed', 0), ('dropped', 'dropped', 0),
                 ('held', '@idle_held', 0), ('sample', '@idle_sample', 0),
                 ('RSS bytes', '@idle_rss_bytes', 0), ('fds', '@idle_fds', 0),
                 ('fds/conn', '@idle_fds_per_conn', 2), ('bytes/conn', '@idle_bytes_per_conn', 0),
                 ('alive after', '@subject_alive_after', 0)],
    }
    raw_cols['bulk'] = raw_cols['stream']
    raw_cols['udp'] = [('dgram/s', 'dgrams_per_s', 0), ('sent', 'sent', 0), ('received', 'received', 0),
                       ('lost', 'lost', 0), ('late', 'late', 0), ('loss %', 'loss_pct', 3), ('↑ Mbps', 'mbps_up', 1),
                       ('↓ Mbps', 'mbps_down', 1), ('p99 µs', 'p99_us', 0), ('CPU s/M dgram', '@cpu_s_per_mdgram', 2),
                       ('subject cores', '@subject_cores', 2), ('echo cores', '@echo_cores', 2),
                       ('loadgen cores', '@loadgen_cores', 2), ('other jobs\' cores', '@foreign_cores', 2),
                       ('errors', 'errors', 0)]
    for w in ('stream', 'churn'):
        cols = list(raw_cols[w])
        cols.insert([c[1] for c in cols].index('@echo_cores'), ('dante cores', '@backend_cores', 2))
        raw_cols['moproxy-' + w] = cols
        cols = list(raw_cols[w])
        at = [c[1] for c in cols].index('@echo_cores')
        cols[at:at] = [('client cores', '@client_cores', 2), ('server cores', '@server_cores', 2)]
        raw_cols['srcproxy-' + w] = cols
    raw_parts = []
    for w in workloads:
        cols = raw_cols.get(w)
        if not cols:
            continue
        rows = []
        for rnd in d.rounds(w):
            for s in subjects:
                for r in d.runs(w, s):
                    if r['round'] != rnd:
                        continue
                    row = [rnd, s]
                    for _, key, dig in cols:
                        v = d.value(r, key)
                        row.append(str(v) if isinstance(v, bool) else fmt(v, dig))
                    rows.append(row)
        raw_parts.append('**%s**\n\n' % w + table(['round', 'subject'] + [c[0] for c in cols], rows,
                                                   ['r', 'l'] + ['r'] * len(cols)))

    # ---- problems seen
    problems = []
    for r in recs:
        if r.get('harness_error'):
            problems.append('%s round %s %s: %s' % (r['workload'], r['round'], r['subject'], r['harness_error']))
        elif r.get('loadgen_rc'):
            problems.append('%s round %s %s: load generator exited %s' % (r['workload'], r['round'], r['subject'],
                                                                          r['loadgen_rc']))
    busy = [r for r in recs if (r.get('foreign_cores') or 0) >= 0.05]
    if busy:
        problems.append('other jobs used the machine during %d of %d measured intervals (≥ 0.05 cores outside the '
                        'benchmark; worst %.2f cores: %s round %s %s); see "other jobs\' cores" in the raw numbers'
                        % (len(busy), sum(1 for r in recs if 'foreign_cpu_s' in r),
                           max(r['foreign_cores'] for r in busy),
                           *next((r['workload'], r['round'], r['subject']) for r in busy
                                 if r['foreign_cores'] == max(x['foreign_cores'] for x in busy))))
    problems += meta.get('problems', [])

    # ---- chart
    chart_ok = False
    if 'stream' in workloads and a.png:
        datf = a.png + '.dat'
        with open(datf, 'w') as f:
            i = 0
            for s in subjects:
                v = d.median('stream', s, '@updown_mbps')
                if v is None:
                    continue
                f.write('%d "%s" %.1f %d\n' % (i, s, v, 1 if s.startswith('ferry') else 0))
                i += 1
        title = 'stream: %d connections, PROXY v1 + "%s" repeated, ⇅ Mbps (median of %d round%s)' % (
            cfg['connections'], cfg['message_text'].replace('\\', '\\\\'), cfg['rounds'],
            '' if cfg['rounds'] == 1 else 's')
        sub = '%s, %d cores, Linux %s, %s' % (meta['machine']['model'], meta['machine']['nproc'],
                                              meta['machine']['kernel'], meta['machine']['date'][:10])
        rc = subprocess.run(['gnuplot', '-e', 'datafile="%s"; outfile="%s"; charttitle="%s"; subtitle="%s"; '
                             'terminal="%s"' % (datf, a.png, title.replace('"', "'"), sub, a.terminal),
                             a.chart_script], capture_output=True, text=True)
        if rc.returncode == 0:
            chart_ok = True
            os.unlink(datf)
        else:
            problems.append('gnuplot failed: %s' % rc.stderr.strip()[-400:])

    # ---- page
    m = meta['machine']
    out = []
    out.append('# ferry benchmarks\n')
    out.append('Generated by `make bench` (bench/run.sh) on %s.\n' % m['date'])
    out.append('**Machine:** %s, %d cores (`nproc`), Linux %s, %s. %s\n'
               % (m['model'], m['nproc'], m['kernel'], m['os'], m['versions']))
    out.append('**Setup:** one private network namespace with only `lo` in it; the echo upstream (`bench/echo`), '
               'the subject and the load generator (`bench/loadgen`) all run in it, each pinned with `taskset -c` '
               '(subject %s, echo %s, loadgen %s), so they share the same CPUs. Subjects, one at a time, started '
               'fresh for each run: %s. Rounds are interleaved (every subject once per round, %d rounds, %d for latency, each '
               'workload\'s runs back to back); the tables show medians over rounds, and the ratios are medians '
               'of the per-round ratios. The host is shared and absolute numbers drift by up to 2× within '
               'minutes: quote the ratios. "cores" columns are CPU time ÷ wall time during the measured '
               'interval (subject and echo, from /proc/PID/stat) and over the whole run (loadgen, from wait4).\n'
               % (cfg['cpus_subject'], cfg['cpus_echo'], cfg['cpus_loadgen'],
                  ', '.join('`%s` (%s)' % (s, SUBJECT_NOTES.get(s, s)) for s in subjects
                            if any(r['subject'] == s for r in recs)), cfg['rounds'],
                  cfg.get('latency_rounds', cfg['rounds'])))
    if any(w.startswith('moproxy-') for w in workloads):
        out.append('**moproxy workloads:** dante (`danted`, pinned to %s), the SOCKS5 backend that ferry moproxy and '
                   'redsocks both relay through, runs in the same namespace, one instance per workload; the load '
                   'generator runs as uid %d, whose connections to the echo an iptables REDIRECT rule sends to '
                   'the subject. They run after the other workloads: the nat rule turns connection tracking on in '
                   'the namespace.\n' % (cfg.get('cpus_backend', '?'), cfg.get('loadgen_uid', 0)))
    if any(w.startswith('srcproxy-') for w in workloads):
        out.append('**srcproxy workloads:** a second namespace (B) holds the subject\'s server half and a second echo, '
                   'joined to the first (A, the client half and the load generator) by a veth pair (A %s/24, B '
                   '%s/24); both are created for these workloads, which run last (A\'s REDIRECT rule turns '
                   'connection tracking on there), and deleted at the end. The server half is pinned like the '
                   'subject, B\'s echo like the echo.\n' % (cfg.get('sp_a', '?'), cfg.get('sp_b', '?')))
    if cfg.get('quick'):
        out.append('**This is a BENCH_QUICK smoke run (1 round, short intervals): not for quoting.**\n')
    for title, what, tbl in sections:
        out.append('## %s\n' % title)
        out.append(what + '\n')
        out.append(tbl + '\n')
        if title == 'stream' and chart_ok:
            out.append('![stream ⇅ Mbps per subject](%s)\n' % os.path.basename(a.png))
    out.append('## targets\n')
    out.append('Informational, never pass/fail: these are the goals from issue 3 (mmproxy mode), from the '
               'moproxy-mode issue and for srcproxy mode, with what this run measured ("ferry" is `-threads 0` / '
               '`ferry-moproxy` / `ferry-srcproxy`, one loop per CPU; "ferry-1" is `ferry-1` / `ferry-moproxy-1`, '
               'one loop; srcproxy mode has no one-loop variant).\n')
    out.append(targets_md + '\n')
    if problems:
        out.append('## problems seen in this run\n')
        out.append('\n'.join('- ' + p for p in problems) + '\n')
    out.append('## how to reproduce\n')
    out.append('```sh\nmake deps          # haproxy, go-mmproxy, gnuplot-nox, ...\nmake bench         # as root; '
               'about %s here\n'
               'BENCH_QUICK=1 make bench                                   # 1 round, 2 s: a smoke run\n'
               'BENCH_SUBJECTS="ferry go-mmproxy direct" BENCH_WORKLOADS="stream churn" make bench\n'
               'BENCH_QUICK=1 BENCH_WORKLOADS="srcproxy-stream srcproxy-churn" make bench   # srcproxy mode only\n```\n'
               % meta.get('runtime_text', '10 minutes'))
    if meta['env']:
        out.append('Every knob is a `BENCH_*` variable (see bench/README.md). This run: `%s`.\n'
                   % ' '.join('%s=%s' % (k, '"%s"' % v if ' ' in v else v) for k, v in sorted(meta['env'].items())))
    else:
        out.append('Every knob is a `BENCH_*` variable (see bench/README.md); this run used the defaults.\n')
    out.append('Commands (each run starts the subject afresh; `N` in 127.0.N.1 changes with every run):\n')
    width = max(len(k) for k in meta['commands'])
    out.append('```\n%s\n```\n' % '\n'.join('%-*s  %s' % (width, k, v) for k, v in meta['commands'].items()))
    for key, name in (('haproxy_cfg', 'haproxy.cfg'), ('dante_cfg', 'danted.conf'), ('redsocks_cfg', 'redsocks.conf'),
                      ('redsocks_splice_cfg', 'redsocks-splice.conf'), ('haproxy_mmproxy_cfg', 'haproxy-mmproxy.cfg'),
                      ('srcproxy_server_cfg', 'srcproxy-server.json5'),
                      ('srcproxy_client_cfg', 'srcproxy-client.json5')):
        if meta.get(key):
            out.append('build/bench/%s:\n' % name)
            out.append('```\n%s\n```\n' % meta[key].rstrip())
    out.append('<details><summary>Raw numbers, every run</summary>\n')
    out.append('\n\n'.join(raw_parts) + '\n')
    out.append('</details>\n')
    page = '\n'.join(out)
    if cfg.get('header', 'v1') != 'v1':  # the texts above describe the default header
        page = page.replace('PROXY v1', 'PROXY ' + cfg['header']).replace(cfg['stream_header_text'], 'a PROXY %s header' % cfg['header'])
    with open(a.md, 'w') as f:
        f.write(page)
    # stdout: everything but the raw numbers and the reproduce section
    cut = page.index('## how to reproduce')
    print(page[:cut].rstrip())
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run')
    r.add_argument('--out', required=True)
    r.add_argument('--workload', required=True)
    r.add_argument('--round', type=int, required=True)
    r.add_argument('--subject', required=True)
    r.add_argument('--subject-pid', type=int, default=0)
    r.add_argument('--echo-pid', type=int, default=0)
    r.add_argument('--backend-pid', type=int, default=0)
    r.add_argument('--server-pid', type=int, default=0)
    r.add_argument('--warmup', type=float, default=0)
    r.add_argument('--duration', type=float, default=0)
    r.add_argument('--idle', action='store_true')
    r.add_argument('--ready-file')
    r.add_argument('--ready-timeout', type=float, default=60)
    r.add_argument('--upstream-port', type=int, default=2000)
    r.add_argument('--timeout', type=float, default=120)
    r.add_argument('--stderr')
    r.add_argument('argv', nargs=argparse.REMAINDER)
    c = sub.add_parser('check-source')
    c.add_argument('--connect', required=True)
    c.add_argument('--src', required=True)
    c.add_argument('--upstream-port', type=int, default=2000)
    c = sub.add_parser('check-udp')
    c.add_argument('--connect', required=True)
    c.add_argument('--src', required=True)
    c.add_argument('--echo-log')
    c = sub.add_parser('check-relay')
    c.add_argument('--connect', required=True)
    c.add_argument('--subject-port', type=int, required=True)
    c.add_argument('--backend-port', type=int, required=True)
    c = sub.add_parser('check-srcproxy')
    c.add_argument('--connect', required=True)
    c.add_argument('--bind')
    c.add_argument('--echo-pid', type=int, required=True)
    c.add_argument('--echo-port', type=int, required=True)
    c.add_argument('--subject-port', type=int, default=0)
    c.add_argument('--server-port', type=int, default=0)
    q = sub.add_parser('report')
    q.add_argument('--results', required=True)
    q.add_argument('--meta', required=True)
    q.add_argument('--md', required=True)
    q.add_argument('--png')
    q.add_argument('--terminal', default='pngcairo')
    q.add_argument('--chart-script', default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                          'chart.gnuplot'))
    a = p.parse_args()
    if a.cmd == 'run':
        if a.argv and a.argv[0] == '--':
            a.argv = a.argv[1:]
        return cmd_run(a)
    if a.cmd == 'check-source':
        return cmd_check_source(a)
    if a.cmd == 'check-udp':
        return cmd_check_udp(a)
    if a.cmd == 'check-relay':
        return cmd_check_relay(a)
    if a.cmd == 'check-srcproxy':
        return cmd_check_srcproxy(a)
    return report(a)


if __name__ == '__main__':
    sys.exit(main())
