#!/usr/bin/python3
"""scan_check.py - a Plex-like scan that checks every byte (integration tests).

  scan_check.py --mode http|file --list FILE --ref SRC [--par 8] [--head B] [--tail B]
                [--drop-cache] [--max-seconds S] [--shuffle SEED] [--metrics URL]

For each title (an URL or a path per line of FILE) reads [0, head) and the last `tail`
bytes, `par` titles at a time, and compares them with the same ranges of SRC (every title
carries SRC's bytes). HTTP: one Range request per part; files: 1 MiB preads, after
posix_fadvise(DONTNEED) with --drop-cache (evicts the title's pages from the kernel's
page cache, so a FUSE read reaches the daemon again). Prints one JSON line: titles,
checked, errors (first 5), nerrors, bytes, seconds. Exit 0 even with errors (the caller
asserts); 2 on bad usage. No title starts after --max-seconds (default 120).
--shuffle SEED reads the titles in a shuffled order. --metrics URL polls gostream's
/metrics every 50 ms during the scan and adds the largest torrents_awake and
wake_slots_in_use seen (max_torrents_awake, max_wake_slots_in_use, metric_samples).
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def read_http(url, off, n, timeout):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("GET", u.path, headers={"Range": "bytes=%d-%d" % (off, off + n - 1)})
        r = c.getresponse()
        if r.status != 206:
            raise RuntimeError("HTTP %d for bytes %d-%d" % (r.status, off, off + n - 1))
        chunks, got = [], 0
        while got < n:
            b = r.read(min(1 << 20, n - got))
            if not b:
                break
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)
    finally:
        c.close()


def read_file(path, off, n, drop):
    fd = os.open(path, os.O_RDONLY)
    try:
        if drop:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        out, end = [], off + n
        while off < end:
            b = os.pread(fd, min(1 << 20, end - off), off)
            if not b:
                break
            out.append(b)
            off += len(b)
        return b"".join(out)
    finally:
        os.close(fd)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=("http", "file"), required=True)
    p.add_argument("--list", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--par", type=int, default=8)
    p.add_argument("--head", type=int, default=1 << 20)
    p.add_argument("--tail", type=int, default=16 << 20)
    p.add_argument("--drop-cache", action="store_true")
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--shuffle", type=int)
    p.add_argument("--metrics")
    a = p.parse_args()
    with open(a.list) as f:
        targets = [l.rstrip("\n") for l in f if l.strip()]
    if a.shuffle is not None:
        import random
        random.Random(a.shuffle).shuffle(targets)
    with open(a.ref, "rb") as f:
        ref = f.read()
    size = len(ref)
    parts = [(0, min(a.head, size)), (max(0, size - a.tail), min(a.tail, size))]
    errors, state = [], {"i": 0, "checked": 0, "bytes": 0}
    lock = threading.Lock()
    t0 = time.monotonic()

    def worker():
        while True:
            with lock:
                i = state["i"]
                state["i"] += 1
            if i >= len(targets) or time.monotonic() - t0 > a.max_seconds:
                return
            t = targets[i]
            try:
                got = 0
                for off, n in parts:
                    if a.mode == "http":
                        b = read_http(t, off, n, a.timeout)
                    else:
                        b = read_file(t, off, n, a.drop_cache)
                    if len(b) != n:
                        raise RuntimeError("short read at %d: %d of %d" % (off, len(b), n))
                    if b != ref[off:off + n]:
                        bad = next(k for k in range(n) if b[k] != ref[off + k])
                        raise RuntimeError("bytes differ at offset %d" % (off + bad))
                    got += n
                with lock:
                    state["checked"] += 1
                    state["bytes"] += got
            except Exception as e:  # reported, never hidden
                with lock:
                    errors.append("%s: %s" % (t, e))
    seen = {"torrents_awake": 0, "wake_slots_in_use": 0, "n": 0}
    done = threading.Event()

    def sampler():
        u = urllib.parse.urlsplit(a.metrics)
        while not done.is_set():
            try:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
                c.request("GET", u.path or "/metrics")
                m = json.loads(c.getresponse().read())
                c.close()
                for k in ("torrents_awake", "wake_slots_in_use"):
                    seen[k] = max(seen[k], int(m[k]))
                seen["n"] += 1
            except (OSError, ValueError, KeyError, http.client.HTTPException):
                pass
            done.wait(0.05)
    th = [threading.Thread(target=worker) for _ in range(a.par)]
    sm = threading.Thread(target=sampler) if a.metrics else None
    if sm:
        sm.start()
    for x in th:
        x.start()
    for x in th:
        x.join()
    done.set()
    if sm:
        sm.join()
    out = {"titles": len(targets), "checked": state["checked"], "errors": errors[:5],
           "nerrors": len(errors), "bytes": state["bytes"],
           "seconds": round(time.monotonic() - t0, 3)}
    if sm:
        out.update(max_torrents_awake=seen["torrents_awake"],
                   max_wake_slots_in_use=seen["wake_slots_in_use"], metric_samples=seen["n"])
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
