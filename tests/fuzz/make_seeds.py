#!/usr/bin/python3
"""make_seeds.py - writes the seed corpora of tests/fuzz/corpus/<target>/ (seed-*; the
regression inputs of fixed findings sit beside them as crash-* and are kept). Run from
anywhere: python3 tests/fuzz/make_seeds.py.
Seeds are small, valid (or nearly valid) inputs of each target's format."""
import hashlib
import json
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import webhook_client as wc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
H0 = "0123456789abcdef0123456789abcdef01234567"
H1 = "89abcdef0123456789abcdef0123456789abcdef"
ETAG = '"%s-0-3000"' % H0


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.unlink(os.path.join(d, f))
    for i, s in enumerate(seeds):
        if isinstance(s, str):
            s = s.encode()
        with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
            f.write(s)


def http_range():
    d1, d2, d3 = ("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                  "Sun Nov  6 08:49:37 1994")
    write("http_range", [
        "1000\nbytes=0-99\n\n\n\n\n\n",
        "1000\nbytes=0-0,-1,500-\n\n\n\n\n\n",
        "123456789\nbytes=100-200, 300-400,150-350\n%s\n\n\n%s\n%s\n" % (ETAG, d1, ETAG),
        "1000\nbytes=-0\n*\n*\n%s\n%s\n%s\n" % (d2, d3, d1),
        "0\nbytes=0-\n\nW/\"x\", \"y\"\n\n\n\n",
        "1000\nitems=0-1\n\"a\",\"b\"\n\n\n\n\"a\"\n",
        "18446744073709551615\nbytes=18446744073709551614-\n\n\n\n\n\n",
    ])


def url_path():
    movie = "/movies/Heat%20%281995%29.mkv"
    propfind = ('<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop>'
                '<D:getcontentlength/><D:displayname/><D:getetag/><D:resourcetype/>'
                '<x:foo xmlns:x="urn:x"/></D:prop></D:propfind>')
    lock = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
            '</D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>'
            'http://example.org/~me</D:href></D:owner></D:lockinfo>')
    write("url_path", [
        "GET %s\nRange: bytes=0-99\n\n" % movie,
        "HEAD %s\n\n" % movie,
        "GET %s\nRange: bytes=0-10,20-30,-5\nIf-Range: %s\n\n" % (movie, ETAG),
        "GET %s\nIf-None-Match: %s\n\n" % (movie, ETAG),
        "GET %s\nIf-Modified-Since: Sun, 06 Nov 2033 08:49:37 GMT\n\n" % movie,
        "GET /movies/\nAccept: application/json\n\n",
        "GET /\n\n",
        "GET /tv/The%20Show%20%282020%29/\n\n",
        "GET /stream/%s/0/Heat.mkv\nRange: bytes=5-\n\n" % H0,
        "GET /stream/%s/2\n\n" % H1,
        "PROPFIND /movies/\nDepth: 1\nContent-Type: application/xml\n\n" + propfind,
        "PROPFIND /\nDepth: 0\n\n",
        "PROPFIND /tv/\nDepth: infinity\n\n<?xml version=\"1.0\"?><propfind xmlns=\"DAV:\"><propname/></propfind>",
        "LOCK %s\nTimeout: Second-60\nDepth: 0\n\n%s" % (movie, lock),
        "LOCK %s\nIf: (<opaquelocktoken:x>)\n\n" % movie,
        "UNLOCK %s\nLock-Token: <opaquelocktoken:1234>\n\n" % movie,
        "OPTIONS /\n\n",
        "PUT /movies/x.mkv\n\nabc",
        "GET /movies/%2e%2e/x%00y%2Fz\n\n",
    ])


def dav_xml():
    write("dav_xml", [
        "",
        '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
        '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>',
        '<propfind xmlns="DAV:"><prop><getlastmodified/><creationdate/><lockdiscovery/>'
        '<supportedlock/><getcontenttype/><quota xmlns="urn:q"/></prop></propfind>',
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/>'
        '</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>me &amp; you</D:owner>'
        '</D:lockinfo>',
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        '</D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>http://x/</D:href>'
        '</D:owner></D:lockinfo>',
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><D:propfind xmlns:D="DAV:">'
        '<D:prop>&e;</D:prop></D:propfind>',
    ])


