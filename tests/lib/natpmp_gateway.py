#!/usr/bin/python3
"""natpmp_gateway.py - a NAT-PMP gateway (RFC 6886) for gostream's tests: a UDP responder
that answers public-address (opcode 0) and UDP/TCP mapping requests (1, 2) the way a VPN
provider's gateway does, steered by a control file the test rewrites.

  natpmp_gateway.py --bind 10.99.0.1:5351 --control CTRL.json --log LOG [--max-seconds S]

CTRL.json (re-read for every request; missing = {}):
  "mode":   "ok" (default) | "error" (answer with result code "result") | "silent"
  "result": result code for mode error (2 not authorized, 3 network failure,
            4 out of resources, 5 unsupported opcode)
  "port":   external port granted (default 40000; a new value = the provider moved us)
  "epoch_start": Unix time the gateway's epoch counts from (default: this process's start
            minus 1000 s); set it to now to look like a rebooted gateway (RFC 6886 3.6)
  "max_lifetime": cap on the lifetime granted (default 3600)
A request with lifetime 0 deletes the mapping and is answered with port 0, lifetime 0.
Every request is appended to LOG as one line:
  "op=<1|2|0> internal=<p> suggested=<p> lifetime=<s> -> result=<r> port=<p> life=<s> epoch=<e>"
(silent: "... -> silent"). Prints "READY <ip>:<port>" once bound.
"""
import argparse
import json
import socket
import struct
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--max-seconds", type=int, default=600)
    a = ap.parse_args()
    started = time.time()
    host, port = a.bind.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    s.settimeout(0.5)
    print("READY %s:%d" % s.getsockname(), flush=True)

    def log(line):
        with open(a.log, "a") as f:
            f.write(line + "\n")

    while time.time() - started < a.max_seconds:
        try:
            data, peer = s.recvfrom(64)
        except socket.timeout:
            continue
        try:
            with open(a.control) as f:
                ctl = json.load(f)
        except (OSError, ValueError):
            ctl = {}
        mode = ctl.get("mode", "ok")
        epoch = int(time.time() - ctl.get("epoch_start", started - 1000))
        if len(data) < 2 or data[0] != 0:
            # RFC 6886 3.5: unsupported version -> result 1 with our version
            s.sendto(struct.pack("!BBHI", 0, 128 + (data[1] if len(data) > 1 else 0), 1, epoch), peer)
            continue
        op = data[1]
        if op == 0:
            desc = "op=0"
            if mode == "silent":
                log(desc + " -> silent")
                continue
            res = ctl.get("result", 3) if mode == "error" else 0
            s.sendto(struct.pack("!BBHI4s", 0, 128, res, epoch, socket.inet_aton("203.0.113.7")), peer)
            log("%s -> result=%d epoch=%d" % (desc, res, epoch))
            continue
        if op not in (1, 2) or len(data) < 12:
            s.sendto(struct.pack("!BBHI", 0, 128 + op, 5, epoch), peer)
            log("op=%d -> result=5" % op)
            continue
        _, _, _, internal, suggested, lifetime = struct.unpack("!BBHHHI", data[:12])
        desc = "op=%d internal=%d suggested=%d lifetime=%d" % (op, internal, suggested, lifetime)
        if mode == "silent":
            log(desc + " -> silent")
            continue
        if mode == "error":
            res = int(ctl.get("result", 2))
            s.sendto(struct.pack("!BBHIHHI", 0, 128 + op, res, epoch, internal, 0, 0), peer)
            log("%s -> result=%d port=0 life=0 epoch=%d" % (desc, res, epoch))
            continue
        if lifetime == 0:
            ext, life = 0, 0
        else:
            ext = int(ctl.get("port", 40000))
            life = min(lifetime, int(ctl.get("max_lifetime", 3600)))
        s.sendto(struct.pack("!BBHIHHI", 0, 128 + op, 0, epoch, internal, ext, life), peer)
        log("%s -> result=0 port=%d life=%d epoch=%d" % (desc, ext, life, epoch))
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main())
