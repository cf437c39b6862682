#!/usr/bin/env python3
"""entrypoint benchmark (issue 6): warm start, cold restore, peak RSS, binary size, parallel hash.

Run through scripts/benchmark.sh, which builds the static binary and the venv first. Not a test:
timings are noisy on a shared 2-core machine, so every comparison is measured interleaved
(A, B, C, A, B, C, ...) and reported as minimum and median.

    python bench/benchmark.py --binary dist/entrypoint [--work /var/tmp/entrypoint-bench]
                              [--sizes 64,1024] [--reps 5,3] [--out docs]
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-token"
MiB = 1024 * 1024

# The targets of issue 6.
COLD_VS_CURL = 1.10  # cold restore within 10% of curl -o
RSS_LIMIT_KIB = 16 * 1000 * 1000 // 1024  # 16 MB peak RSS for a 1 GiB restore (time -f %M reports KiB)
HASH_SPEEDUP = 1.7  # entrypoint --hash vs single-core openssl dgst -sha256 on 2 cores

SDK_SCRIPT = r"""
import sys, dropbox
path, out = sys.argv[1], sys.argv[2]
dbx = dropbox.Dropbox(oauth2_access_token=sys.argv[3])
m = dbx.files_get_metadata(path)
dbx.files_download_to_file(out, "rev:" + m.rev)
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# databases

def make_database(path, size_mib):
    """A real SQLite database of about size_mib MiB: a table of rows with random blobs and an index."""
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    conn = sqlite3.connect(tmp)
    conn.executescript("""
        PRAGMA page_size = 4096;
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, payload BLOB NOT NULL);
        CREATE INDEX items_name ON items(name);
    """)
    target = size_mib * MiB
    row = 0
    rnd = os.urandom
    while True:
        batch = []
        for _ in range(2000):
            row += 1
            n = 400 + (row * 7919) % 3200  # 400..3599 bytes: mostly one row per page part, some overflow
            batch.append((row, "item-%08d" % row, 1.7e9 + row, rnd(n)))
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", batch)
        conn.commit()
        if os.path.getsize(tmp) >= target:
            break
    conn.close()
    # Pad to exactly the target size is not possible for SQLite; trim by VACUUM is not needed: a
    # database slightly over the nominal size is fine. Record the real size in the report.
    os.rename(tmp, path)


def ensure_databases(work, sizes):
    paths = {}
    for size in sizes:
        path = os.path.join(work, "db-%dMiB.sqlite" % size)
        if not os.path.exists(path):
            log("generating %s (%d MiB SQLite database, random blobs)" % (path, size))
            t = time.monotonic()
            make_database(path, size)
            log("  done in %.1f s" % (time.monotonic() - t))
        paths[size] = path
    return paths


# ---------------------------------------------------------------------------------------------
# fake Dropbox

