#!/usr/bin/env python3
"""systemd's side of sd_notify for tests (systemd is not PID 1 on the test machines).

  sd_harness.py unit-info UNIT
      The unit's [Service] settings that the test uses, as JSON: ExecStart's argv (continuation lines joined,
      quotes and the exec prefixes -@:+! handled, %% kept for the caller), AmbientCapabilities, NoNewPrivileges,
      DynamicUser, User, ExecReload, Type, WatchdogSec; for a .socket unit its ListenStream= addresses and
      FileDescriptorName.

  sd_harness.py run --notify ADDR [options] -- ARGV...
      Plays systemd for one service: binds a datagram socket at ADDR ("/path" or "@abstract") with SO_PASSCRED,
      starts ARGV with NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (its own pid, through `sh -c exec`), and
      checks what it says: READY=1 first and with a STATUS=, the listeners (--connect) accepting once READY=1
      is in, the live count in STATUS= while --hold connections are open, WATCHDOG=1 in rhythm (half of
      --watchdog-usec), RELOADING=1 + MONOTONIC_USEC then READY=1 for SIGHUP (--reload), no WATCHDOG=1 while
      one thread (--stall NAME, by its /proc comm) is stopped with ptrace and WATCHDOG=1 again once it runs,
      STOPPING=1 last for SIGTERM and exit status 0; every message from the main pid.
      Prints "ok - ..." / "not ok - ..." lines (details as "#   " lines) prefixed with --name.

  sd_harness.py syscalls STRACE_OUTPUT GROUP
      The system calls in an `strace -f` output that a unit's SystemCallFilter=GROUP would refuse; exit 1 if any.
"""
import argparse
import ctypes
import json
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

# ------------------------------------------------------------------ unit files


def read_unit(path):
    """[Section] -> list of (key, value), continuation lines joined, comments dropped."""
    sections = {}
    current = None
    pending = ''
    for raw in open(path, encoding='utf-8'):
        line = raw.rstrip('\n')
        if not pending and (not line.strip() or line.lstrip().startswith(('#', ';'))):
            continue
        if line.endswith('\\'):
            pending += line[:-1] + ' '
            continue
        line = pending + line
        pending = ''
        s = line.strip()
        if s.startswith('[') and s.endswith(']'):
            current = sections.setdefault(s[1:-1], [])
            continue
        key, _, value = s.partition('=')
        current.append((key.strip(), value.strip()))
    return sections


def exec_argv(value):
    """An Exec*= line's argv (systemd's quoting is close enough to the shell's for our units)."""
    while value and value[0] in '-@:+!':
        value = value[1:]
    return shlex.split(value)


def unit_info(path):
    sections = read_unit(path)
    if 'Socket' in sections:
        socket_info = {'listen_stream': [], 'fdname': None}
        for key, value in sections['Socket']:
            if key == 'ListenStream':
                socket_info['listen_stream'].append(value)
            elif key == 'FileDescriptorName':
                socket_info['fdname'] = value
        return socket_info
    service = sections.get('Service', [])
    info = {'exec_start': None, 'exec_reload': [], 'ambient': [], 'bounding': None, 'no_new_privileges': False,
            'dynamic_user': False, 'user': None, 'type': 'simple', 'watchdog_sec': None, 'load_credential': []}
    for key, value in service:
        if key == 'ExecStart':
            info['exec_start'] = exec_argv(value)
        elif key == 'ExecReload':
            info['exec_reload'].append(exec_argv(value))
        elif key == 'AmbientCapabilities':
            info['ambient'] += value.split()
        elif key == 'CapabilityBoundingSet':
            info['bounding'] = (info['bounding'] or []) + value.split()
        elif key == 'NoNewPrivileges':
            info['no_new_privileges'] = value in ('yes', 'true', '1', 'on')
        elif key == 'DynamicUser':
            info['dynamic_user'] = value in ('yes', 'true', '1', 'on')
        elif key == 'User':
            info['user'] = value
        elif key == 'Type':
            info['type'] = value
        elif key == 'WatchdogSec':
            info['watchdog_sec'] = value
        elif key == 'LoadCredential':
            info['load_credential'].append(value)
    return info


# ------------------------------------------------------------------ the notify socket