def api():
    mag = ("magnet:?xt=urn:btih:%s&dn=Heat.1995&tr=http%%3A%%2F%%2Ftracker.invalid%%2Fa"
           "&x.pe=127.0.0.1:6881" % H1.replace("89", "77", 1))
    j = "POST /torrents\napplication/json\n"
    boundary = "XyZ"
    upload = ("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.torrent\"\r\n"
              "Content-Type: application/x-bittorrent\r\n\r\nd4:infod4:name1:aee\r\n"
              "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHeat (1995)\r\n"
              "--XyZ\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\nmovie\r\n"
              "--XyZ\r\nContent-Disposition: form-data; name=\"imdb\"\r\n\r\ntt0113277\r\n"
              "--XyZ\r\nContent-Disposition: form-data; name=\"peers\"\r\n\r\n127.0.0.1:1, [::1]:2\r\n"
              "--XyZ--\r\n")
    write("api", [
        j + json.dumps({"action": "add", "link": mag, "title": "Heat (1995)", "category": "movie",
                        "imdb": "tt0113277", "files": [0, 1], "peers": ["127.0.0.1:6881", "[::1]:1"]}),
        j + json.dumps({"action": "add", "link": H1.upper(), "category": "tv", "poster": "p",
                        "data": "d"}),
        j + json.dumps({"action": "get", "hash": H0}),
        j + json.dumps({"action": "set", "hash": H0, "title": "New", "category": "tv",
                        "poster": "x", "data": "{}"}),
        j + json.dumps({"action": "rem", "hash": H1}),
        j + json.dumps({"action": "drop", "hash": H0}),
        j + json.dumps({"action": "list"}),
        j + json.dumps({"action": "active"}),
        j + json.dumps({"action": "wipe"}),
        "POST /settings\napplication/json\n" + json.dumps(
            {"action": "set", "sets": {"CacheSize": 67108864, "ReadTimeoutSeconds": 30,
                                       "Unknown": 1, "ConnectionsLimit": "x"}}),
        "POST /settings\napplication/json\n" + json.dumps({"action": "get"}),
        "POST /settings\napplication/json\n" + json.dumps({"action": "def"}),
        "POST /torrent/upload\nmultipart/form-data; boundary=%s\n%s" % (boundary, upload),
        "POST /torrent/upload\napplication/x-www-form-urlencoded\nfile=abc&title=x",
        "GET /echo\n\n",
        "GET /stream?link=%s&index=1&play\n\n" % H0,
        "HEAD /stream/Heat.mkv?link=%s&index=2&stat\n\n" % mag.replace("&", "%26"),
        "GET /play/%s/1\n\n" % H0,
    ])


def webhook():
    def mp(payload):
        body, ct = wc.multipart(payload, thumb=False)
        return ct.encode() + b"\n" + body
    play = wc.plex_payload("media.play", {"imdb": "tt0113277", "view": "600000",
                                          "dur": "6000000", "year": "1995", "title": "Heat",
                                          "file": "/mnt/gostream/movies/Heat (1995).mkv"})
    ep = wc.plex_payload("media.resume", {"type": "episode", "show": "The Show", "season": "1",
                                          "ep": "2", "view": "1000"})
    stop = wc.plex_payload("media.stop", {"imdb": "tt0113277"})
    jf = wc.jellyfin_payload("PlaybackStart", {"imdb": "tt0113277", "year": "",
                                               "posticks": "6000000000",
                                               "path": "/media/movies/Heat (1995).mkv"})
    jfe = wc.jellyfin_payload("PlaybackStop", {"itemtype": "Episode", "series": "The Show",
                                               "season": "1", "ep": "1"})
    write("webhook", [
        mp(play), mp(ep), mp(stop),
        "application/json\n" + jf,
        "\n" + jfe,
        "application/x-www-form-urlencoded\npayload=" + stop.replace("&", "%26"),
        "text/plain\n" + json.dumps({"event": "media.scrobble", "Metadata": {"Guid": "x"}}),
    ])


def cfg():
    with open(os.path.join(HERE, "..", "..", "scripts", "config.json.example"), "rb") as f:
        example = f.read()
    write("cfg", [
        example,
        "{}",
        '// comment\n{ /* block */ "api_port": 8090, "metrics_port": 9090, "log_level": "debug",\n'
        '  "plex": {"url": "http://127.0.0.1:32400", "token": "t", "library_id": 1} }\n',
        '{"CacheSize": 67108864, "ReadTimeoutSeconds": 5, "api_token": "x", "http_auth": ["a:b"]}',
        '{"api_port": 8090, "metrics_port": 8090}',
        '{"natpmp": {"enabled": true, "gateway": "10.0.0.1"}, "proxy_listen_port": "x"}',
        '{"unknown": 1, "state_dir": "rel/dir", "fuse_mount_path": "/mnt/x"}\n/* open',
    ])


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:" % len(v) + v
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"