class Fake:
    def __init__(self, work, files):
        self.certs = os.path.join(work, "certs")
        self.state = tempfile.mkdtemp(prefix="fake-", dir=work)
        fake_dir = os.path.join(REPO, "Tests", "fake-dropbox")
        subprocess.run(["bash", os.path.join(fake_dir, "make_certs.sh"), self.certs], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(self.state, "config.json"), "w") as f:
            json.dump({"files": files, "access_tokens": [TOKEN]}, f)
        self.proc = subprocess.Popen(
            [sys.executable if False else "python3", os.path.join(fake_dir, "fake_dropbox.py"),
             "--state", self.state, "--cert", os.path.join(self.certs, "server.pem"),
             "--key", os.path.join(self.certs, "server.key"), "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.state, "server.err"), "w"))
        port_file = os.path.join(self.state, "port")
        for _ in range(200):
            if os.path.exists(port_file):
                break
            if self.proc.poll() is not None:
                raise SystemExit("fake Dropbox exited: see %s/server.err" % self.state)
            time.sleep(0.05)
        else:
            raise SystemExit("fake Dropbox wrote no port file")
        self.port = int(open(port_file).read())
        self.url = "https://127.0.0.1:%d" % self.port
        self.ca = os.path.join(self.certs, "ca.pem")

    def cpu(self):
        """CPU seconds the server process has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.state, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# measuring

def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DROPBOX_", "ENTRYPOINT_", "RAILWAY_"))
           and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["LC_ALL"] = "C"
    return env


def timed(argv, env, rss_file, may_fail=False):
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + sys) of one run; raises on a non-zero exit."""
    cmd = ["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file] + argv
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode != 0 and not may_fail:
        raise SystemExit("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(argv),
                                                         p.stdout.decode(errors="replace"),
                                                         p.stderr.decode(errors="replace")))
    with open(rss_file) as f:
        fields = f.read().split()[-3:]
    return wall, int(fields[0]), float(fields[1]) + float(fields[2]), p.stderr.decode(errors="replace")


def remove_db(path):
    for suffix in ("", "-wal", "-shm", "-journal", ".entrypoint.json", ".entrypoint.lock"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


def read_file(path):
    """Pull a file into the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 * MiB):
            pass


def stats(samples):
    return {"min": min(samples), "median": statistics.median(samples), "samples": samples}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(REPO, "dist", "entrypoint"))
    ap.add_argument("--python", default=os.path.join(REPO, ".venv-bench", "bin", "python"),
                    help="python of the venv with the dropbox package")
    ap.add_argument("--work", default=os.environ.get("ENTRYPOINT_BENCH_DIR", "/var/tmp/entrypoint-bench"))
    ap.add_argument("--sizes", default="64,1024", help="database sizes in MiB")
    ap.add_argument("--reps", default="7,5", help="repetitions per size")
    ap.add_argument("--out", default=os.path.join(REPO, "docs"))
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    began = time.monotonic()
    load_before = os.getloadavg()

    sizes = [int(s) for s in args.sizes.split(",")]
    reps = [int(r) for r in args.reps.split(",")]
    if len(reps) != len(sizes):
        raise SystemExit("--reps needs one count per size")
    binary = os.path.abspath(args.binary)
    os.makedirs(args.work, exist_ok=True)
    dbs = ensure_databases(args.work, sizes)
    run_dir = tempfile.mkdtemp(prefix="run-", dir=args.work)
    rss_file = os.path.join(run_dir, "rss")

    files = {"/bench-%d.db" % s: [p] for s, p in dbs.items()}
    fake = Fake(args.work, files)
    results = {"sizes": {}, "facts": facts(binary, args.python, dbs)}
    try:
        env_base = clean_env()
        for size, count in zip(sizes, reps):
            src = dbs[size]
            remote = "/bench-%d.db" % size
            nbytes = os.path.getsize(src)
            target = os.path.join(run_dir, "ep-%d.db" % size)
            ep_env = dict(env_base, DROPBOX_ACCESS_TOKEN=TOKEN, DROPBOX_API_URL=fake.url,
                          DROPBOX_CONTENT_URL=fake.url, SSL_CERT_FILE=fake.ca,
                          RAILWAY_DB_PATH=target, DROPBOX_DB_PATH=remote)
            sdk_env = dict(env_base, DROPBOX_API_HOST="127.0.0.1:%d" % fake.port,
                           DROPBOX_API_CONTENT_HOST="127.0.0.1:%d" % fake.port, REQUESTS_CA_BUNDLE=fake.ca)
            curl_out = os.path.join(run_dir, "curl-%d.db" % size)
            sdk_out = os.path.join(run_dir, "sdk-%d.db" % size)
            sdk_script = os.path.join(run_dir, "sdk.py")
            with open(sdk_script, "w") as f:
                f.write(SDK_SCRIPT)
            cold_tools = {
                "entrypoint": (lambda: remove_db(target), [binary]),
                "curl -o": (lambda: remove_db(curl_out),
                            ["curl", "-sS", "--fail", "--cacert", fake.ca, "-H", "Authorization: Bearer " + TOKEN,
                             "-H", json.dumps({"path": remote}, separators=(",", ":")).join(["Dropbox-API-Arg: ", ""]),
                             "-X", "POST", "-o", curl_out, fake.url + "/2/files/download"]),
                "dropbox SDK (Python)": (lambda: remove_db(sdk_out),
                                         [args.python, sdk_script, remote, sdk_out, TOKEN]),
            }
            envs = {"entrypoint": ep_env, "curl -o": env_base, "dropbox SDK (Python)": sdk_env}
            read_file(src)  # the served file in the page cache for everyone
            log("\n== %d MiB (%d bytes), %d repetitions" % (size, nbytes, count))
            cold = {name: {"wall": [], "rss": [], "cpu": [], "server_cpu": []} for name in cold_tools}
            download_phase = []
            for rep in range(count):
                for name, (prepare, argv) in cold_tools.items():
                    server_cpu0 = fake.cpu()
                    prepare()
                    subprocess.run(["sync"])  # no writeback of the previous run's pages in this one
                    wall, rss, cpu, err = timed(argv, envs[name], rss_file)
                    if name == "entrypoint":
                        if "Restored to" not in err:
                            raise SystemExit("entrypoint did not restore:\n" + err)
                        # Its own progress line: "downloading: 1.0 GiB in 2.3s (445.4 MiB/s)" (0.1 s steps).
                        m = re.search(r"downloading: .* in ([0-9.]+)s \(", err)
                        if m:
                            download_phase.append(float(m.group(1)))
                    cold[name]["wall"].append(wall)
                    cold[name]["rss"].append(rss)
                    cold[name]["cpu"].append(cpu)
                    cold[name]["server_cpu"].append(fake.cpu() - server_cpu0)
                    log("  cold  %-22s %7.3f s  %6d KiB  cpu %6.2f s" % (name, wall, rss, cpu))
            # Peak RSS up to the end of the download (the test hook SIGKILLs the process there), and
            # the latency of one get_metadata RPC on this server, as curl sees it.
            remove_db(target)
            _, rss_download, _, _ = timed([binary], dict(ep_env, ENTRYPOINT_TEST_CRASH_AT="downloaded"), rss_file,
                                          may_fail=True)
            remove_db(target)
            for name in os.listdir(run_dir):
                if ".entrypoint-download-" in name:
                    os.unlink(os.path.join(run_dir, name))
            rpc = []
            for _ in range(5):
                p = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", "--cacert", fake.ca,
                                    "-H", "Authorization: Bearer " + TOKEN, "-H", "Content-Type: application/json",
                                    "-d", json.dumps({"path": remote}), fake.url + "/2/files/get_metadata"],
                                   env=env_base, stdout=subprocess.PIPE, check=True, text=True)
                rpc.append(float(p.stdout))
            # PRAGMA quick_check of the same file alone (Python's sqlite3, read-only, immutable): the
            # largest step of a restore that curl -o does not do.
            qc = []
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run(["python3", "-c", "import sqlite3, sys; c = sqlite3.connect('file:' + sys.argv[1] + "
                                "'?mode=ro&immutable=1', uri=True); r = c.execute('PRAGMA quick_check').fetchone()[0]; "
                                "sys.exit(r != 'ok')", src], check=True)
                qc.append(time.perf_counter() - t0)
            for out in (curl_out, sdk_out):
                if subprocess.run(["cmp", "-s", src, out]).returncode != 0:
                    raise SystemExit("%s differs from the source" % out)
            # Warm start: the database is as entrypoint last installed it, in the page cache.
            subprocess.run([binary], env=ep_env, check=True, stderr=subprocess.DEVNULL)
            read_file(target)
            warm_tools = {
                "entrypoint /bin/true": ([binary, "/bin/true"], ep_env),
                "entrypoint --hash": ([binary, "--hash", target], env_base),
                "openssl dgst -sha256": (["openssl", "dgst", "-sha256", target], env_base),
            }
            warm = {name: {"wall": [], "rss": [], "cpu": []} for name in warm_tools}
            for rep in range(max(count, 5)):
                for name, (argv, env) in warm_tools.items():
                    wall, rss, cpu, err = timed(argv, env, rss_file)
                    if name.endswith("/bin/true") and "No download needed" not in err:
                        raise SystemExit("entrypoint did not take the hash-match path:\n" + err)
                    warm[name]["wall"].append(wall)
                    warm[name]["rss"].append(rss)
                    warm[name]["cpu"].append(cpu)
                    log("  warm  %-22s %7.3f s  %6d KiB  cpu %6.2f s" % (name, wall, rss, cpu))
            results["sizes"][size] = {
                "bytes": nbytes,
                "cold": {n: {k: stats(x) for k, x in v.items()} for n, v in cold.items()},
                "download_phase": stats(download_phase) if download_phase else None,
                "rss_download_kib": rss_download,
                "metadata_rpc": stats(rpc),
                "quick_check": stats(qc),
                "warm": {n: {k: stats(x) for k, x in v.items()} for n, v in warm.items()},
            }
            remove_db(target)
            remove_db(curl_out)
            remove_db(sdk_out)
    finally:
        fake.stop()
        shutil.rmtree(run_dir, ignore_errors=True)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    results["runtime_s"] = time.monotonic() - began
    results["load"] = {"before": load_before, "after": os.getloadavg()}
    report = render(results, sizes, reps)
    print(report["table"])
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "benchmarks.md"), "w") as f:
        f.write(report["doc"])
    plot(results, sizes, os.path.join(args.out, "benchmarks.png"))
    log("wrote %s and %s" % (os.path.join(args.out, "benchmarks.md"), os.path.join(args.out, "benchmarks.png")))


# ---------------------------------------------------------------------------------------------
# facts and report

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True).stdout.strip()
    except OSError:
        return "?"


def facts(binary, py, dbs):
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    sha_ni = "yes" if " sha_ni" in open("/proc/cpuinfo").read() else "no"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": sh("git -C %s rev-parse --short HEAD" % REPO),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "kernel": platform.release(),
        "cpu": "%s, %d cores online, SHA-NI %s" % (cpu, os.cpu_count(), sha_ni),
        "memory": sh("free -g | awk '/Mem:/{print $2\" GiB\"}'"),
        "swift": sh("swift --version 2>&1 | head -1"),
        "openssl": sh("openssl version"),
        "curl": sh("curl --version | head -1"),
        "python_sdk": sh("%s -c 'import dropbox, requests, sys; print(\"dropbox\", dropbox.__version__, \"requests\", requests.__version__, \"Python\", sys.version.split()[0])'" % py),
        "binary_bytes": os.path.getsize(binary),
        "binary_file": sh("file -b %s" % binary),
        "binary_stripped": "not stripped" not in sh("file -b %s" % binary),
        "db_bytes": {str(k): os.path.getsize(v) for k, v in dbs.items()},
    }


def fmt_s(x):
    return "%.3f" % x if x < 10 else "%.2f" % x


def fmt_mb(kib):
    return "%.1f" % (kib * 1024 / 1e6)


def render(results, sizes, reps):
    f = results["facts"]
    rows = []
    head = "| size | measure | tool | min s | median s | × reference (median) | peak RSS MB (max) | CPU s (median) |"
    rows.append(head)
    rows.append("|---|---|---|---:|---:|---:|---:|---:|")
    targets = []
    for size in sizes:
        r = results["sizes"][size]
        cold, warm = r["cold"], r["warm"]
        ref = cold["curl -o"]["wall"]["median"]
        for name in ("entrypoint", "curl -o", "dropbox SDK (Python)"):
            m = cold[name]
            rows.append("| %d MiB | cold restore | %s | %s | %s | %.2f× curl -o | %s | %.2f + server %.2f |" % (
                size, name, fmt_s(m["wall"]["min"]), fmt_s(m["wall"]["median"]),
                m["wall"]["median"] / ref, fmt_mb(max(m["rss"]["samples"])), m["cpu"]["median"],
                m["server_cpu"]["median"]))
        if r.get("download_phase"):
            d = r["download_phase"]
            rows.append("| %d MiB | cold restore | entrypoint, download phase only (its log, 0.1 s steps) | %s | %s | %.2f× curl -o | | |" % (
                size, fmt_s(d["min"]), fmt_s(d["median"]), d["median"] / ref))
        wref = warm["openssl dgst -sha256"]["wall"]["median"]
        for name in ("entrypoint /bin/true", "entrypoint --hash", "openssl dgst -sha256"):
            m = warm[name]
            rows.append("| %d MiB | warm start / hash | %s | %s | %s | %.2f× openssl | %s | %.2f |" % (
                size, name, fmt_s(m["wall"]["min"]), fmt_s(m["wall"]["median"]),
                m["wall"]["median"] / wref, fmt_mb(max(m["rss"]["samples"])), m["cpu"]["median"]))
    table = "\n".join(rows)

    big = max(sizes)
    rb = results["sizes"][big]
    ep_cold = rb["cold"]["entrypoint"]["wall"]
    curl_cold = rb["cold"]["curl -o"]["wall"]
    cold_ratio_med = ep_cold["median"] / curl_cold["median"]
    cold_ratio_min = ep_cold["min"] / curl_cold["min"]
    rss = max(rb["cold"]["entrypoint"]["rss"]["samples"])
    h_ep = rb["warm"]["entrypoint --hash"]["wall"]
    h_ssl = rb["warm"]["openssl dgst -sha256"]["wall"]
    speed_med = h_ssl["median"] / h_ep["median"]
    speed_min = h_ssl["min"] / h_ep["min"]
    w_ep = rb["warm"]["entrypoint /bin/true"]["wall"]
    warm_ratio = w_ep["median"] / h_ssl["median"]
    gib = rb["bytes"] / (1 << 30)
    targets.append(("Warm start, database unchanged (%d MiB): time until the wrapped command runs" % big,
                    "below one single-core `openssl dgst -sha256` of the file",
                    "%s s median (%.2f× openssl's %s s)" % (fmt_s(w_ep["median"]), warm_ratio, fmt_s(h_ssl["median"])),
                    warm_ratio < 1.0))
    targets.append(("Cold restore (%d MiB) vs `curl -o` of the same bytes" % big, "≤ 1.10×",
                    "%.2f× median, %.2f× min (%s s vs %s s median)" % (
                        cold_ratio_med, cold_ratio_min, fmt_s(ep_cold["median"]), fmt_s(curl_cold["median"])),
                    cold_ratio_med <= COLD_VS_CURL))
    targets.append(("Peak RSS of a %d MiB restore" % big, "≤ 16 MB",
                    "%s MB (max of runs)" % fmt_mb(rss), rss <= RSS_LIMIT_KIB))
    targets.append(("Content hash of %d MiB: `entrypoint --hash` vs single-core `openssl dgst -sha256`" % big,
                    "≥ 1.7× on 2 cores",
                    "%.2f× median, %.2f× min (%.0f vs %.0f MiB/s)" % (
                        speed_med, speed_min, rb["bytes"] / MiB / h_ep["median"], rb["bytes"] / MiB / h_ssl["median"]),
                    speed_med >= HASH_SPEEDUP))
    targets.append(("Static binary size (stripped)", "≤ 16 MiB (build-static.sh's budget)",
                    "%.1f MB (%d bytes)" % (f["binary_bytes"] / 1e6, f["binary_bytes"]),
                    f["binary_bytes"] <= 16 * MiB))
    trows = ["| target | goal | measured | |", "|---|---|---|---|"]
    for what, goal, measured, ok in targets:
        trows.append("| %s | %s | %s | %s |" % (what, goal, measured, "met" if ok else "**missed**"))
    target_table = "\n".join(trows)

    printed = "\n".join([table, "", target_table])
    results["targets"] = [{"target": t[0], "met": t[3]} for t in targets]
    doc = DOC.format(
        date=f["date"], commit=f["commit"], table=table, targets=target_table,
        reps=", ".join("%d × %d MiB" % (r, s) for s, r in zip(sizes, reps)),
        sizes=", ".join("%d MiB = %d bytes" % (s, results["sizes"][s]["bytes"]) for s in sizes),
        os=f["os"], kernel=f["kernel"], cpu=f["cpu"], memory=f["memory"], swift=f["swift"],
        openssl=f["openssl"], curl=f["curl"], sdk=f["python_sdk"], binary_bytes=f["binary_bytes"],
        binary_mb="%.1f" % (f["binary_bytes"] / 1e6), binary_file=f["binary_file"],
        load="%.2f before the run, %.2f after it (1-minute load averages; this run itself keeps about 1 to 2 busy)" % (
            results["load"]["before"][0], results["load"]["after"][0]),
        notes=notes(results, sizes, targets)).replace("{runtime}", "%.1f minutes" % (results["runtime_s"] / 60))
    return {"table": printed, "doc": doc}


def notes(results, sizes, targets):
    """What bounds the results: computed from this run's numbers."""
    big, small = max(sizes), min(sizes)
    r, r_small = results["sizes"][big], results["sizes"][small]
    ep, curl = r["cold"]["entrypoint"], r["cold"]["curl -o"]
    out = ["## What bounds the numbers", ""]
    d = r.get("download_phase")
    gap = ep["wall"]["median"] - (d["median"] if d else 0)
    cold_met = targets[1][3]
    hash_cpu = r["warm"]["openssl dgst -sha256"]["cpu"]["median"]
    busy = (curl["cpu"]["median"] + curl["server_cpu"]["median"]) / curl["wall"]["median"]
    floor = (curl["cpu"]["median"] + curl["server_cpu"]["median"] + hash_cpu) / 2
    out.append(
        "- **Cold restore%s.** A restore does more than `curl -o`: it must prove the file before it "
        "replaces anything. Of entrypoint's %s s median for %d MiB, the download itself (its own progress "
        "line) took %s s, %.2f× `curl -o`'s %s s; the other %s s are get_metadata (one round trip, below), "
        "`PRAGMA quick_check` of the new file (SQLite reads every page; the same check of this file "
        "from the page cache takes %s s with Python's sqlite3), the final fsync (short: writeback ran during the "
        "download), rename and the directory fsync. `curl -o` does none of these, nor does the seed's "
        "SDK approach (it neither checks the content hash nor syncs), which is why the SDK can beat a "
        "verified restore on a large file here. A restore may not skip them: the issue's target compares a verified, durable install with a bare download." % (
            "" if cold_met else " (target missed)", fmt_s(ep["wall"]["median"]), big,
            fmt_s(d["median"]) if d else "?", (d["median"] / curl["wall"]["median"]) if d else 0,
            fmt_s(curl["wall"]["median"]), fmt_s(gap), fmt_s(r["quick_check"]["median"])))
    out.append(
        "- **Fixed costs.** One get_metadata on this fake server takes %.0f ms (curl, median; the TLS "
        "handshake is about 4 ms of it). That is the server's own latency: it writes the headers and the "
        "small JSON body in separate sends, and a ~40 ms wait is the mark of Nagle's algorithm meeting "
        "the client's delayed ACK. entrypoint pays it once per "
        "start (cold and warm), the SDK too; `curl -o` does not call get_metadata. It dominates the "
        "%d MiB rows: there the warm start is %s s against %s s for the hash alone." % (
            r_small["metadata_rpc"]["median"] * 1000, small, fmt_s(r_small["warm"]["entrypoint /bin/true"]["wall"]["median"]),
            fmt_s(r_small["warm"]["entrypoint --hash"]["wall"]["median"])))
    out.append(
        "- **CPU, 2 cores shared with the server.** The fake Dropbox runs on the same 2 cores: it used "
        "%.2f CPU s per %d MiB transfer (median). `curl -o` used %.2f CPU s (TLS decryption and the "
        "write into the page cache); entrypoint used %.2f CPU s, because it also computes SHA-256 over "
        "every byte (about %.2f s per GiB on one core with SHA-NI, see `openssl dgst` above) and reads "
        "the file again in `quick_check`. During the download the hasher thread competes for the same "
        "two cores with the server and with curl's thread (and with anything else running on the "
        "machine). `curl -o` and the server alone kept %.1f of the 2 cores busy (%.2f + %.2f CPU s in "
        "%s s); adding one SHA-256 pass (%.2f CPU s for this file) gives a floor of %s s for a hashed "
        "download on 2 cores, %.2f× `curl -o`, before any thread waits on another%s; against a remote "
        "Dropbox the server's share is free for the hasher." % (
            ep["server_cpu"]["median"], big, curl["cpu"]["median"], ep["cpu"]["median"],
            hash_cpu / (r["bytes"] / (1 << 30)),
            busy, curl["cpu"]["median"], curl["server_cpu"]["median"], fmt_s(curl["wall"]["median"]),
            hash_cpu, fmt_s(floor), floor / curl["wall"]["median"],
            ". So the 1.10× target cannot be met on this machine with the server on the same cores, even "
            "for the download alone" if floor / curl["wall"]["median"] > COLD_VS_CURL else ""))
    out.append(
        "- **Download path.** curl's write callback writes each chunk with `pwrite` at once and copies "
        "it into a 1 MiB ring; a second thread hashes the ring (it is woken per 256 KiB, not per chunk) "
        "and starts the kernel's writeback of each hashed 8 MiB (`sync_file_range`), so the final fsync "
        "has almost nothing left. The write callback waits for the hasher only when the ring is full. "
        "Memory does not grow with the file: the ring, curl's 512 KiB receive buffer and SQLite's page "
        "cache during `quick_check` are the only buffers. Peak RSS at the end of the %d MiB download was "
        "%s MB (one run stopped there by the `ENTRYPOINT_TEST_CRASH_AT=downloaded` hook); the rest of "
        "the peak is SQLite's page cache in `quick_check`. Most of the resident memory is the static "
        "binary's own pages (Swift runtime, OpenSSL, SQLite)." % (big, fmt_mb(r["rss_download_kib"])))
    out.append(
        "- **The fake server** (`Tests/fake-dropbox`, Python, one thread per connection) and libcurl "
        "together moved %.0f MB/s with `curl -o` in this run (median); its README gives about 755 MB/s "
        "on an idle machine. That, not a network, is the ceiling of every cold row." % (
            r["bytes"] / 1e6 / curl["wall"]["median"]))
    out.append(
        "- **Hash.** `entrypoint --hash` hashes the 4 MiB blocks on all cores with positioned reads; "
        "two cores give at most 2× one core, less the time to read the page cache and to start threads.")
    return "\n".join(out)

DOC = """# Benchmarks

Generated by `scripts/benchmark.sh` on {date} at commit {commit}. Issue 6 sets the targets;
the numbers below come from one run of that script, every tool measured in the same run,
interleaved (A, B, C, A, B, C, …) so the noise of a shared machine hits all alike.
Repetitions: {reps}. Times are wall-clock seconds; "× reference" compares medians.

## Targets

{targets}

## Results

{table}

![time against database size](benchmarks.png)

What each row measures:

- **cold restore**: the local database is deleted first (with its `.entrypoint.json` record and
  lock), then `entrypoint` with no command: get_metadata, download with the content hash computed
  while the bytes arrive, verify the hash, `PRAGMA quick_check`, fsync, rename. `curl -o` is one
  `POST /2/files/download` of the same bytes from the same server, written to a file, no fsync.
  "dropbox SDK (Python)" is the seed's approach: the official `dropbox` package with
  `files_get_metadata` + `files_download_to_file`, pointed at the fake through `DROPBOX_API_HOST`
  and `DROPBOX_API_CONTENT_HOST` (interpreter start and imports included, as at a real start).
  `sync` runs (untimed) before each run so no run pays for the previous one's writeback.
- **warm start**: the database is as entrypoint installed it and in the page cache;
  `entrypoint /bin/true` hashes it (parallel), asks Dropbox for the metadata, finds the hashes
  equal and execs `/bin/true`; the time is the wall time of the whole process tree.
  `entrypoint --hash FILE` is the parallel content hash alone; `openssl dgst -sha256 FILE` is a
  plain single-core SHA-256 of the same bytes, the yardstick of issue 6.
- **peak RSS**: `/usr/bin/time -f %M` (max resident set, kept across the exec of the wrapped
  command), the largest of the repetitions, in MB (10^6 bytes).

The databases are real SQLite files (one table of rows with random blobs of 400–3600 bytes and
an index), {sizes}. The fake Dropbox (`Tests/fake-dropbox`, Python, one thread per connection)
serves them over TLS on 127.0.0.1.

{notes}

## Machine

- OS: {os}, kernel {kernel}
- CPU: {cpu}; memory {memory}
- {swift}
- {openssl}; {curl}
- Seed comparison: {sdk}
- Binary: `dist/entrypoint`, {binary_bytes} bytes ({binary_mb} MB), {binary_file}
- Load: {load}

The machine may be shared (on the project's development machines, with other builds and tests),
so single samples vary; compare the minimum and median columns, not one sample. A competing load
hurts the parallel hash most: with one core taken by another process, two hashing threads get one
core's worth, and `entrypoint --hash` falls to about `openssl dgst`'s speed.

## How to rerun

```sh
scripts/benchmark.sh                  # build, venv, databases, fake server, measure, write docs/
scripts/benchmark.sh --reps 3,1       # quicker
```

`scripts/benchmark.sh` builds the static binary (`scripts/build-static.sh`), creates `.venv-bench/`
with `matplotlib` and `dropbox` from PyPI, installs `time` (for `/usr/bin/time`) and `curl` with
apt when missing, generates the databases once under `/var/tmp/entrypoint-bench` (set
`ENTRYPOINT_BENCH_DIR` to move it; reruns reuse them), and runs `bench/benchmark.py`, which
prints the table and rewrites `docs/benchmarks.md` and `docs/benchmarks.png`.
The whole run takes about {{runtime}} on 2 cores.
"""


def plot(results, sizes, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 (used through matplotlib.ticker)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [("cold", "entrypoint", "entrypoint (cold restore)", "o-"),
              ("cold", "curl -o", "curl -o", "s--"),
              ("cold", "dropbox SDK (Python)", "dropbox SDK, Python (seed)", "^-."),
              ("warm", "entrypoint /bin/true", "entrypoint (warm start, unchanged)", "o-"),
              ("warm", "entrypoint --hash", "entrypoint --hash", "d-"),
              ("warm", "openssl dgst -sha256", "openssl dgst -sha256", "s--")]
    mib = [results["sizes"][s]["bytes"] / MiB for s in sizes]
    for ax, kind, title in ((axes[0], "cold", "Cold restore (median)"), (axes[1], "warm", "Warm start and hash (median)")):
        for k, name, label, style in series:
            if k != kind:
                continue
            ys = [results["sizes"][s][kind][name]["wall"]["median"] for s in sizes]
            ax.plot(mib, ys, style, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.set_xticks(mib)
        ax.set_xticklabels(["%d MiB" % s for s in sizes])
        ax.set_xlabel("database size")
        ax.set_ylabel("seconds")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
