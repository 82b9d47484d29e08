#!/usr/bin/python3
"""webhook_client.py - sends webhook requests shaped like the real senders' to gostream.

Plex Media Server posts multipart/form-data: a `payload` part (Content-Type
application/json) and, for most media events, a `thumb` part (image/jpeg). Its
Metadata.Guid is an array of {"id": "imdb://..."} objects; an episode's Guid holds the
episode's ids and the show is only in grandparentGuid; viewOffset is in milliseconds.
Jellyfin's webhook plugin (generic destination) posts the JSON its template makes, with
NotificationType, Provider_imdb, PlaybackPositionTicks (100 ns) and, when a template
prints an empty number, text like `"Year": ,`.

usage:
  webhook_client.py plex URL EVENT [key=value...]     -> prints "STATUS BODY"
  webhook_client.py jellyfin URL TYPE [key=value...]
  webhook_client.py raw URL CONTENT_TYPE FILE
  webhook_client.py fuzz URL COUNT SEED               -> prints status counts
"""
import http.client
import json
import os
import random
import sys
import urllib.parse

BOUNDARY = "------------------------5f0c9b1e7d2a4c83"


def post(url, body, ctype):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    path = u.path + ("?" + u.query if u.query else "")
    headers = {"Content-Length": str(len(body))}
    if ctype is not None:
        headers["Content-Type"] = ctype
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace").strip()
    c.close()
    return r.status, data


def thumb_bytes():
    path = os.environ.get("WH_THUMB")
    if path and os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    # A JPEG-looking blob with the byte sequences that trip multipart parsers.
    rnd = random.Random(7)
    body = bytes(rnd.getrandbits(8) for _ in range(30000))
    return b"\xff\xd8\xff\xe0" + body + b"\r\n--" + BOUNDARY[:10].encode() + b"\r\n" + body + b"\xff\xd9"


def multipart(payload, thumb=True):
    out = [("--" + BOUNDARY + "\r\n").encode(),
           b'Content-Disposition: form-data; name="payload"\r\n',
           b"Content-Type: application/json\r\n\r\n",
           payload.encode("utf-8"), b"\r\n"]
    if thumb:
        out += [("--" + BOUNDARY + "\r\n").encode(),
                b'Content-Disposition: form-data; name="thumb"; filename="image.jpg"\r\n',
                b"Content-Type: image/jpeg\r\n\r\n", thumb_bytes(), b"\r\n"]
    out.append(("--" + BOUNDARY + "--\r\n").encode())
    return b"".join(out), "multipart/form-data; boundary=" + BOUNDARY


def plex_payload(event, kv):
    typ = kv.get("type", "movie")
    md = {
        "librarySectionType": "show" if typ == "episode" else "movie",
        "ratingKey": kv.get("rk", "48213"),
        "key": "/library/metadata/" + kv.get("rk", "48213"),
        "guid": kv.get("plexguid", "plex://movie/5d776b59ad5437001f79c6f8"),
        "studio": "Motlys",
        "type": typ,
        "title": kv.get("title", "den stygge stesøsteren"),
        "librarySectionTitle": "Filmer",
        "librarySectionID": 1,
        "librarySectionKey": "/library/sections/1",
        "contentRating": "R",
        "summary": "Elvira kjemper mot sin vakre stesøster.",
        "rating": 7.1,
        "audienceRating": 6.8,
        "thumb": "/library/metadata/48213/thumb/1742312010",
        "art": "/library/metadata/48213/art/1742312010",
        "addedAt": 1742311992,
        "updatedAt": 1742312010,
        "Genre": [{"id": 5, "filter": "genre=5", "tag": "Skrekk", "count": 12}],
        "Country": [{"id": 3, "filter": "country=3", "tag": "Norge", "count": 4}],
    }
    if "original" in kv:
        md["originalTitle"] = kv["original"]
    if "year" in kv:
        md["year"] = int(kv["year"])
    if "dur" in kv:
        md["duration"] = int(kv["dur"])
    if "view" in kv:
        md["viewOffset"] = int(kv["view"])
    guids = []
    if "imdb" in kv:
        guids.append({"id": "imdb://" + kv["imdb"]})
    guids += [{"id": "tmdb://1274751"}, {"id": "tvdb://358112"}]
    md["Guid"] = guids
    if typ == "episode":
        md["grandparentTitle"] = kv.get("show", "Show")
        md["grandparentGuid"] = "plex://show/5d9c086c46115600200aa2fe"
        md["grandparentKey"] = "/library/metadata/9001"
        md["parentTitle"] = "Sesong " + kv.get("season", "1")
        md["parentIndex"] = int(kv.get("season", "1"))
        md["index"] = int(kv.get("ep", "1"))
        md["parentGuid"] = "plex://season/602e67f2c3c5b6002c1e5e7b"
    if "file" in kv:
        md["Media"] = [{"id": 97631, "duration": int(kv.get("dur", "0")) or 5400000,
                        "bitrate": 9842, "container": "mkv", "videoCodec": "h264",
                        "Part": [{"id": 101744, "key": "/library/parts/101744/file.mkv",
                                  "file": kv["file"], "size": 123456789,
                                  "container": "mkv"}]}]
    p = {
        "event": event,
        "user": True,
        "owner": True,
        "Account": {"id": 1, "thumb": "https://plex.tv/users/abc/avatar?c=1", "title": "kari"},
        "Server": {"title": "stua", "uuid": "0f6ad2c8c7c74b4fa7a5a9c9b9e0c1d2"},
        "Player": {"local": True, "publicAddress": "203.0.113.7",
                   "title": kv.get("playertitle", "Plex Web (Firefox)"),
                   "uuid": kv.get("player", "k2x7sd9wq1mz0v4c3b8n6a5e")},
        "Metadata": md,
    }
    return json.dumps(p, ensure_ascii=False)