class Listener:
    """Collects (monotonic seconds, sender pid, {key: value}, raw text) for every datagram."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.address = address
        if address.startswith('@'):
            self.sock.bind('\0' + address[1:])
        else:
            try:
                os.unlink(address)
            except FileNotFoundError:
                pass
            self.sock.bind(address)
            os.chmod(address, 0o777)  # the service may run as another user
        self.messages = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        cred_size = struct.calcsize('iII')
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(cred_size))
            except OSError:
                return
            now = time.monotonic()
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack('iII', payload[:cred_size])[0]
            text = data.decode('utf-8', 'replace')
            fields = {}
            for line in text.split('\n'):
                if '=' in line:
                    k, _, v = line.partition('=')
                    fields[k] = v
            with self.cond:
                self.messages.append((now, pid, fields, text))
                self.cond.notify_all()

    def wait_for(self, pred, timeout, start=0):
        """The index of the first message at index >= start for which pred(fields) holds, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.messages)):
                    if pred(self.messages[i][2]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def snapshot(self):
        with self.lock:
            return list(self.messages)


# ------------------------------------------------------------------ ptrace (one thread only)

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long


def ptrace(request, tid):
    if _libc.ptrace(request, tid, None, None) == -1:
        err = ctypes.get_errno()
        raise OSError(err, 'ptrace(%d, %d): %s' % (request, tid, os.strerror(err)))


def stop_thread(tid):
    """Stops one thread of another process (the others run on): PTRACE_SEIZE + PTRACE_INTERRUPT."""
    ptrace(PTRACE_SEIZE, tid)
    ptrace(PTRACE_INTERRUPT, tid)
    os.waitpid(tid, WALL)


def resume_thread(tid):
    ptrace(PTRACE_DETACH, tid)


def threads_of(pid):
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
                out[f.read().strip()] = int(tid)
        except OSError:
            pass
    return out


def thread_state(pid, tid):
    with open('/proc/%d/task/%d/stat' % (pid, tid)) as f:
        return f.read().rsplit(')', 1)[1].split()[0]


# ------------------------------------------------------------------ the scenario


class Report:
    def __init__(self, name):
        self.name = name
        self.failed = 0

    def check(self, what, cond, *details):
        if cond:
            print('ok - %s: %s' % (self.name, what))
        else:
            self.failed += 1
            print('not ok - %s: %s' % (self.name, what))
            for d in details:
                for line in str(d).splitlines():
                    print('#   ' + line)
        sys.stdout.flush()
        return cond


def connect_ok(address, timeout=2.0):
    host, _, port = address.rpartition(':')
    host = host.strip('[]')
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, int(port)))
        return s, None
    except ConnectionResetError:
        # Accepted, and closed at once with a reset (srcproxy client: not a REDIRECTed connection): listening.
        return s, None
    except OSError as e:
        s.close()
        return None, e


