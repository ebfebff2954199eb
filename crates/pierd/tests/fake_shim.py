#!/usr/bin/env python3
"""A stand-in for pier-shim used by pierd's own end-to-end tests: it speaks
the shim protocol of docs/CONTRACTS.md exactly, but runs the process
directly on the host (no namespaces, no rootfs). It exercises everything
pierd does around a container: launch answer, attach-before-start, stdin,
json-file log, signals, exit record, EXITED, socket removal.

Usage: fake_shim.py <shim.json>
"""
import datetime
import json
import os
import pty
import selectors
import signal
import socket
import struct
import subprocess
import sys
import termios
import fcntl

START, STDIN, CLOSE_STDIN, RESIZE, SIGNAL, STATUS, SUBSCRIBE = 1, 2, 3, 4, 5, 6, 7
STDOUT, STDERR, STARTED, EXITED, ERROR, STATUS_REPLY = 0x11, 0x12, 0x13, 0x14, 0x15, 0x16


def now():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % (t.microsecond * 1000)


def frame(kind, payload=b""):
    return struct.pack(">BI", kind, len(payload)) + payload


def find_exe(name, env):
    if "/" in name:
        if os.path.isdir(name):
            return None, 'exec: "%s": permission denied' % name, 126
        if os.access(name, os.X_OK):
            return name, None, 0
        return None, 'exec: "%s": stat %s: no such file or directory' % (name, name), 127
    path = next((e[5:] for e in env if e.startswith("PATH=")), "/usr/bin:/bin")
    for d in path.split(":"):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p, None, 0
    return None, 'exec: "%s": executable file not found in $PATH' % name, 127


def main():
    cfg = json.load(open(sys.argv[1]))
    spec = json.load(open(os.path.join(cfg["bundle"], "config.json")))
    proc_cfg = spec["process"]
    out = sys.stdout

    def answer(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    exe, err, code = find_exe(proc_cfg["args"][0], proc_cfg["env"])
    if err:
        answer({"ok": False, "error": err, "exit_code": code})
        return
    # Daemonize: the parent exits once the grandchild runs.
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(cfg["socket"])
    except FileNotFoundError:
        pass
    srv.bind(cfg["socket"])
    srv.listen(16)
    answer({"ok": True, "pid": os.getpid()})
    out.close()
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)

    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, "accept")
    conns = {}  # sock -> {"buf": bytes, "sub": bool}
    child = None
    stdin_w = None
    outs = {}  # fd -> kind
    log = open(cfg["log"], "a") if cfg.get("log") else None
    pending_log = {STDOUT: b"", STDERR: b""}
    tty = cfg["tty"]
    pty_master = None

    def send_all(data, only_sub=False):
        for s, st in list(conns.items()):
            if only_sub and not st["sub"]:
                continue
            try:
                s.sendall(data)
            except OSError:
                drop(s)

    def drop(s):
        if s in conns:
            del conns[s]
            try:
                sel.unregister(s)
            except Exception:
                pass
            s.close()

    def write_log(kind, data, flush=False):
        if not log:
            return
        buf = pending_log[kind] + data
        stream = "stdout" if kind == STDOUT else "stderr"
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            log.write(json.dumps({"log": (line + b"\n").decode("utf-8", "replace"), "stream": stream, "time": now()}) + "\n")
        if buf and (flush or len(buf) >= 16384):
            log.write(json.dumps({"log": buf.decode("utf-8", "replace"), "stream": stream, "time": now()}) + "\n")
            buf = b""
        pending_log[kind] = buf
        log.flush()

    def start():
        nonlocal child, stdin_w, pty_master
        env = dict(e.split("=", 1) for e in proc_cfg["env"] if "=" in e)
        cwd = proc_cfg.get("cwd") or "/"
        if not os.path.isdir(cwd):
            cwd = "/"
        if tty:
            master, slave = pty.openpty()
            child = subprocess.Popen(proc_cfg["args"], executable=exe, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=cwd, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
            os.close(slave)
            pty_master = master
            stdin_w = master if cfg["open_stdin"] else None
            outs[master] = STDOUT
            sel.register(master, selectors.EVENT_READ, "out")
        else:
            child = subprocess.Popen(proc_cfg["args"], executable=exe,
                                     stdin=subprocess.PIPE if cfg["open_stdin"] else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                                     start_new_session=True)
            stdin_w = child.stdin.fileno() if child.stdin else None
            for f, k in ((child.stdout, STDOUT), (child.stderr, STDERR)):
                outs[f.fileno()] = k
                sel.register(f.fileno(), selectors.EVENT_READ, "out")
        return child.pid

    def handle(s, kind, payload):
        nonlocal stdin_w
        if kind == START:
            pid = start()
            s.sendall(frame(STARTED, struct.pack(">I", pid)))
        elif kind == STDIN and stdin_w is not None:
            try:
                os.write(stdin_w, payload)
            except OSError:
                pass
        elif kind == CLOSE_STDIN and stdin_w is not None:
            if tty:
                os.write(stdin_w, b"\x04")
            else:
                os.close(stdin_w)
                child.stdin = None
            stdin_w = None
        elif kind == RESIZE and pty_master is not None:
            rows, cols = struct.unpack(">HH", payload)
            fcntl.ioctl(pty_master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        elif kind == SIGNAL and child is not None:
            try:
                os.kill(child.pid, struct.unpack(">i", payload)[0])
            except ProcessLookupError:
                pass
        elif kind == STATUS:
            st = {"state": "running" if child else "created", "pid": child.pid if child else os.getpid()}
            s.sendall(frame(STATUS_REPLY, json.dumps(st).encode()))
        elif kind == SUBSCRIBE:
            conns[s]["sub"] = True

    while True:
        for key, _ in sel.select(timeout=0.05):
            if key.data == "accept":
                c, _ = srv.accept()
                conns[c] = {"buf": b"", "sub": False}
                sel.register(c, selectors.EVENT_READ, "conn")
            elif key.data == "conn":
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    drop(s)
                    continue
                st = conns[s]
                st["buf"] += data
                while len(st["buf"]) >= 5:
                    kind, n = struct.unpack(">BI", st["buf"][:5])
                    if len(st["buf"]) < 5 + n:
                        break
                    payload, st["buf"] = st["buf"][5:5 + n], st["buf"][5 + n:]
                    handle(s, kind, payload)
            elif key.data == "out":
                fd = key.fileobj
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(fd)
                    del outs[fd]
                    continue
                k = outs[fd]
                write_log(k, data)
                send_all(frame(k, data), only_sub=True)
        if child is not None and child.poll() is not None:
            # Like a pid namespace: when init dies everything else goes.
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except OSError:
                pass
            if not outs:
                break
    rc = child.returncode
    code = 128 - rc if rc < 0 else rc
    for k in (STDOUT, STDERR):
        write_log(k, b"", flush=True)
    with open(cfg["exit_file"] + ".tmp", "w") as f:
        json.dump({"exit_code": code, "finished_at": now(), "oom_killed": False}, f)
    os.rename(cfg["exit_file"] + ".tmp", cfg["exit_file"])
    send_all(frame(EXITED, struct.pack(">iB", code, 0)))
    os.unlink(cfg["socket"])


if __name__ == "__main__":
    main()
