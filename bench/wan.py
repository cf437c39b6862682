"""The benchmark's WAN mode (issue 21): the same scenarios against the fake Dropbox behind a shaped
link (Tests/fake-dropbox/wan_link.py: a round-trip time on every flight, handshakes included, and
a token bucket on the bytes of each direction), reported as time beyond the transfer in round
trips: (median - bytes / bandwidth) / RTT, beside the round trips each tool's protocol needs.

    bench/benchmark.py --wan 40ms,200mbit [--sizes 64 --reps 1]

Tables only (the analysis in docs/benchmarks.md is written by hand); they go between the WAN
markers of docs/benchmarks.md, never into the main generated block or the plot.
"""
import json
import math
import os
import re

BEGIN = "<!-- BEGIN GENERATED WAN by bench/benchmark.py --wan: everything up to END is rewritten by each WAN run -->"
END = "<!-- END GENERATED WAN -->"

# entrypoint's credentials in WAN mode: a refresh token, as a deploy has (the fake's config gets them).
APP_KEY, APP_SECRET, REFRESH_TOKEN = "bench-app", "bench-secret", "bench-refresh"

# The targets of issue 21 for this mode.
WARM_OVER_FLOOR_RTT = 1
COLD_VS_CURL = 1.05


def parse(spec):
    """'40ms,200mbit' -> {'rtt': 0.04, 'mbit': 200.0, 'rate': bytes per second, 'spec': ...}."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s)\s*,\s*([0-9.]+)\s*([kmg])bit\s*", spec.lower())
    if not m:
        raise SystemExit("--wan: expected RTT,BANDWIDTH such as 40ms,200mbit (got %r)" % spec)
    rtt = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    mbit = float(m.group(3)) * {"k": 1e-3, "m": 1.0, "g": 1e3}[m.group(4)]
    if rtt <= 0 or mbit <= 0:
        raise SystemExit("--wan: the round-trip time and the bandwidth must be > 0 (got %r)" % spec)
    return {"rtt": rtt, "mbit": mbit, "rate": mbit * 1e6 / 8, "spec": spec}


# The content origin when the fake serves on RCLONE_IP:443 (the benchmark's certificate names it);
# otherwise the fake is on 127.0.0.1 and the content origin is "localhost" (its certificate names it).
CONTENT_IP = "127.0.0.1"


def fake_args(wan, on_rclone_ip):
    extra = ["--also-host", CONTENT_IP] if on_rclone_ip else []
    return ["--rtt-ms", "%g" % (wan["rtt"] * 1000), "--bandwidth-mbit", "%g" % wan["mbit"]] + extra


def fake_config(config):
    """The app and refresh token entrypoint uses in this mode."""
    config["apps"] = {APP_KEY: APP_SECRET}
    config["refresh_tokens"] = {REFRESH_TOKEN: {"app_key": APP_KEY}}
    return config


def entrypoint_env(env):
    """entrypoint as deployed: refresh credentials instead of an access token."""
    env = {k: v for k, v in env.items() if k != "DROPBOX_ACCESS_TOKEN"}
    env.update(DROPBOX_APP_KEY=APP_KEY, DROPBOX_APP_SECRET=APP_SECRET, DROPBOX_REFRESH_TOKEN=REFRESH_TOKEN)
    return env


STREAM_CHUNK = 8 * 1024 * 1024  # a WAL backup's in-memory chunk (Backup/BackupUpload.swift, StreamTuning)


def protocol_rtts(kind, tool, nbytes, chunk):
    """Round trips the tool's sequence of requests needs at the least, as (TLS 1.3, TLS 1.2), or
    None where not counted (the peers, the local rows). A new connection: TCP 1 + TLS 1 (1.3) or 2
    (1.2, full handshake: a new process has no session to resume). One origin serves the API and
    the content routes under two names here (two connections, as Dropbox's two hosts): the content
    connection needs no token, so its handshake can overlap the token request and get_metadata,
    and the counts below do not add it."""
    parts = max(1, math.ceil(nbytes / chunk))
    if tool == "entrypoint /bin/true":           # connect, token, get_metadata
        return 4, 5
    if tool == "entrypoint":                     # connect, token, get_metadata, download
        return 5, 6
    if tool == "curl -o":                        # connect, download
        return 3, 4
    if tool == "entrypoint --backup" and kind == "backup-wal":
        # Streamed: its chunks are held in memory, 8 MiB at most (docs/design.md, "The streamed snapshot").
        streamed = max(1, math.ceil(nbytes / min(chunk, STREAM_CHUNK)))
        return 5 + streamed, 6 + streamed
    if tool == "entrypoint --backup":            # connect, token, get_metadata, each part, get_metadata
        return 5 + parts, 6 + parts
    if tool in ("curl upload", "cp, then curl upload"):
        if parts == 1:                           # connect, upload
            return 3, 4
        return 4 + parts, 6 + parts              # curl 1: connect, start; curl 2: connect, appends, finish
    if kind == "warm":
        return 0, 0                              # local: no network at all
    return None


class RequestTrace:
    """entrypoint's requests as the fake logged them (log.jsonl), for its last run of each scenario:
    which connection, which route, when the headers arrived and when the answer was sent."""

    def __init__(self, log_path):
        self.path, self.offset, self.last = log_path, 0, {}

    def skip(self):
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def take(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            f.seek(self.offset)
            text = f.read()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wrap(self, tools, tool, size, kind):
        """tools with `tool`'s prepare and check extended to note the requests of each of its runs."""
        prepare, argv, env, check = tools[tool]

        def traced_prepare(rep):
            if prepare:
                prepare(rep)
            self.skip()

        def traced_check(run):
            self.last["%d %s" % (size, kind)] = self.take()
            return check(run) if check else {}
        return dict(tools, **{tool: (traced_prepare, argv, env, traced_check)})


def transfer_bytes(kind, nbytes):
    return 0 if kind == "warm" else nbytes


def beyond(seconds, kind, nbytes, wan):
    if seconds is None:
        return None
    return (seconds - transfer_bytes(kind, nbytes) / wan["rate"]) / wan["rtt"]


def fmt_rtt(x):
    return "" if x is None else "%.1f" % x


def render(results, sizes, reps, wan, scenarios, med, fmt_s, fmt_x, ratio, chunk):
    f = results["facts"]
    rtt, rate = wan["rtt"], wan["rate"]
    out = ["Generated by `bench/benchmark.py --wan %s` on %s at commit %s; round-trip time %g ms, "
           "bandwidth %g Mbit/s each way (%.1f MB/s); repetitions: %s (interleaved); load %.2f before, "
           "%.2f after; %.1f minutes." % (
               wan["spec"], f["date"], f["commit"], rtt * 1000, wan["mbit"], rate / 1e6,
               ", ".join("%d × %d MiB" % (r, s) for s, r in zip(sizes, reps)),
               results["load"]["before"][0], results["load"]["after"][0], results["runtime_s"] / 60), ""]
    out += ["### WAN targets", "", "| target | goal | measured (medians) | |", "|---|---|---|---|"]
    for size in sizes:
        r = results["sizes"][size]
        nbytes = r["bytes"]
        warm = beyond(med(r, "warm", "entrypoint /bin/true"), "warm", nbytes, wan)
        floor = protocol_rtts("warm", "entrypoint /bin/true", nbytes, chunk)[0]
        out.append("| warm start %d MiB, refresh token | ≤ floor + %d = %d round trips | %s round trips (%s s) | %s |" % (
            size, WARM_OVER_FLOOR_RTT, floor + WARM_OVER_FLOOR_RTT, fmt_rtt(warm),
            fmt_s(med(r, "warm", "entrypoint /bin/true")),
            "" if warm is None else ("met" if warm <= floor + WARM_OVER_FLOOR_RTT else "**missed**")))
        x = ratio(med(r, "cold", "entrypoint"), med(r, "cold", "curl -o"))
        out.append("| cold restore %d MiB vs `curl -o` | ≤ %.2f× | %s (%s s vs %s s) | %s |" % (
            size, COLD_VS_CURL, fmt_x(x), fmt_s(med(r, "cold", "entrypoint")), fmt_s(med(r, "cold", "curl -o")),
            "" if x is None else ("met" if x <= COLD_VS_CURL else "**missed**")))
    out += ["", "### Results over the shaped link", "",
            "| size | scenario | tool | min s | median s | transfer s (bytes / bandwidth) | beyond the transfer, round trips (median) | its requests' round trips, TLS 1.3 (1.2) | × baseline (median) |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for size in sizes:
        r = results["sizes"][size]
        nbytes = r["bytes"]
        for kind, label, base, tools in scenarios:
            ref = med(r, kind, base)
            for tool in tools:
                m = r[kind].get(tool)
                if not m:
                    continue
                p = protocol_rtts(kind, tool, nbytes, chunk)
                out.append("| %d MiB | %s | %s | %s | %s | %s | %s | %s | %s %s |" % (
                    size, label, tool, fmt_s(m["wall"]["min"]), fmt_s(m["wall"]["median"]),
                    fmt_s(transfer_bytes(kind, nbytes) / rate), fmt_rtt(beyond(m["wall"]["median"], kind, nbytes, wan)),
                    "" if p is None else "%d (%d)" % p, fmt_x(ratio(m["wall"]["median"], ref)), base))
    out += ["", "### entrypoint's requests over the link (its last run of each, as the fake logged them)", "",
            "| size | scenario | connection | request | status | headers arrived, RTT after the first accept | answer sent, RTT |",
            "|---|---|---:|---|---:|---:|---:|"]
    for size in sizes:
        for kind in ("cold", "warm", "backup", "backup-wal"):
            reqs = results.get("requests", {}).get("%d %s" % (size, kind)) or []
            origin = min((r["conn_t"] for r in reqs if r.get("conn_t")), default=None)
            for r in reqs:
                if origin is None:
                    break
                what = r["route"] + (" (%s)" % r["range"] if r.get("range") else "")
                out.append("| %d MiB | %s | %s | %s | %s | %s | %s |" % (
                    size, kind, r["conn"], what, r["status"], fmt_rtt((r["t_start"] - origin) / rtt),
                    fmt_rtt((r["t"] - origin) / rtt)))
    out += ["", "### Single measurements over the shaped link", "", "| size | measure | median | min |", "|---|---|---:|---:|"]
    for size in sizes:
        s = results["sizes"][size]["single"]
        for key, what in (("metadata_rpc", "one get_metadata with curl (new connection: 3 round trips at TLS 1.3)"),
                          ("tls_handshake", "curl's appconnect − connect (TCP's round trip, held on the first flight, and TLS's)")):
            out.append("| %d MiB | %s | %s s = %s RTT | %s s |" % (
                size, what, fmt_s(s[key]["median"]), fmt_rtt(s[key]["median"] / rtt), fmt_s(s[key]["min"])))
    return "\n".join(out)


def write_doc(path, generated):
    """Replaces the part between the WAN markers; without them, leaves the file alone (False)."""
    if not os.path.exists(path):
        return False
    text = open(path).read()
    if BEGIN not in text or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(head + "%s\n%s\n%s" % (BEGIN, generated, END) + tail)
    return True