def torrent(name, files, piece):
    """A v1 .torrent: files [(path list, size)], or one file when path is None."""
    data = b"".join(bytes((i * 7) & 255 for i in range(size)) for _, size in files)
    pieces = b"".join(hashlib.sha1(data[i:i + piece]).digest() for i in range(0, len(data), piece))
    info = {"name": name, "piece length": piece, "pieces": pieces}
    if files[0][0] is None:
        info["length"] = files[0][1]
    else:
        info["files"] = [{"path": p, "length": n} for p, n in files]
    return bencode({"announce": "http://tracker.invalid/announce", "info": info})


def bt():
    seeds = [b"\0magnet:?xt=urn:btih:%s&dn=Heat&tr=udp%%3A%%2F%%2Ft%%3A80&x.pe=127.0.0.1:6881"
             % H0.encode(),
             b"\0" + H1.encode(),
             b"\0magnet:?xt=urn:btmh:1220" + b"ab" * 32,
             b"\0[::1]:6881",
             b"\0magnet:?xt=urn:btih:CIQZ4VE7XBZVOZ5M4VGIIA7NKN3P7TSJ&x.pe=[::1]:80",
             b"\1" + torrent("Pack", [(["Movie.2001.mkv"], 40000), (["Sample", "s.mkv"], 3000),
                                     (["info.nfo"], 10)], 16384),
             b"\1" + torrent("single.mkv", [(None, 70000)], 32768),
             b"\1" + torrent("Show.S01", [(["Show.S01E01.mkv"], 20000),
                                         (["Season 2", "Episode 3.mp4"], 20000)], 16384)]
    write("bt", seeds)


def catalog():
    def rec(obj, info=b"d4:name4:fuzze"):
        j = json.dumps(obj).encode()
        hdr = b"GSCAT 1 %d %x %d %x\n" % (len(j), zlib.crc32(j), len(info), zlib.crc32(info))
        return hdr + j + info
    movie = {"hash": H0, "category": "movie", "title": "Heat (1995)", "imdb": "tt0113277",
             "added": 1700000000, "name": "Heat.1995", "piece_length": 16384,
             "files": [{"path": "Heat.1995/Heat.1995.1080p.mkv", "size": 3145728},
                       {"path": "Heat.1995/Sample/sample.mkv", "size": 2097152}],
             "chosen": [{"index": 0, "vpath": "movies/Heat (1995).mkv"}],
             "peers": ["127.0.0.1:6881", "[::1]:6881"]}
    show = {"hash": H0, "category": "tv", "title": "The Show S01 (2020)", "added": 1,
            "name": "Show", "files": [{"path": "Show/Show.S01E01.mkv", "size": 2097152},
                                      {"path": "Show/1x02.mkv", "size": 2097152},
                                      {"path": "Show/Season 3/Episode 4.mp4", "size": 2097152}]}
    bare = {"hash": H0, "category": "movie", "added": 5}
    seeds = []
    for o in (movie, show, bare):
        info = b"d4:name4:fuzze" if "files" in o else b""
        seeds.append(b"\0" + rec(o, info))
        seeds.append(b"\1" + json.dumps(o).encode() + (b"\0" + info if info else b""))
        seeds.append(b"\3" + json.dumps(o).encode() + (b"\0" + info if info else b""))
    write("catalog", seeds)


def warmup():
    seeds = []
    for flag, size, rest in ((1, 300000, b"\0\0\0\0abcdefgh"), (1, 100, b"x"),
                             (1, 200000, b"\2\3\1\0pattern"), (9, 500000, b"\0\0\0\0" + b"\x40\x10\x01\x00"),
                             (3, 300000, b"GSWARMUP\1\0\0\0\0\0\1\0" + b"\0" * 72 + b"\0\0"),
                             (0, 300000, b"GSWARMUP" + b"\0" * 200)):
        seeds.append(bytes([flag]) + struct.pack("<Q", size - 1) + rest)
    write("warmup", seeds)