def jellyfin_payload(ntype, kv):
    # Written the way a user's Handlebars template prints it: numbers unquoted, and an
    # empty one left empty (Jellyfin's known quirk) when year= is given as "".
    f = []
    f.append('"ServerId": "8f1c4c1e2a7d4f0e9b6d5c4b3a291807"')
    f.append('"ServerName": "jelly"')
    f.append('"NotificationType": "%s"' % ntype)
    f.append('"Name": %s' % json.dumps(kv.get("name", "Den stygge stesøsteren"), ensure_ascii=False))
    f.append('"ItemId": "%s"' % kv.get("item", "c0ffee00c0ffee00c0ffee00c0ffee00"))
    f.append('"ItemType": "%s"' % kv.get("itemtype", "Movie"))
    f.append('"Year": %s' % kv.get("year", "2025"))
    f.append('"RunTimeTicks": %s' % kv.get("runticks", "72000000000"))
    f.append('"PlaybackPositionTicks": %s' % kv.get("posticks", "0"))
    f.append('"IsPaused": %s' % kv.get("paused", "false"))
    f.append('"DeviceId": "%s"' % kv.get("device", "TW96aWxsYS81LjAgKFgxMTsgTGludXg"))
    f.append('"DeviceName": "Firefox"')
    f.append('"ClientName": "Jellyfin Web"')
    if "imdb" in kv:
        f.append('"Provider_imdb": "%s"' % kv["imdb"])
    f.append('"Provider_tmdb": "1274751"')
    if kv.get("itemtype") == "Episode":
        f.append('"SeriesName": %s' % json.dumps(kv.get("series", "Show")))
        f.append('"SeasonNumber": %s' % kv.get("season", "1"))
        f.append('"EpisodeNumber": %s' % kv.get("ep", "1"))
    if "path" in kv:
        f.append('"Path": %s' % json.dumps(kv["path"]))
    return "{\n  " + ",\n  ".join(f) + "\n}"


def garbage(rnd):
    kinds = [
        lambda: bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4000))),
        lambda: b"{" * rnd.randint(1, 5000),
        lambda: b'{"event":' + bytes(rnd.getrandbits(8) for _ in range(50)),
        lambda: json.dumps(rnd.choice([[], [1, 2], "x", 3, None, True, {"event": 5},
                                       {"NotificationType": []}, {"event": None},
                                       {"Metadata": {"Guid": "imdb://tt1"}}])).encode(),
        lambda: b'{"event":"media.play","Metadata":' + json.dumps(
            rnd.choice([[], "x", 1, {"Media": "x"}, {"Media": [{"Part": [1, None, "x"]}]},
                        {"Media": [{"Part": [{"file": 7}]}]},
                        {"title": {"a": 1}, "year": "abc", "viewOffset": -5},
                        {"viewOffset": 1e300, "duration": 0}])).encode() + b"}",
        lambda: ("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n"
                 ).encode() + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300))),
        lambda: b"payload=" + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300))),
        lambda: ("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n"
                 + '{"event":"media.play","Metadata":{"Guid":[{"id":"imdb://tt' + "9" * 2000
                 + '"}]}}\r\n--' + BOUNDARY + "--\r\n").encode(),
    ]
    ctypes = [None, "application/json", "multipart/form-data; boundary=" + BOUNDARY,
              "multipart/form-data", "multipart/form-data; boundary=", "text/plain",
              "application/x-www-form-urlencoded", "image/jpeg", "multipart/form-data; boundary=x"]
    return rnd.choice(kinds)(), rnd.choice(ctypes)


def main():
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "fuzz":
        rnd = random.Random(int(sys.argv[4]))
        counts = {}
        for _ in range(int(sys.argv[3])):
            body, ct = garbage(rnd)
            st, _ = post(url, body, ct)
            counts[st] = counts.get(st, 0) + 1
        print(json.dumps(counts, sort_keys=True))
        return
    if mode == "raw":
        with open(sys.argv[4], "rb") as f:
            body = f.read()
        st, data = post(url, body, sys.argv[3] or None)
        print(st, data)
        return
    kv = dict(a.split("=", 1) for a in sys.argv[4:])
    if mode == "plex":
        body, ct = multipart(plex_payload(sys.argv[3], kv), kv.get("thumb", "1") == "1")
        if kv.get("json") == "1":
            body, ct = plex_payload(sys.argv[3], kv).encode(), "application/json"
    else:
        body, ct = jellyfin_payload(sys.argv[3], kv).encode(), "application/json"
    st, data = post(url, body, ct)
    print(st, data)


if __name__ == "__main__":
    main()
