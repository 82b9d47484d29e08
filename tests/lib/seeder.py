#!/usr/bin/python3
"""seeder.py - a loopback BitTorrent seeder for gostream's integration tests.

Run with /usr/bin/python3 (Debian's python3-libtorrent is only installed for it).

Seed mode:
  seeder.py --data DIR --bind 127.0.0.N:PORT [--utp | --utp-only] [--corrupt PIECES]
            [--max-seconds S] A.torrent [B.torrent ...]
  Every torrent's content is looked up under DIR (libtorrent save_path). PORT 0 picks a
  free port. DHT, LSD, UPnP and NAT-PMP are off; several connections from one IP are
  allowed (tests run many clients on 127.0.0.1); TCP only unless --utp (TCP and uTP) or
  --utp-only (uTP only: an incoming TCP connection is accepted and closed at once, as
  libtorrent does with incoming TCP off). Once every torrent
  is checked and seeding, prints exactly one line "READY <ip>:<port>" on stdout. Runs until
  SIGTERM/SIGINT (exit 0) or --max-seconds (default 600, exit 0 after a note on stderr).
  A per-torrent upload summary goes to stderr at exit.
  --corrupt PIECES (e.g. "0,5,9-11"): every torrent is seeded from a private copy of its
  files in which, for each listed piece, the first byte of every 16 KiB block is XORed
  with 0xff. The copy is declared complete through resume data (have_pieces), so
  libtorrent sends it without hash-checking it (seed_mode would verify pieces on first
  request and stop serving bad ones). The copy lives under --corrupt-dir (default: a
  temp dir, removed at exit).
  --stall-after-kib N: a peer that stalls mid-transfer: uploads at most 4 MiB/s until N
  KiB are uploaded in all, then 1 byte/s with its connections kept open (libtorrent
  exempts local peers from session rate limits, so the limits go on the local peer
  class). With 1 MiB pieces and N not a multiple of 1024 it stops inside a piece.

Torrent mode:
  seeder.py --make-torrent FILE_OR_DIR --piece-kib N --out X.torrent [--name NAME]
  Writes a v1-only .torrent (no creation date, no tracker, files sorted by path, so the
  same content always gives the same info-hash) and prints its info-hash (40 hex).
  --name overrides the torrent name (a different name gives a different info-hash for
  the same bytes).
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

import libtorrent as lt

BLOCK = 16 * 1024


def die(msg):
    sys.stderr.write("seeder.py: %s\n" % msg)
    sys.exit(2)


def parse_pieces(spec):
    pieces = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            a, b = int(a), int(b)
            if a > b:
                die("bad piece range %r" % part)
            pieces.update(range(a, b + 1))
        else:
            pieces.add(int(part))
    if not pieces:
        die("--corrupt needs at least one piece")
    return sorted(pieces)


def make_torrent(args):
    src = os.path.abspath(args.make_torrent)
    if not os.path.exists(src):
        die("no such file or directory: %s" % src)
    if args.piece_kib <= 0 or args.piece_kib & (args.piece_kib - 1) or args.piece_kib < 16:
        die("--piece-kib must be a power of two >= 16")
    name = args.name or os.path.basename(src.rstrip("/"))
    fs = lt.file_storage()
    if os.path.isdir(src):
        entries = []
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for f in files:
                full = os.path.join(root, f)
                if os.path.isfile(full):
                    entries.append(os.path.relpath(full, src))
        entries.sort()
        if not entries:
            die("directory %s holds no files" % src)
        for rel in entries:
            fs.add_file(os.path.join(name, rel), os.path.getsize(os.path.join(src, rel)))
    else:
        fs.add_file(name, os.path.getsize(src))
    ct = lt.create_torrent(fs, args.piece_kib * 1024, lt.create_torrent.v1_only)
    ct.set_creator("gostream-tests")
    # set_piece_hashes reads <parent>/<path in torrent>; with --name the top level
    # differs from the real one, so hash through a symlink named like the torrent.
    parent = os.path.dirname(src)
    link_dir = None
    if name != os.path.basename(src.rstrip("/")):
        link_dir = tempfile.mkdtemp(prefix="seeder-mk-")
        os.symlink(src, os.path.join(link_dir, name))
        parent = link_dir
    try:
        lt.set_piece_hashes(ct, parent)
    finally:
        if link_dir:
            shutil.rmtree(link_dir)
    entry = ct.generate()
    entry.pop(b"creation date", None)
    data = lt.bencode(entry)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    ti = lt.torrent_info(data)
    print(str(ti.info_hashes().v1))


def corrupt_copy(ti, data_dir, copy_dir, pieces):
    fs = ti.files()
    for i in range(fs.num_files()):
        rel = fs.file_path(i)
        dst = os.path.join(copy_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(data_dir, rel), dst)
    for p in pieces:
        if p < 0 or p >= ti.num_pieces():
            die("piece %d out of range (torrent has %d)" % (p, ti.num_pieces()))
        size = ti.piece_size(p)
        for off in range(0, size, BLOCK):
            for sl in ti.map_block(p, off, 1):
                path = os.path.join(copy_dir, fs.file_path(sl.file_index))
                with open(path, "r+b") as f:
                    f.seek(sl.offset)
                    b = f.read(1)
                    f.seek(sl.offset)
                    f.write(bytes([b[0] ^ 0xFF]))


def set_local_upload_limit(ses, limit):
    pc = ses.get_peer_class(lt.session.local_peer_class_id)
    pc["upload_limit"] = limit
    ses.set_peer_class(lt.session.local_peer_class_id, pc)


def seed(args):
    if ":" not in args.bind:
        die("--bind wants IP:PORT")
    ip, port = args.bind.rsplit(":", 1)
    port = int(port)
    if not args.torrents:
        die("no .torrent given")
    data_dir = os.path.abspath(args.data)

    settings = {
        "listen_interfaces": "%s:%d" % (ip, port),
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_incoming_utp": bool(args.utp or args.utp_only),
        "enable_outgoing_utp": bool(args.utp or args.utp_only),
        "enable_incoming_tcp": not args.utp_only,
        "enable_outgoing_tcp": not args.utp_only,
        # A test seeder must never queue or throttle: unlimited active torrents and
        # unchoke slots, no rate limits.
        "active_downloads": -1,
        "active_seeds": -1,
        "active_limit": -1,
        "unchoke_slots_limit": -1,
        "connections_limit": 2000,
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        "alert_mask": lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification,
    }
    ses = lt.session(settings)

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    corrupt_dir = None
    own_corrupt_dir = False
    pieces = parse_pieces(args.corrupt) if args.corrupt else None
    if pieces is not None:
        if args.corrupt_dir:
            corrupt_dir = os.path.abspath(args.corrupt_dir)
            os.makedirs(corrupt_dir, exist_ok=True)
        else:
            corrupt_dir = tempfile.mkdtemp(prefix="seeder-corrupt-")
            own_corrupt_dir = True

    handles = []
    try:
        for tpath in args.torrents:
            try:
                ti = lt.torrent_info(tpath)
            except RuntimeError as e:
                die("cannot read %s: %s" % (tpath, e))
            atp = lt.add_torrent_params()
            atp.ti = ti
            atp.flags &= ~lt.torrent_flags.auto_managed
            atp.flags &= ~lt.torrent_flags.paused
            if pieces is not None:
                corrupt_copy(ti, data_dir, corrupt_dir, pieces)
                atp.save_path = corrupt_dir
                atp.have_pieces = [True] * ti.num_pieces()
            else:
                atp.save_path = data_dir
            handles.append((tpath, ses.add_torrent(atp), atp.save_path))

        if args.stall_after_kib is not None:
            set_local_upload_limit(ses, 4 << 20)
        stalled = False
        deadline = time.monotonic() + args.max_seconds
        listen_port = None
        checked = set()
        ready = False
        while not stop["flag"]:
            if time.monotonic() > deadline:
                sys.stderr.write("seeder.py: --max-seconds %d reached, exiting\n"
                                 % args.max_seconds)
                break
            ses.wait_for_alert(20 if args.stall_after_kib is not None else 100)
            if args.stall_after_kib is not None and not stalled:
                up = sum(h.status().total_payload_upload for _, h, _ in handles)
                if up >= args.stall_after_kib * 1024:
                    set_local_upload_limit(ses, 1)
                    stalled = True
                    sys.stderr.write("seeder.py: stalled after %d bytes\n" % up)
            for a in ses.pop_alerts():
                if isinstance(a, lt.listen_succeeded_alert):
                    if a.socket_type == lt.socket_type_t.tcp:
                        listen_port = a.port
                elif isinstance(a, lt.listen_failed_alert):
                    die("listen on %s failed: %s" % (args.bind, a.message()))
                elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                    die(a.message())
                elif isinstance(a, lt.torrent_checked_alert):
                    checked.add(str(a.handle.info_hashes().v1))
            wanted = {str(h.info_hashes().v1) for _, h, _ in handles}
            if ready or listen_port is None or not wanted <= checked:
                continue
            for tpath, h, save_path in handles:
                st = h.status()
                if st.errc.value() != 0:
                    die("%s: %s" % (tpath, st.errc.message()))
                if not st.is_seeding:
                    die("%s: data under %s does not match the torrent (%.1f%% present)"
                        % (tpath, save_path, st.progress * 100))
            print("READY %s:%d" % (ip, listen_port), flush=True)
            ready = True
        for tpath, h, _ in handles:
            st = h.status()
            sys.stderr.write("seeder.py: %s uploaded %d bytes, %d peers now\n"
                             % (os.path.basename(tpath), st.total_payload_upload,
                                st.num_peers))
    finally:
        del ses
        if own_corrupt_dir:
            shutil.rmtree(corrupt_dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="loopback seeder for gostream tests")
    ap.add_argument("--make-torrent", metavar="FILE_OR_DIR")
    ap.add_argument("--piece-kib", type=int, default=1024)
    ap.add_argument("--out")
    ap.add_argument("--name")
    ap.add_argument("--data", default=".")
    ap.add_argument("--bind", default="127.0.0.2:0")
    ap.add_argument("--utp", action="store_true")
    ap.add_argument("--utp-only", action="store_true")
    ap.add_argument("--corrupt", metavar="PIECES")
    ap.add_argument("--corrupt-dir")
    ap.add_argument("--max-seconds", type=int, default=600)
    ap.add_argument("--stall-after-kib", type=int)
    ap.add_argument("torrents", nargs="*")
    args = ap.parse_args()
    if args.make_torrent:
        if not args.out:
            die("--make-torrent needs --out")
        make_torrent(args)
    else:
        seed(args)


if __name__ == "__main__":
    main()
