#!/usr/bin/python3
"""soak.py - the workload, sampler and verdict of `make soak` (started by soak.sh).

Runs for --seconds against a running gostream (its PID, ports and FUSE mount given) and a
loopback swarm: seeder S1 (started by soak.sh, never stopped) holds every title; seeder S2
(started and restarted here every --restart seconds, on a fixed port) holds the stream
and churn titles. Threads, each bounded by the deadline:
  http-N / fuse-N  streams of the stream films (paced sequential spans + random seeks),
                   over HTTP ranges and through the FUSE mount
  scan             Plex-like scans: every --scan-every s, --scan-batch titles of the
                   scan list (cycled, so every title is reached), head + tail, half over
                   HTTP, half through FUSE (page cache dropped), plus directory listings
  churn            add a churn title, read it, `rem` it (half the time while a FUSE
                   reader holds it open), add the next one
  webhook          Plex media.play / media.stop and a Jellyfin event for a stream film
  settings         POST /settings set (CacheSize, ConnectionsLimit), then get
  seeder           S2 restarted (SIGTERM, start again on the same port)
  sampler          VmRSS, Threads (/proc/PID/status) and open fds (/proc/PID/fd) every 5 s
Every byte read is compared with the source file. A read of a title the swarm holds
(S1 never stops) that fails is a failure; a churn read cut by its own `rem` is counted
apart. The flatness rule (after a warm-up of the first third): the last third's maximum
of RSS <= the second third's * 1.10 + 16 MiB; open fds <= + 16; threads <= + 8.
Prints a summary and one JSON line ("SOAK {...}"); exit 1 when a rule is violated.
"""
import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

MIB = 1 << 20
lock = threading.Lock()
stats = {}
problems = []          # failures: (time, what)
stop = threading.Event()
T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def count(key, n=1):
    with lock:
        stats[key] = stats.get(key, 0) + n


def problem(what):
    with lock:
        problems.append("%.0fs %s" % (now(), what))
    sys.stderr.write("soak: PROBLEM at %.0fs: %s\n" % (now(), what))


def log(msg):
    sys.stderr.write("soak: %5.0fs %s\n" % (now(), msg))


class Source:
    """The bytes a title must have: pread on the original file."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self.fd).st_size

    def get(self, off, n):
        return os.pread(self.fd, n, off)


def post_json(port, path, body, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def http_read(port, path, off, n, timeout, pace=None):
    """GET bytes off..off+n-1 as one request, read 1 MiB at a time (paced); returns bytes."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Range": "bytes=%d-%d" % (off, off + n - 1)})
        r = c.getresponse()
        if r.status != 206:
            raise RuntimeError("HTTP %d %s" % (r.status, r.read(200)))
        out = []
        got = 0
        while got < n:
            t = time.monotonic()
            b = r.read(min(MIB, n - got))
            if not b:
                break
            out.append(b)
            got += len(b)
            if pace:
                pace(len(b), t)
        return b"".join(out)
    finally:
        c.close()


def file_read(path, off, n, pace=None, drop=False, fd=None):
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY)
    try:
        if drop:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        out = []
        got = 0
        while got < n:
            t = time.monotonic()
            b = os.pread(fd, min(MIB, n - got), off + got)
            if not b:
                break
            out.append(b)
            got += len(b)
            if pace:
                pace(len(b), t)
        return b"".join(out)
    finally:
        if own:
            os.close(fd)


def pacer(rate_mib):
    def pace(n, t0):
        want = n / (rate_mib * MIB)
        spent = time.monotonic() - t0
        if want > spent:
            stop.wait(want - spent)
    return pace


def check(kind, title, off, want_n, got, want):
    count(kind + "_reads")
    count(kind + "_bytes", len(got))
    if len(got) != want_n:
        problem("%s %s: short read at %d: %d of %d bytes" % (kind, title, off, len(got), want_n))
        return False
    if got != want:
        i = next((k for k in range(len(got)) if got[k] != want[k]), -1)
        count("mismatches")
        problem("%s %s: WRONG BYTES at offset %d (+%d)" % (kind, title, off, i))
        return False
    return True