def blocklist():
    p2p = ("# P2P list\nSome Org:1.2.3.0-1.2.3.255\nBad Range:10.0.0.5-10.0.0.1\n"
           "Other, Inc.: a:b:192.168.0.0-192.168.0.255\n\nAdjacent:1.2.4.0-1.2.4.9\n")
    dat = ("001.002.003.004 - 001.002.003.010 , 000 , Bad guys\n"
           "005.006.007.008 - 005.006.007.009 , 200 , allowed (level > 127)\n"
           "2001:db8::1 - 2001:db8::ff , 100 , v6 DAT\n")
    cidr = "// CIDR\n10.0.0.0/8\n172.16.0.0/12\n0.0.0.0/0\n2001:db8::/32\n::1\n192.0.2.7\n"
    mixed = ("fe80::-fe80::ffff\nv6:2001:db8::-2001:db8::10\n255.255.255.255\n"
             "1.1.1.1-1.1.1.1\n1.1.1.2/32\n<html>not a list</html>\n")
    html = "<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n"

    def cache(v4, v6):
        body = b"".join(struct.pack("=II", a, b) for a, b in v4)
        body += b"".join(a + b for a, b in v6)
        return b"\1" + bytes([len(v4), len(v6)]) + body
    v6a, v6b = bytes(15) + b"\1", bytes(15) + b"\x09"
    seeds = [b"\0" + x.encode() for x in (p2p, dat, cidr, mixed, html)]
    seeds.append(b"\0" + gzip_bytes(p2p.encode()))
    seeds.append(b"\0" + gzip_bytes(cidr.encode())[:-6])       # truncated gzip
    seeds += [cache([(1, 5), (10, 20)], [(v6a, v6b)]), cache([(9, 3)], []),
              cache([(10, 20), (1, 5)], []), cache([], [(v6b, v6a)]), b"\1\0\0"]
    write("blocklist", seeds)


def gzip_bytes(b):
    import gzip
    return gzip.compress(b, mtime=0)


def natpmp():
    def reply(op, result, epoch, internal, external, life):
        return struct.pack(">BBHIHHI", 0, 128 + op, result, epoch, internal, external, life)

    def group(*dgrams):
        return bytes([len(dgrams)]) + b"".join(bytes([len(d)]) + d for d in dgrams)

    def inp(flags, rules, groups):
        r = rules.encode()
        return bytes([flags]) + struct.pack(">H", len(r)) + r + b"".join(groups)
    ok_u, ok_t = reply(1, 0, 5000, 8091, 40000, 3600), reply(2, 0, 5000, 8091, 40000, 3600)
    ours = ("-P PREROUTING ACCEPT\n"
            "-A PREROUTING -i fuzz0 -p tcp -m tcp --dport 39999 -j REDIRECT --to-ports 8091\n"
            "-A PREROUTING -i fuzz0 -p udp -m udp --dport 40000 -j REDIRECT --to-ports 8091\n"
            "-A PREROUTING -i fuzz0 -p udp -m udp --dport 40000 -j REDIRECT --to-ports 8091\n"
            "-A PREROUTING -i eth0 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080\n")
    write("natpmp", [
        inp(0, "-P PREROUTING ACCEPT\n", [group(ok_u), group(ok_t)]),
        inp(1, ours, [group(ok_u), group(ok_t), group(reply(1, 0, 9000, 8091, 40002, 60)),
                      group(reply(2, 0, 9001, 8091, 40002, 60))]),
        inp(3, "", [group(ok_u), group(ok_t), group(reply(1, 0, 10, 8091, 40000, 3600)),
                    group(reply(2, 0, 11, 8091, 40000, 3600)), group(ok_u), group(ok_t)]),
        inp(0, "", [group(ok_u), group(reply(2, 2, 5000, 8091, 0, 0))]),     # not authorized
        inp(0, "", [group(ok_u), group(reply(2, 0, 5000, 8091, 0, 3600))]),  # port 0
        inp(0, "", [group(ok_u), group(ok_u, ok_t)]),                       # a late answer
        inp(0, "", [group(reply(1, 0, 5000, 8091, 40000, 0xffffffff)), group(ok_t)]),
        inp(0, "", [group(b"\0\x81\0"), group()]),
    ])


def http_answer(status, body, ctype="application/json", extra=""):
    return ("%d\nContent-Type: %s\n%s\n%s" % (status, ctype, extra, body)).encode()


def fixture(name):
    with open(os.path.join(HERE, "..", "fixtures", "discovery", name), encoding="utf-8") as f:
        return (f.read().replace("${TRACKER}", "http://127.0.0.1:6969/announce")
                .replace("${H_SH_S03E01}", H1))


