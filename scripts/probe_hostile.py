#!/usr/bin/env python3
"""Adversarial probes of a built umbra binary (floods, garbage, killed and stopped members,
broken cluster files, wrong keys): one line per probe with its outcome. Not part of CI (it
takes about a minute and wants idle cores). Usage: scripts/probe_hostile.py target/release/umbra"""
import os, random, shutil, signal, socket, subprocess, sys, tempfile, time

UMBRA = sys.argv[1]
os.environ["RUST_BACKTRACE"] = "0"
os.environ["RUST_LOG"] = "off"
results = []


def child_of(pid):
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
            return int(p)
    return None


def free_port(kind):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def keygen(parties, kind, tag):
    d = tempfile.mkdtemp(prefix=f"probe-{tag}-")
    shutil.rmtree(d)
    hosts = [f"127.0.0.1:{free_port(kind)}" for _ in range(parties + 1)]
    subprocess.run([UMBRA, "keygen", "--parties", str(parties), "--dealer", "--out", d,
                    "--hosts", ",".join(hosts)], check=True, capture_output=True)
    return d, hosts


def dealer(d, args):
    return subprocess.Popen([UMBRA, "dealer", "--cluster", f"{d}/cluster.toml"] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


SESSION = "0123456789abcdef0123456789abcdef"


def party(d, i, args, prog, session=SESSION):
    return subprocess.Popen([UMBRA, "party", "--cluster", f"{d}/cluster.toml", "--id", str(i),
                             "--session", session] + args + ["--", UMBRA, "testprog"] + prog,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_all(procs, limit):
    t0 = time.time()
    out = []
    for p in procs:
        try:
            o, e = p.communicate(timeout=max(0.1, limit - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
            out.append((None, o, e))
            continue
        out.append((p.returncode, o, e))
    return out, time.time() - t0


def record(name, ok, detail, took):
    results.append((name, ok, detail, took))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail} ({took:.1f} s)", flush=True)


def wait_listen(addr, kind):
    host, port = addr.split(":")
    t0 = time.time()
    while time.time() - t0 < 10:
        if kind == "tcp":
            try:
                socket.create_connection((host, int(port)), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        else:
            time.sleep(0.5)
            return


def last_line(e):
    lines = [l for l in e.strip().splitlines() if l.strip() and not l.startswith("[")]
    return lines[-1][:200] if lines else ""


def session_runs(d, kind, extra=()):
    ps = [party(d, i, ["--transport", kind, *extra], ["matmul-relu"]) for i in range(2)]
    runs, took = wait_all(ps, 40)
    return all(r[0] == 0 and "RESULT" in r[1] for r in runs), runs, took


# 1. A flood of 300 unauthenticated TCP connections at the dealer while a session runs.
for kind in ["tcp"]:
    d, hosts = keygen(2, kind, "flood")
    dl = dealer(d, ["--transport", kind])
    wait_listen(hosts[-1], kind)
    socks = []
    for _ in range(300):
        try:
            socks.append(socket.create_connection(("127.0.0.1", int(hosts[-1].split(":")[1])), timeout=1))
        except OSError:
            break
    t0 = time.time()
    ok, runs, took = session_runs(d, kind, ("--connect-timeout-ms", "30000"))
    closed = 0
    for s in socks:
        s.settimeout(0.05)
        try:
            if s.recv(1) == b"":
                closed += 1
        except socket.timeout:
            pass
        except OSError:
            closed += 1
    record("flood of 300 silent TCP connections at the dealer, session meanwhile", ok and dl.poll() is None,
           f"session {'completed' if ok else 'FAILED ' + last_line(runs[0][2])}; {closed} of {len(socks)} over the caps closed at once; dealer alive", took)
    for s in socks:
        s.close()
    dl.kill(); dl.communicate()
    shutil.rmtree(d, ignore_errors=True)

# 2. Random garbage at the listening ports (TCP dealer, QUIC dealer).
for kind in ["tcp", "quic"]:
    d, hosts = keygen(2, kind, "garbage")
    dl = dealer(d, ["--transport", kind])
    wait_listen(hosts[-1], kind)
    port = int(hosts[-1].split(":")[1])
    t0 = time.time()
    rnd = random.Random(1)
    for _ in range(200):
        blob = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4000)))
        if kind == "tcp":
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=1)
                s.sendall(blob)
                s.close()
            except OSError:
                pass
        else:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.sendto(blob, ("127.0.0.1", port))
            u.close()
    ok, runs, took = session_runs(d, kind)
    record(f"200 garbage blobs at the {kind} dealer, then a session", ok and dl.poll() is None,
           "dealer alive, session completed" if ok else last_line(runs[0][2]), time.time() - t0)
    dl.kill(); dl.communicate()
    shutil.rmtree(d, ignore_errors=True)