def streamer(a, kind, idx, films):
    r = random.Random(1000 * idx + (kind == "fuse"))
    pace = pacer(a.rate)
    while not stop.is_set():
        f = films[r.randrange(len(films))]
        src = f["src"]
        # a sequential span (a player playing), then seeks (a player skipping)
        span = r.randint(4, 24) * MIB
        start = r.randrange(0, max(1, src.size - span)) if r.random() < 0.7 else 0
        spans = [(start, min(span, src.size - start))]
        for _ in range(r.randint(1, 4)):
            o = r.randrange(0, src.size - 1)
            spans.append((o, min(r.choice((64 << 10, 512 << 10, 2 * MIB)), src.size - o)))
        for off, n in spans:
            if stop.is_set():
                return
            try:
                if kind == "http":
                    got = http_read(a.stream_port, f["url"], off, n, 90, pace)
                else:
                    got = file_read(f["path"], off, n, pace)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                count("failed_reads")
                problem("%s %s: read %d+%d failed: %s" % (kind, f["title"], off, n, e))
                continue
            check(kind, f["title"], off, n, got, src.get(off, n))


def scanner(a, scan_titles, base):
    r = random.Random(7)
    order = list(range(len(scan_titles)))
    r.shuffle(order)
    pos = 0
    next_t = now()
    head, tail = MIB, MIB
    while not stop.is_set():
        if stop.wait(max(0, next_t - now())):
            return
        next_t = now() + a.scan_every
        t0 = now()
        # listings: the mount's folder and the HTTP index
        try:
            n = len(os.listdir(os.path.join(a.mount, "movies")))
            if n < len(scan_titles):
                problem("scan: the mount lists %d titles, want >= %d" % (n, len(scan_titles)))
            c = http.client.HTTPConnection("127.0.0.1", a.stream_port, timeout=30)
            c.request("GET", "/movies/", headers={"Accept": "application/json"})
            rr = c.getresponse()
            rr.read()
            c.close()
            if rr.status != 200:
                problem("scan: GET /movies/ answered %d" % rr.status)
            count("listings")
        except Exception as e:  # noqa: BLE001
            problem("scan: listing failed: %s" % e)
        batch = []
        for _ in range(min(a.scan_batch, len(order))):
            batch.append(scan_titles[order[pos % len(order)]])
            pos += 1
        items = list(enumerate(batch))
        ilock = threading.Lock()

        def work():
            while not stop.is_set():
                with ilock:
                    if not items:
                        return
                    i, t = items.pop()
                for off, n in ((0, head), (base.size - tail, tail)):
                    kind = "scan_http" if i % 2 == 0 else "scan_fuse"
                    try:
                        if kind == "scan_http":
                            got = http_read(a.stream_port, t["url"], off, n, 90)
                        else:
                            got = file_read(t["path"], off, n, drop=True)
                    except Exception as e:  # noqa: BLE001
                        count("failed_reads")
                        problem("%s %s: read %d+%d failed: %s" % (kind, t["title"], off, n, e))
                        continue
                    check(kind, t["title"], off, n, got, base.get(off, n))
        ths = [threading.Thread(target=work) for _ in range(4)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        count("scans")
        count("scan_titles", len(batch))
        log("scan of %d titles in %.1f s (%d scanned so far)" % (len(batch), now() - t0, pos))


def churn(a, churn_titles, base):
    r = random.Random(11)
    api = a.api_port
    i = 0
    while not stop.is_set():
        t = churn_titles[i % len(churn_titles)]
        i += 1
        st, body = post_json(api, "/torrents", {"action": "add", "link": t["torrent"],
                                                "title": t["title"], "category": "movie",
                                                "peers": a.peers})
        if st == 409:
            count("churn_add_409")      # its previous reader still open: next one
            stop.wait(1)
            continue
        if st != 200:
            problem("churn: add %s answered %d %s" % (t["title"], st, body[:200]))
            stop.wait(2)
            continue
        count("churn_adds")
        h = json.loads(body)["hash"]
        path = os.path.join(a.mount, "movies", t["title"] + ".mkv")
        url = "/movies/" + urllib.parse.quote(t["title"] + ".mkv")
        off = r.randrange(0, base.size - 2 * MIB)
        try:
            got = http_read(a.stream_port, url, off, 2 * MIB, 90)
            check("churn", t["title"], off, 2 * MIB, got, base.get(off, 2 * MIB))
        except Exception as e:  # noqa: BLE001
            count("failed_reads")
            problem("churn %s: read before rem failed: %s" % (t["title"], e))
        reader = None
        res = {}
        if r.random() < 0.5:
            # rem while a FUSE reader holds the file open and reads it (slowly)
            def rd():
                fd = None
                o = 0
                try:
                    for _ in range(50):
                        if os.path.exists(path):
                            break
                        time.sleep(0.1)
                    fd = os.open(path, os.O_RDONLY)
                    res["opened"] = True
                    pace = pacer(2)
                    while o < base.size and not stop.is_set() and o < 40 * MIB:
                        t1 = time.monotonic()
                        b = os.pread(fd, MIB, o)
                        if not b:
                            break
                        if b != base.get(o, len(b)):
                            count("mismatches")
                            problem("churn %s: WRONG BYTES at %d while being removed" % (t["title"], o))
                            break
                        o += len(b)
                        pace(len(b), t1)
                    res["end"] = "eof"
                except OSError as e:
                    res["end"] = "error %s" % e.strerror
                finally:
                    res["bytes"] = o
                    if fd is not None:
                        os.close(fd)
            reader = threading.Thread(target=rd)
            reader.start()
            stop.wait(r.uniform(0.5, 3))
        st, body = post_json(api, "/torrents", {"action": "rem", "hash": h})
        if st != 200:
            problem("churn: rem %s answered %d %s" % (t["title"], st, body[:200]))
        else:
            count("churn_rems")
        if reader:
            reader.join(120)
            if reader.is_alive():
                problem("churn %s: a reader of a removed title hangs" % t["title"])
            elif res.get("end", "").startswith("error"):
                count("churn_reads_cut_by_rem")
            count("churn_rems_while_read")
        # the title is gone from the mount and the HTTP library
        try:
            c = http.client.HTTPConnection("127.0.0.1", a.stream_port, timeout=30)
            c.request("HEAD", url)
            rr = c.getresponse()
            rr.read()
            c.close()
            if rr.status != 404:
                problem("churn: %s answers %d after rem" % (url, rr.status))
        except Exception as e:  # noqa: BLE001
            problem("churn: HEAD after rem failed: %s" % e)
        stop.wait(a.churn_every)


def webhooks(a, films):
    url = "http://127.0.0.1:%d/plex-webhook" % a.metrics_port
    wc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "webhook_client.py")
    k = 0
    while not stop.wait(15):
        f = films[k % len(films)]
        k += 1
        if k % 3 == 0:
            cmd = [sys.executable, wc, "jellyfin", url, "PlaybackStart", "imdb=" + f["imdb"],
                   "name=" + f["title"], "posticks=%d" % (600 * 10**7)]
        else:
            cmd = [sys.executable, wc, "plex", url, "media.play" if k % 2 else "media.stop",
                   "imdb=" + f["imdb"], "title=" + f["title"], "view=%d" % (k * 60000)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
        except subprocess.TimeoutExpired:
            problem("webhook: no answer within 60 s")
            continue
        st = out.split(" ", 1)[0]
        if st not in ("200", "204"):
            problem("webhook %s: %s" % (cmd[2], out.strip()[:200]))
        else:
            count("webhooks")


def settings(a):
    k = 0
    while not stop.wait(40):
        k += 1
        sets = {"CacheSize": (64 if k % 2 else 96) * MIB, "ConnectionsLimit": 20 + 5 * (k % 2)}
        try:
            st, body = post_json(a.api_port, "/settings", {"action": "set", "sets": sets})
            st2, body2 = post_json(a.api_port, "/settings", {"action": "get"})
        except Exception as e:  # noqa: BLE001
            problem("settings: %s" % e)
            continue
        if st != 200 or st2 != 200:
            problem("settings: set %d %s / get %d" % (st, body[:200], st2))
            continue
        g = json.loads(body2)
        if g.get("CacheSize") != sets["CacheSize"]:
            problem("settings: CacheSize reads back %s, set %d" % (g.get("CacheSize"), sets["CacheSize"]))
        count("settings_changes")


class Seeder2:
    def __init__(self, a):
        self.a = a
        self.p = None

    def start(self):
        out = open(self.a.s2_out, "w")
        self.p = subprocess.Popen([sys.executable, self.a.seeder, "--data", self.a.data, "--bind",
                                   self.a.s2, "--max-seconds", str(int(self.a.seconds) + 600)]
                                  + self.a.s2_torrents, stdout=out, stderr=subprocess.DEVNULL)
        out.close()
        for _ in range(600):
            with open(self.a.s2_out) as f:
                if f.read().startswith("READY "):
                    return True
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        problem("seeder S2 not ready after a restart")
        return False

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def restarter(a, s2):
    while not stop.wait(a.restart):
        s2.stop()
        stop.wait(2)
        if s2.start():
            count("seeder_restarts")
            log("seeder S2 restarted")


def proc_sample(pid):
    rss = thr = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                thr = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds, thr


def sampler(a, samples):
    while True:
        try:
            rss, fds, thr = proc_sample(a.pid)
        except OSError:
            problem("gostream (pid %d) is gone" % a.pid)
            stop.set()
            return
        samples.append((now(), rss, fds, thr))
        if stop.wait(5):
            return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--stream-port", type=int, required=True)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--metrics-port", type=int, required=True)
    ap.add_argument("--mount", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seeder", required=True)
    ap.add_argument("--s1", required=True)
    ap.add_argument("--s2", required=True)
    ap.add_argument("--s2-out", required=True)
    ap.add_argument("--films", required=True, help="file: torrent<TAB>src<TAB>title<TAB>imdb")
    ap.add_argument("--scan", required=True, help="file: hash<TAB>url path (bench.py add)")
    ap.add_argument("--base", required=True, help="the source of every scan and churn title")
    ap.add_argument("--churn", required=True, help="file: churn .torrent paths")
    ap.add_argument("--streams", type=int, default=2, help="HTTP and FUSE streams each")
    ap.add_argument("--rate", type=float, default=4, help="MiB/s per stream")
    ap.add_argument("--scan-every", type=float, default=45)
    ap.add_argument("--scan-batch", type=int, default=40)
    ap.add_argument("--churn-every", type=float, default=5)
    ap.add_argument("--restart", type=float, default=180)
    ap.add_argument("--summary-json")
    a = ap.parse_args()

    base = Source(a.base)
    films = []
    for line in open(a.films):
        tor, src, title, imdb = line.rstrip("\n").split("\t")
        films.append({"torrent": tor, "src": Source(src), "title": title, "imdb": imdb,
                      "url": "/movies/" + urllib.parse.quote(title + ".mkv"),
                      "path": os.path.join(a.mount, "movies", title + ".mkv")})
    scan_titles = []
    for line in open(a.scan):
        h, p = line.rstrip("\n").split("\t")
        name = urllib.parse.unquote(p)
        scan_titles.append({"hash": h, "url": p, "title": name,
                            "path": a.mount + name})
    churn_titles = []
    for line in open(a.churn):
        p = line.strip()
        churn_titles.append({"torrent": p, "title": os.path.basename(p)[:-len(".mkv.torrent")]
                             .replace("c", "Churn ", 1) + " (2021)"})
    a.s2_torrents = [f["torrent"] for f in films] + [c["torrent"] for c in churn_titles]

    s2 = Seeder2(a)
    if not s2.start():
        print("soak: seeder S2 did not start", file=sys.stderr)
        return 1
    a.peers = [a.s1, a.s2]
    for f in films:
        st, body = post_json(a.api_port, "/torrents", {"action": "add", "link": f["torrent"],
                                                       "title": f["title"], "category": "movie",
                                                       "imdb": f["imdb"], "peers": a.peers})
        if st != 200:
            print("soak: add %s: %d %s" % (f["title"], st, body[:300]), file=sys.stderr)
            s2.stop()
            return 1
    for _ in range(100):
        if all(os.path.exists(f["path"]) for f in films):
            break
        time.sleep(0.1)

    samples = []
    global T0
    T0 = time.monotonic()
    ths = [threading.Thread(target=sampler, args=(a, samples), name="sampler")]
    for i in range(a.streams):
        ths.append(threading.Thread(target=streamer, args=(a, "http", i, films), name="http%d" % i))
        ths.append(threading.Thread(target=streamer, args=(a, "fuse", i, films), name="fuse%d" % i))
    ths.append(threading.Thread(target=scanner, args=(a, scan_titles, base), name="scan"))
    ths.append(threading.Thread(target=churn, args=(a, churn_titles, base), name="churn"))
    ths.append(threading.Thread(target=webhooks, args=(a, films), name="webhook"))
    ths.append(threading.Thread(target=settings, args=(a,), name="settings"))
    ths.append(threading.Thread(target=restarter, args=(a, s2), name="seeder"))
    for th in ths:
        th.daemon = True
        th.start()
    last = 0
    while now() < a.seconds and not stop.is_set():
        stop.wait(min(30, a.seconds - now()))
        if now() - last >= 60 or now() >= a.seconds:
            last = now()
            s = samples[-1] if samples else (0, 0, 0, 0)
            with lock:
                log("rss %d MiB, fds %d, threads %d; reads %d, failures %d, problems %d" % (
                    s[1] // 1024, s[2], s[3],
                    sum(v for k, v in stats.items() if k.endswith("_reads")),
                    stats.get("failed_reads", 0), len(problems)))
    stop.set()
    for th in ths:
        th.join(150)
        if th.is_alive():
            problem("thread %s did not finish within 150 s of the end (a hung read)" % th.name)
    try:
        rss, fds, thr = proc_sample(a.pid)
        samples.append((now(), rss, fds, thr))
    except OSError:
        problem("gostream is gone at the end")
    s2.stop()

    # -- verdict
    dur = a.seconds
    second = [s for s in samples if dur / 3 <= s[0] < 2 * dur / 3]
    last3 = [s for s in samples if s[0] >= 2 * dur / 3]
    rules = []
    figures = {}
    if len(second) < 3 or len(last3) < 3:
        problem("too few samples for the flatness rule (%d, %d)" % (len(second), len(last3)))
    else:
        for name, col, rel, add, unit in (("rss", 1, 1.10, 16 * 1024, "KiB"),
                                          ("fds", 2, 1.0, 16, ""), ("threads", 3, 1.0, 8, "")):
            m2 = max(s[col] for s in second)
            m3 = max(s[col] for s in last3)
            allmax = max(s[col] for s in samples)
            first = samples[0][col]
            limit = m2 * rel + add
            ok = m3 <= limit
            figures[name] = {"start": first, "max_second_third": m2, "max_last_third": m3,
                             "max": allmax, "limit": limit, "ok": ok}
            rules.append(ok)
            if not ok:
                problem("%s not flat: last third max %d > %.0f (second third max %d)"
                        % (name, m3, limit, m2))
    mj = {}
    try:
        c = http.client.HTTPConnection("127.0.0.1", a.metrics_port, timeout=10)
        c.request("GET", "/metrics")
        mj = json.loads(c.getresponse().read())
        c.close()
    except Exception as e:  # noqa: BLE001
        problem("GET /metrics at the end: %s" % e)
    eng = {k: mj.get(k) for k in ("activations", "peer_connections", "hash_failures", "peer_kicks",
                                  "stream_wakes", "warmup_write_errors", "warmup_bytes",
                                  "wake_slots_peak", "wake_slot_timeouts") if k in mj}
    summary = {"seconds": round(now()), "samples": len(samples), "stats": stats,
               "memory": figures, "metrics": eng, "problems": len(problems),
               "samples_t_rss_kib_fds_threads": [[round(s[0]), s[1], s[2], s[3]] for s in samples]}
    print("SOAK SUMMARY (%d s, %d samples every 5 s)" % (summary["seconds"], len(samples)))
    for k in sorted(stats):
        v = stats[k]
        print("  %-26s %s" % (k, ("%.1f MiB" % (v / MIB)) if k.endswith("_bytes") else v))
    print("  flatness rule: after the first third (warm-up), last third's max <= second third's"
          " max x1.10 + 16 MiB (RSS), + 16 (fds), + 8 (threads)")
    for name, f in figures.items():
        div = 1024 if name == "rss" else 1
        u = " MiB" if name == "rss" else ""
        print("  %-8s start %d%s, max 2nd third %d%s, max last third %d%s (limit %d%s): %s" % (
            name, f["start"] // div, u, f["max_second_third"] // div, u, f["max_last_third"] // div, u,
            f["limit"] // div, u, "ok" if f["ok"] else "VIOLATED"))
    print("  engine/stream counters: %s" % json.dumps(eng))
    print("  problems: %d" % len(problems))
    for p in problems[:30]:
        print("    " + p)
    print("SOAK " + json.dumps({k: v for k, v in summary.items() if not k.startswith("samples_")}))
    if a.summary_json:
        with open(a.summary_json, "w") as f:
            json.dump(summary, f)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