ERRORS = [http_answer(401, json.dumps({"status_code": 7, "status_message": "Invalid API key: "
                                       "You must be granted a valid key.", "success": False})),
          http_answer(404, '{"error":"not found"}'),
          http_answer(429, "", extra="Retry-After: 3\n"),
          http_answer(502, "<!DOCTYPE html><html><body>Bad gateway</body></html>", "text/html"),
          http_answer(200, "<html>maintenance</html>", "text/plain"),
          http_answer(200, "{not json"), b"0\n\n", b"-1\n\n"]


def tmdb():
    seeds = [http_answer(200, fixture(f)) for f in (
        "tmdb_popular_movie.json", "tmdb_on_the_air.json", "tmdb_trending_movie.json",
        "tmdb_external_ids_603.json", "tmdb_search_matrix.json", "tmdb_tv_95480.json")]
    seeds.append(http_answer(200, json.dumps({"id": 1, "imdb_id": None, "results": [
        {"id": 1e300, "title": "Big", "media_type": "movie", "poster_path": "/x y.jpg"},
        {"id": 5, "name": "Show", "first_air_date": "2020", "media_type": "tv"},
        {"id": 5, "name": "Show again", "poster_path": "/" + "p" * 300}],
        "seasons": [{"season_number": 2, "episode_count": 3, "air_date": "2001-01-01"},
                    {"season_number": 2, "episode_count": 4, "air_date": "2001-01-01"}]})))
    write("tmdb", seeds + ERRORS)


def torrentio():
    seeds = [http_answer(200, fixture(f)) for f in (
        "torrentio_heat.json", "torrentio_dune.json", "torrentio_matrix_4k.json",
        "torrentio_sh_3_1.json")]
    seeds.append(http_answer(200, json.dumps({"streams": [
        {"name": "Torrentio\n4k DV | HDR", "title": "Show.S02.2160p.REMUX.Atmos\n"
         "Show.S02E05.mkv\n\U0001F464 nan \U0001F4BE nan GB", "infoHash": H0.upper(),
         "fileIdx": 4.5, "behaviorHints": {"filename": "Show.S02E05.mkv"},
         "sources": ["tracker:udp://t:80/announce", "tracker:ftp://no", "dht:" + H0]},
        {"title": "x", "infoHash": "z" * 40}, {"title": 5, "infoHash": H1}]})))
    write("torrentio", seeds + ERRORS)


def plex():
    seeds = [http_answer(200, fixture("plex_watchlist.json"))]
    seeds.append(http_answer(200, json.dumps({"MediaContainer": {"Metadata": [
        {"type": "show", "title": "Slow Horses", "year": 2022,
         "Guid": [{"id": "imdb://tt5875444"}, {"id": "tmdb://95480"}]},
        {"type": "movie", "title": "No ids", "year": 1e20},
        {"type": "movie", "title": "Long", "Guid": [{"id": "imdb://tt" + "9" * 20},
                                                     {"id": "tmdb://-5"}]},
        {"type": "artist", "title": "Not a film"}]}})))
    seeds.append(http_answer(401, "<html><head><title>Unauthorized</title></head></html>",
                             "text/html"))
    write("plex", seeds + ERRORS)


def disc_score():
    write("disc_score", [
        "Heat.1995.2160p.UHD.BluRay.REMUX.DV.HDR10+.TrueHD.Atmos.7.1-FGT",
        "The.Matrix.1999.1080p.BluRay.x264.DTS-HD.MA.5.1\n\U0001F464 250 \U0001F4BE 12.3 GB",
        "Dune.Part.Two.2024.1080p.HDTS.x264\n\U0001F464 900 \U0001F4BE 4.5 GB \u2699\ufe0f TPB",
        "Slow.Horses.S03E01.720p.WEB-DL.DDP5.1.H.264-EP",
        "Slow Horses Season 2 Complete 1080p Dolby Vision stereo 2.0",
        "Show.S01-S03.COMPLETE.480p", "Show 3x07 HDR", "HEISTS.DVD.TS",
        "\U0001F464 99999999999 \U0001F4BE 1e6 TB", "\U0001F4BE 700 MB \U0001F464 -1",
    ])


for fn in (http_range, url_path, dav_xml, api, webhook, cfg, bt, catalog, warmup, blocklist, natpmp,
           tmdb, torrentio, plex, disc_score):
    fn()