def run(args):
    r = Report(args.name)
    listener = Listener(args.notify)
    env = dict(os.environ)
    env['NOTIFY_SOCKET'] = args.notify
    env['WATCHDOG_USEC'] = str(args.watchdog_usec)
    env.pop('WATCHDOG_PID', None)
    argv = list(args.argv)
    if argv and argv[0] == '--':
        argv = argv[1:]
    if args.watchdog_pid == 'self':
        argv = ['sh', '-c', 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', 'sh'] + argv
    elif args.watchdog_pid == 'other':
        env['WATCHDOG_PID'] = '1'
    if args.prefix:
        argv = shlex.split(args.prefix) + argv
    log = open(args.log, 'ab')
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    held = []
    try:
        if args.activate:
            # Socket activation: the service starts on the first connection, which waits in the backlog of the
            # socket systemd (here systemd-socket-activate) holds.
            deadline = time.monotonic() + 5
            while True:
                s, err = connect_ok(args.activate)
                if s or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if not r.check('the first connection to %s is queued before the service runs' % args.activate,
                           s is not None, err):
                return 1
            held.append(s)
        scenario(r, args, listener, proc, started, held)
    finally:
        for s in held:
            s.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return 1 if r.failed else 0


def scenario(r, args, listener, proc, started, held):
    period = args.watchdog_usec / 2e6
    ready = listener.wait_for(lambda f: f.get('READY') == '1', args.start_timeout)
    if not r.check('READY=1 arrives', ready is not None,
                   'no READY=1 within %ss; exit status %s' % (args.start_timeout, proc.poll())):
        return
    msgs = listener.snapshot()
    r.check('READY=1 is the first message', ready == 0, [m[3] for m in msgs[:ready + 1]])
    for address in args.connect:
        s, err = connect_ok(address)
        r.check('%s accepts connections once READY=1 is in' % address, s is not None, err)
        if s:
            s.close()
    status = msgs[ready][2].get('STATUS', '')
    r.check('READY=1 comes with a STATUS= line', 'listening on' in status and 'connection' in status, status)
    r.check('messages come from the main pid', all(m[1] == proc.pid for m in msgs), [(m[1], m[3]) for m in msgs])

    if args.activate:
        want = '1 connection'
        wait = period * 3 + 1 if args.watchdog_pid != 'other' else 6
        seen = listener.wait_for(lambda f: f.get('STATUS', '').startswith(want + ','), wait, ready)
        r.check('the service took the connection that started it (STATUS= counts it)', seen is not None,
                [m[3] for m in listener.snapshot()[ready:]])
        for s in held:
            s.close()
        held.clear()

    if args.hold:
        for _ in range(args.hold):
            s, err = connect_ok(args.hold_address)
            if s:
                held.append(s)
        want = '%d connections' % args.hold
        # STATUS= is refreshed at each watchdog tick, or every 5 s without a watchdog.
        wait = period * 3 + 1 if args.watchdog_pid != 'other' else 6
        seen = listener.wait_for(lambda f: want in f.get('STATUS', ''), wait, ready)
        r.check('STATUS= counts the %d open connections' % args.hold, seen is not None,
                [m[3] for m in listener.snapshot()[ready:]])
        for s in held:
            s.close()
        held.clear()

    if args.watchdog_pid == 'other':
        time.sleep(period * 4)
        r.check('no WATCHDOG=1 when WATCHDOG_PID names another process',
                not any('WATCHDOG' in m[2] for m in listener.snapshot()), [m[3] for m in listener.snapshot()])
    else:
        first = len(listener.snapshot())
        time.sleep(args.rhythm_seconds)
        ticks = [m[0] for m in listener.snapshot()[first:] if m[2].get('WATCHDOG') == '1']
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        want = args.rhythm_seconds / period
        r.check('WATCHDOG=1 about every %.2fs (%d in %.1fs)' % (period, len(ticks), args.rhythm_seconds),
                len(ticks) >= want - 2 and gaps and all(abs(g - period) <= args.tolerance for g in gaps),
                'gaps: %s' % ' '.join('%.3f' % g for g in gaps))

    if args.reload:
        mark = len(listener.snapshot())
        before = time.monotonic_ns() // 1000
        proc.send_signal(signal.SIGHUP)
        i = listener.wait_for(lambda f: 'RELOADING' in f, 5, mark)
        after = time.monotonic_ns() // 1000
        if r.check('SIGHUP: RELOADING=1', i is not None, [m[3] for m in listener.snapshot()[mark:]]):
            f = listener.snapshot()[i][2]
            usec = int(f.get('MONOTONIC_USEC', '0') or 0)
            r.check('RELOADING=1 carries MONOTONIC_USEC on our clock (between the SIGHUP and its arrival)',
                    before <= usec <= after, 'sent at %d..%d us, MONOTONIC_USEC=%s' % (before, after, usec))
            j = listener.wait_for(lambda f: f.get('READY') == '1', 5, i + 1)
            r.check('READY=1 after RELOADING=1', j is not None, [m[3] for m in listener.snapshot()[mark:]])
        if args.watchdog_pid != 'other':
            mark = len(listener.snapshot())
            r.check('WATCHDOG=1 goes on after the reload',
                    listener.wait_for(lambda f: 'WATCHDOG' in f, period * 3, mark) is not None)

    for name in args.stall:
        stall(r, args, listener, proc, name, period)

    mark = len(listener.snapshot())
    proc.send_signal(signal.SIGTERM)
    i = listener.wait_for(lambda f: f.get('STOPPING') == '1', 5, mark)
    r.check('SIGTERM: STOPPING=1', i is not None, [m[3] for m in listener.snapshot()[mark:]])
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        rc = 'still running 10 s after SIGTERM'
    r.check('SIGTERM: exit status 0', rc == 0, 'exit status: %s' % rc)
    time.sleep(0.1)
    msgs = listener.snapshot()
    r.check('STOPPING=1 is the last message', i is not None and i == len(msgs) - 1, [m[3] for m in msgs[-4:]])
    r.check('every message came from the main pid', all(m[1] == proc.pid for m in msgs),
            [(m[1], m[3]) for m in msgs if m[1] != proc.pid])


def stall(r, args, listener, proc, name, period):
    threads = threads_of(proc.pid)
    tid = threads.get(name)
    if not r.check('a thread named %s' % name, tid is not None and tid != proc.pid, sorted(threads)):
        return
    stop_thread(tid)
    stopped_at = time.monotonic()
    try:
        time.sleep(args.stall_seconds)
        state = thread_state(proc.pid, tid)
        main_state = thread_state(proc.pid, proc.pid)
        msgs = listener.snapshot()
    finally:
        resume_thread(tid)
    resumed_at = time.monotonic()
    r.check('%s stopped (state %s) while the main thread runs (state %s)' % (name, state, main_state),
            state in ('t', 'T') and main_state in ('S', 'R'))
    # The tick right after the stop may still find the ping answered; from the next one on, nothing.
    late = [m[0] - stopped_at for m in msgs if 'WATCHDOG' in m[2] and m[0] > stopped_at + period * 1.5]
    r.check('no WATCHDOG=1 while %s is stopped (%.1fs)' % (name, args.stall_seconds), not late,
            'WATCHDOG=1 at +%s s after the stop' % ' '.join('%.2f' % t for t in late))
    said = [m[2]['STATUS'] for m in msgs if m[0] > stopped_at and 'STATUS' in m[2]]
    r.check('the main thread says so in STATUS=', any(name in s and 'not responding' in s for s in said), said)
    mark = len(msgs)
    back = listener.wait_for(lambda f: 'WATCHDOG' in f, period * 3 + 0.5, mark)
    r.check('WATCHDOG=1 again once %s runs' % name, back is not None,
            [m[3] for m in listener.snapshot()[mark:]])
    if back is not None:
        r.check('...within two ticks', listener.snapshot()[back][0] - resumed_at <= period * 2 + 0.3,
                '%.2f s after the resume' % (listener.snapshot()[back][0] - resumed_at))


def syscall_group(group, seen=None):
    """The system calls of a systemd group (@system-service, ...), nested groups expanded."""
    seen = set() if seen is None else seen
    out = set()
    text = subprocess.run(['systemd-analyze', 'syscall-filter', group], capture_output=True, text=True,
                          check=True).stdout
    for line in text.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('@'):
            if line not in seen:
                seen.add(line)
                out |= syscall_group(line, seen)
        else:
            out.add(line)
    return out


def syscalls(args):
    allowed = syscall_group(args.group)
    used = set()
    for line in open(args.strace_output):
        m = re.match(r'\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]', line)
        if m:
            used.add(m.group(1))
    bad = sorted(used - allowed)
    print('used: ' + ' '.join(sorted(used)))
    print('outside %s (%d calls): %s' % (args.group, len(allowed), ' '.join(bad)))
    # A group this small, or a trace without the relay's splice, means the check itself went wrong.
    return 1 if bad or len(allowed) < 100 or 'splice' not in used else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('syscalls', help='the system calls of an strace -f output outside a systemd group')
    p.add_argument('strace_output')
    p.add_argument('group')
    p = sub.add_parser('unit-info')
    p.add_argument('unit')
    p = sub.add_parser('run')
    p.add_argument('--name', required=True)
    p.add_argument('--notify', required=True)
    p.add_argument('--log', required=True)
    p.add_argument('--prefix', default='', help='command line put before ARGV (setpriv ...)')
    p.add_argument('--watchdog-usec', type=int, default=1000000)
    p.add_argument('--watchdog-pid', choices=['self', 'other', 'unset'], default='self')
    p.add_argument('--start-timeout', type=float, default=10)
    p.add_argument('--connect', action='append', default=[])
    p.add_argument('--activate', help='socket activation: connect here first, and hold it until READY=1')
    p.add_argument('--hold', type=int, default=0)
    p.add_argument('--hold-address')
    p.add_argument('--rhythm-seconds', type=float, default=3.0)
    p.add_argument('--tolerance', type=float, default=0.2)
    p.add_argument('--reload', action='store_true')
    p.add_argument('--stall', action='append', default=[])
    p.add_argument('--stall-seconds', type=float, default=2.5)
    p.add_argument('argv', nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if args.cmd == 'syscalls':
        return syscalls(args)
    if args.cmd == 'unit-info':
        print(json.dumps(unit_info(args.unit)))
        return 0
    return run(args)


if __name__ == '__main__':
    sys.exit(main())