# 3. The dealer killed (-9) or stopped in the middle of a session, both transports.
for kind in ["quic", "tcp"]:
    for how in ["KILL", "STOP"]:
        d, hosts = keygen(2, kind, "dealerdies")
        dl = dealer(d, ["--transport", kind])
        wait_listen(hosts[-1], kind)
        net = ["--transport", kind, "--recv-timeout-ms", "3000", "--idle-timeout-ms", "1500"]
        ps = [party(d, i, net, ["wait", "--secs", "2"]) for i in range(2)]
        time.sleep(1.0)
        os.kill(dl.pid, getattr(signal, "SIG" + how))
        t0 = time.time()
        runs, took = wait_all(ps, 30)
        failed = all(r[0] not in (0, None) for r in runs)
        # party 0 talks to the dealer; party 1 may fail first, waiting for party 0
        named = "dealer" in runs[0][2]
        record(f"dealer {how} mid-session over {kind}", failed and named and took < 12,
               f"parties exit {[r[0] for r in runs]}; party 0: {last_line(runs[0][2])}", took)
        if how == "STOP":
            os.kill(dl.pid, signal.SIGCONT)
        dl.kill(); dl.communicate()
        shutil.rmtree(d, ignore_errors=True)

# 4. A party stopped (SIGSTOP) or killed mid-session, both transports.
for kind in ["quic", "tcp"]:
    for how in ["KILL", "STOP"]:
        d, hosts = keygen(3, kind, "partydies")
        dl = dealer(d, ["--transport", kind, "--recv-timeout-ms", "4000"])
        wait_listen(hosts[-1], kind)
        net = ["--transport", kind, "--recv-timeout-ms", "4000", "--idle-timeout-ms", "1500"]
        ps = [party(d, i, net, ["wait", "--secs", "2"]) for i in range(3)]
        time.sleep(1.0)
        # the program itself, not its `umbra party` supervisor
        victim = child_of(ps[1].pid) or ps[1].pid
        os.kill(victim, getattr(signal, "SIG" + how))
        runs, took = wait_all([ps[0], ps[2]], 30)
        ok = all(r[0] not in (0, None) and "party 1" in r[2] for r in runs)
        if how == "STOP":
            os.kill(victim, signal.SIGCONT)
        ps[1].kill(); ps[1].communicate()
        dlr = dl.poll()
        record(f"party 1 {how} mid-session over {kind} (3 parties)", ok and took < 15,
               f"others exit {[r[0] for r in runs]}: {last_line(runs[0][2])}; dealer {'alive' if dlr is None else 'exited ' + str(dlr)}", took)
        dl.kill(); dl.communicate()
        shutil.rmtree(d, ignore_errors=True)

# 5. Broken cluster files and wrong keys.
d, hosts = keygen(2, "quic", "cluster")
base = open(f"{d}/cluster.toml").read()
cases = {
    "missing file": None,
    "not toml": "this is = = not toml [",
    "empty": "",
    "no parties": "\n".join(l for l in base.splitlines() if not l.startswith("[[party]]")),
    "bad fingerprint": base.replace('fingerprint = "', 'fingerprint = "zz', 1),
    "bad address": base.replace("127.0.0.1:", "127.0.0.1:99999x", 1),
}
for name, text in cases.items():
    path = f"{d}/broken.toml"
    if text is None:
        path = f"{d}/nonexistent.toml"
    else:
        open(path, "w").write(text)
    t0 = time.time()
    r = subprocess.run([UMBRA, "party", "--cluster", path, "--id", "0", "--session", SESSION, "--", "true"],
                       capture_output=True, text=True, timeout=30)
    err = last_line(r.stderr)
    ok = r.returncode != 0 and "panicked" not in r.stderr and len(err) > 0
    record(f"cluster file: {name}", ok, err, time.time() - t0)
# party 0 started with a key that is not its own: another member's, another cluster's
d2, _ = keygen(2, "quic", "foreign")
for what, key in [("party 1's key", f"{d}/party-1"), ("a foreign cluster's key", f"{d2}/party-0")]:
    t0 = time.time()
    r = subprocess.run([UMBRA, "party", "--cluster", f"{d}/cluster.toml", "--id", "0", "--session", SESSION,
                        "--key", f"{key}.key", "--cert", f"{key}.crt", "--", "true"],
                       capture_output=True, text=True, timeout=30)
    record(f"party 0 started with {what}", r.returncode != 0 and "panicked" not in r.stderr,
           last_line(r.stderr), time.time() - t0)
# keygen --force over a 0644 key
os.chmod(f"{d}/party-0.key", 0o644)
subprocess.run([UMBRA, "keygen", "--parties", "2", "--dealer", "--out", d, "--force"], check=True, capture_output=True)
mode = os.stat(f"{d}/party-0.key").st_mode & 0o777
record("keygen --force over a 0644 key", mode == 0o600, f"mode {mode:o}", 0.0)
shutil.rmtree(d, ignore_errors=True)
shutil.rmtree(d2, ignore_errors=True)

bad = [r for r in results if not r[1]]
print(f"\n{len(results) - len(bad)} of {len(results)} probes handled cleanly")
sys.exit(1 if bad else 0)
