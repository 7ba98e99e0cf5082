#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Drives a test VM: QEMU with the project's guest in agent mode.

  vm.py start DIR [--mem 256M] [--slots 4] [--maxmem 4G] [--cgroup PATH]
              [--preload LIB] [--extra 'QEMU ARGS']   boot; QEMU stays running
  vm.py run DIR COMMAND [--timeout S]     run a shell command in the guest,
                                          print its output, exit with its status
  vm.py stop DIR                          quit QEMU and wait for it
  vm.py ready DIR COMMAND...              a guest started paused by someone
                                          else (libvirt): connects to its
                                          agent, runs COMMAND (which resumes
                                          it), waits until the agent is ready

DIR holds qmp.sock, agent.sock, console.log, qemu.log, qemu.pid.  The
guest image is built by scripts/guest/mkinitrd.sh.  VOFIRM_GUEST_ACCEL:
auto (default: KVM when it boots the guest, else TCG), kvm, or tcg.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    sys.exit(f"vm.py: {what} within {timeout} s")


def qmp(d, *cmds):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(d, "qmp.sock"))
    f = s.makefile("rw")
    json.loads(f.readline())
    out = []
    for c in ("qmp_capabilities",) + cmds:
        f.write(json.dumps({"execute": c}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "event" not in r:
                out.append(r)
                break
    s.close()
    return out


def agent(d, command, timeout):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(d, "agent.sock"))
    s.settimeout(timeout)
    s.sendall((command + "\n").encode())
    buf = b""
    end = time.time() + timeout
    while True:
        if time.time() > end:
            sys.exit(f"vm.py: no answer to '{command}' within {timeout} s")
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            sys.exit(f"vm.py: no answer to '{command}' within {timeout} s")
        if not chunk:
            sys.exit("vm.py: the guest closed the agent channel")
        buf += chunk
        lines = buf.split(b"\n")
        buf = lines.pop()
        for line in lines:
            text = line.decode(errors="replace").rstrip("\r")
            if text.startswith("@@RC "):
                s.close()
                return int(text[5:])
            if text.startswith("@@READY"):
                continue
            print(text, flush=True)


def boot(a, accel, ready_timeout):
    """Starts QEMU with accel; True when the guest's agent said it is ready."""
    d = a.dir
    initrd = os.path.join(d, "initrd.gz")
    for n in ("qmp.sock", "agent.sock"):
        try:
            os.unlink(os.path.join(d, n))
        except FileNotFoundError:
            pass
    cmd = ["qemu-system-x86_64", "-name", a.name, "-M", "pc", "-smp", "1",
           "-m", f"{a.mem},slots={a.slots},maxmem={a.maxmem}",
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
           "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
           "-serial", f"file:{d}/console.log",
           "-serial", f"unix:{d}/agent.sock,server=on,wait=off",
           "-kernel", os.path.join(TOP, "build/guest/vmlinuz"), "-initrd", initrd,
           "-append", "console=ttyS0 panic=-1 quiet swiotlb=noforce "
                      "memhp_default_state=online_movable vofirm.agent"]
    cmd[1:1] = (["-accel", "kvm", "-cpu", "host"] if accel == "kvm"
                else ["-accel", "tcg,tb-size=64", "-cpu", "max"])
    for x in a.extra or []:
        cmd += x.split()
    if a.incoming:
        cmd += ["-incoming", "defer"]
    env = dict(os.environ)
    if a.preload:
        env["LD_PRELOAD"] = a.preload
    pre = []
    if a.cgroup:
        # join the cgroup before exec: every page QEMU touches is charged there
        pre = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', a.cgroup]
    log = open(os.path.join(d, "qemu.log"), "w")
    p = subprocess.Popen(pre + cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    with open(os.path.join(d, "qemu.pid"), "w") as f:
        f.write(str(p.pid))
    wait_for(lambda: (os.path.exists(os.path.join(d, "qmp.sock")) and
                      os.path.exists(os.path.join(d, "agent.sock"))) or p.poll() is not None,
             20, "QEMU did not start")
    if p.poll() is not None:
        return False
    if a.incoming:
        # a migration's destination: its guest comes with the migration
        print(f"vm.py: QEMU waits for an incoming migration (pid {p.pid})", flush=True)
        return True
    # connected before the guest runs: input sent before the guest's agent
    # reads its port is lost, so wait for it to say it is ready
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(d, "agent.sock"))
    s.settimeout(ready_timeout)
    qmp(d, "cont")
    buf = b""
    try:
        while b"@@READY" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    s.close()
    if b"@@READY" in buf:
        print(f"vm.py: guest up under {accel} (QEMU pid {p.pid})", flush=True)
        return True
    p.kill()
    p.wait()
    return False


def start(a):
    d = a.dir
    os.makedirs(d, exist_ok=True)
    subprocess.run([os.path.join(TOP, "scripts/guest/mkinitrd.sh"), os.path.join(d, "initrd.gz")],
                   check=True, stdout=subprocess.DEVNULL)
    accel = os.environ.get("VOFIRM_GUEST_ACCEL", "auto")
    if accel in ("auto", "kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK):
        if boot(a, "kvm", 20):
            return
        if accel == "kvm":
            sys.exit("vm.py: the guest did not boot under KVM (see console.log)")
        print("vm.py: KVM did not boot the guest within 20 s; using TCG", flush=True)
    if not boot(a, "tcg", 180):
        sys.exit("vm.py: the guest did not boot within 180 s (see console.log)")


def stop(a):
    d = a.dir
    try:
        pid = int(open(os.path.join(d, "qemu.pid")).read())
    except (FileNotFoundError, ValueError):
        return
    try:
        qmp(d, "quit")
    except OSError:
        pass
    end = time.time() + 20
    while time.time() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)


def ready(a):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(a.dir, "agent.sock"))
    s.settimeout(180)
    subprocess.run(a.command, check=True)
    buf = b""
    try:
        while b"@@READY" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    s.close()
    if b"@@READY" not in buf:
        sys.exit("vm.py: the guest's agent was not ready within 180 s (see console.log)")
    print("vm.py: guest up", flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("dir")
    s.add_argument("--name", default="vm1")
    s.add_argument("--mem", default="256M")
    s.add_argument("--slots", default="4")
    s.add_argument("--maxmem", default="4G")
    s.add_argument("--cgroup")
    s.add_argument("--preload")
    s.add_argument("--extra", action="append", help="more QEMU arguments (split on spaces)")
    s.add_argument("--incoming", action="store_true",
                   help="-incoming defer: a migration's destination, left paused")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("command")
    r.add_argument("--timeout", type=float, default=300)
    t = sub.add_parser("stop")
    t.add_argument("dir")
    y = sub.add_parser("ready")
    y.add_argument("dir")
    y.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.cmd == "start":
        start(a)
    elif a.cmd == "ready":
        ready(a)
    elif a.cmd == "run":
        sys.exit(agent(a.dir, a.command, a.timeout))
    else:
        stop(a)


if __name__ == "__main__":
    main()
