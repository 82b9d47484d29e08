/* bt.h - the torrent engine: libtorrent behind a C interface, a bounded RAM piece store
 * and blocking range reads. Owns the libtorrent session, its alert thread and every byte
 * of payload (RAM only, never on disk). Any thread may call bt_* functions; one internal
 * thread pops alerts and runs timers (sleep, strict-mode expiry); libtorrent's network
 * thread calls the store. Results are 0 or -errno unless said otherwise.
 *
 * Eviction decision (libtorrent 2.0.8 has no "un-have"):
 *  - The store evicts whole, hash-verified, unpinned pieces, least recently used first.
 *    libtorrent still believes it has them. A peer that asks for one gets a failed
 *    async_read: in 2.0.8 peer_connection::on_disk_read_complete answers that with
 *    DONT_HAVE + REJECT_REQUEST and a file_error_alert; it does not pause the torrent
 *    (torrent::handle_disk_error is not on that path) and only drops a peer after 100
 *    such failures. That is the clean refusal.
 *  - When our own reader needs an evicted piece, the engine "reloads" the torrent:
 *    remove_torrent and add_torrent again from the saved info dict with have_pieces
 *    set to exactly the verified pieces the store still holds (our async_check_files
 *    trusts that bitfield), with the peers it was connected to. The piece is then
 *    missing for libtorrent and is fetched again under a deadline. Activation from
 *    sleep is the same code path, so it is exercised on every wake-up.
 *    Rejected: force_recheck (disconnects every peer too, then re-hashes every stored
 *    piece and needs error codes that make the check skip whole files); calling
 *    piece_picker::we_dont_have (not exported by Debian's shared library); answering
 *    async_hash with a wrong hash (peers would be blamed and banned).
 *  - Cost: a reload drops the torrent's connections and dials its known peers again
 *    (min_reconnect_time 2 s, torrents added paused and resumed only once a reader sets
 *    deadlines): the first byte after one comes 7-60 ms later on loopback. It happens
 *    only for a seek to a piece evicted since the last (re)load, and one reload forgets
 *    every piece evicted so far. Eviction takes pieces a reader already copied before
 *    pieces fetched ahead and not read yet (piece_store::evict_one). Pieces that are
 *    downloading (blocks written, not yet hashed) are never evicted: libtorrent would
 *    hash an incomplete piece and blame the peers.
 */
#ifndef GS_BT_H
#define GS_BT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
#define BT_NOEXCEPT noexcept
extern "C" {
#else
#define BT_NOEXCEPT
#endif

typedef struct bt_engine bt_engine;
typedef struct bt_torrent bt_torrent;   /* a torrent the engine knows: asleep or awake */
typedef struct bt_seeder bt_seeder;
typedef struct gs_cancel gs_cancel;     /* cancel.h */

typedef struct bt_settings {
	char listen_interfaces[256];   /* libtorrent syntax: "0.0.0.0:6881,[::]:6881" */
	int connections_limit;         /* per torrent; the session allows 16x (at least 200) */
	int enable_dht, enable_pex, enable_lsd, enable_upnp, enable_natpmp;
	int enable_utp_out, enable_utp_in, enable_tcp_out, enable_tcp_in;
	int encryption;                /* 0 off, 1 enabled (plain allowed), 2 forced */
	int download_rate_limit;       /* bytes/s, 0 = unlimited */
	int upload_rate_limit;
	char user_agent[64];
	char peer_id_prefix[21];       /* e.g. "-GS0100-" */
	int64_t cache_size;            /* RAM piece store cap in bytes, shared by all torrents */
	int responsive;                /* serve blocks before the piece hash check */
	int strict_period_s;           /* strict mode length after a served piece failed */
	int read_timeout_ms;           /* bt_read gives up with -ETIMEDOUT after this */
	int64_t readahead_bytes;       /* deadline window ahead of each reader */
	int disconnect_timeout_s;      /* sleep this long after the last reader closed */
	int fast_drop_s;               /* ... or this long after bt_torrent_fast_drop() */
	int metadata_timeout_s;        /* magnet / hash adds give up after this */
} bt_settings;

/* Defaults: listen 0.0.0.0:6881, 200 connections, everything on, 64 MB cache, responsive,
 * strict 60 s, read timeout 30 s, read-ahead 16 MB, disconnect 60 s, fast-drop 10 s,
 * metadata 60 s, peer id "-GS0100-", user agent "gostream/0.1". */
void bt_settings_default(bt_settings *s) BT_NOEXCEPT;

/* Starts the session thread. *out owned by the caller, freed by bt_engine_destroy. */
int bt_engine_create(const bt_settings *s, bt_engine **out) BT_NOEXCEPT;
/* Stops every torrent and the session; invalidates every bt_torrent of this engine. */
void bt_engine_destroy(bt_engine *e) BT_NOEXCEPT;
/* Applies new settings to the running session; torrents stay up. */
int bt_engine_apply_settings(bt_engine *e, const bt_settings *s) BT_NOEXCEPT;

typedef struct bt_engine_counters {
	uint64_t metadata_fetches;     /* magnet/hash adds that had to ask peers for the info dict */
	uint64_t activations;          /* torrents put into the session from the saved info dict */
	uint64_t reloads;              /* re-adds because a reader needed an evicted piece */
	uint64_t peer_kicks;           /* times a waiting reader with no peer made us dial known peers */
	uint64_t sleeps;               /* torrents taken out of the session */
	uint64_t hash_failures;
	uint64_t strict_entries;       /* times a torrent went strict after serving a bad piece */
	uint64_t peer_connections;     /* outgoing connection attempts */
	uint64_t evictions;            /* pieces dropped from the store */
	uint64_t refused_requests;     /* peer requests for pieces no longer in the store */
	uint64_t unverified_served;    /* reads served from pieces not hash-checked yet */
	uint64_t bytes_read;           /* bytes returned by bt_read */
	uint64_t store_bytes;          /* payload bytes held now */
	uint64_t store_cap;
	uint64_t store_peak;           /* highest store_bytes seen */
	int torrents_known, torrents_active;
} bt_engine_counters;

void bt_engine_get_counters(bt_engine *e, bt_engine_counters *out) BT_NOEXCEPT;

/* ---- adding ---- */

typedef enum bt_link_kind {
	BT_LINK_INVALID = 0, BT_LINK_MAGNET, BT_LINK_HASH, BT_LINK_URL, BT_LINK_FILE
} bt_link_kind;

/* Pure: what kind of link this is (no I/O). A 40-hex string is a hash, "magnet:" a magnet,
 * "http://" / "https://" a URL, anything else non-empty a .torrent path. */
bt_link_kind bt_link_classify(const char *link) BT_NOEXCEPT;
/* Pure: parses "ip:port" or "[v6]:port"; 0 or -EINVAL. */
int bt_parse_endpoint(const char *s, char *host, size_t hostlen, int *port) BT_NOEXCEPT;

typedef struct bt_file {
	char *path;                    /* inside the torrent, '/' separated, with the torrent name */
	int64_t size;
	int64_t offset;                /* in the torrent's byte stream */
} bt_file;

typedef struct bt_info {
	char hash[41];                 /* v1 info-hash, lower-case hex */
	char *name;
	int piece_length;
	int num_pieces;
	int64_t total_size;
	int num_files;
	bt_file *files;
	void *info_dict;               /* the raw bencoded info dictionary, to persist */
	size_t info_dict_len;
	int num_peers;                 /* known peers "ip:port", to persist */
	char **peers;
	int num_trackers;
	char **trackers;
} bt_info;

/* Adds LINK (magnet, 40-hex hash, or a .torrent path; an http(s) URL of a .torrent is
 * -EINVAL here: torrent_fetch_add downloads it and hands the bytes to
 * bt_engine_add_torrent_bytes). Magnets and hashes fetch the info dict from peers
 * (bounded by metadata_timeout_s: -ETIMEDOUT).
 * extra_peers: NULL-terminated "ip:port" list or NULL. The torrent is left asleep.
 * On error a message goes to err. The same info-hash twice returns the known torrent.
 * *out stays valid until bt_torrent_forget or bt_engine_destroy. */
int bt_engine_add(bt_engine *e, const char *link, const char *const *extra_peers,
		bt_torrent **out, char *err, size_t errlen) BT_NOEXCEPT;
/* Same for the bytes of a .torrent file (an upload). */
int bt_engine_add_torrent_bytes(bt_engine *e, const void *buf, size_t len,
		const char *const *extra_peers, bt_torrent **out, char *err, size_t errlen) BT_NOEXCEPT;
/* Registers a torrent from a saved info dict (the catalog); no network, stays asleep.
 * peers / trackers: NULL-terminated lists or NULL. */
int bt_engine_load(bt_engine *e, const void *info_dict, size_t len,
		const char *const *peers, const char *const *trackers,
		bt_torrent **out, char *err, size_t errlen) BT_NOEXCEPT;
/* Pure: parses a magnet link or 40-hex info-hash as bt_engine_add does before it asks
 * peers for the info dict (libtorrent's parse_magnet_uri, the v1 check), without an
 * engine or any I/O. *out gets hash, name (dn), peers (x.pe) and trackers (tr), no
 * files; free with bt_info_free. -EINVAL (other links, malformed: reason in err),
 * -ENOTSUP (no v1 hash). For validation before an add, and the fuzz target. */
int bt_link_parse(const char *link, bt_info **out, char *err, size_t errlen) BT_NOEXCEPT;
/* Takes the torrent out of the engine (and the session); fails -EBUSY while open. */
int bt_torrent_forget(bt_torrent *t) BT_NOEXCEPT;

/* A fresh copy of the torrent's info (peers as known now); free with bt_info_free. */
int bt_torrent_get_info(bt_torrent *t, bt_info **out) BT_NOEXCEPT;
void bt_info_free(bt_info *info) BT_NOEXCEPT;
/* Index of the file with this path (as in bt_file.path, or without the torrent name). */
int bt_torrent_find_file(bt_torrent *t, const char *path) BT_NOEXCEPT;

/* ---- lifecycle and reading ---- */

/* A reader arrives: the refcount goes up and the torrent is woken if asleep (from the
 * saved info dict, no metadata fetch). extra_peers may be NULL. */
int bt_torrent_open(bt_torrent *t, const char *const *extra_peers) BT_NOEXCEPT;
/* A reader leaves; the torrent sleeps disconnect_timeout_s after the last one. */
void bt_torrent_close(bt_torrent *t) BT_NOEXCEPT;
/* Shorten the next sleep to fast_drop_s (the player stopped). */
void bt_torrent_fast_drop(bt_torrent *t) BT_NOEXCEPT;
/* Sleep now (the API's "drop"): with no reader open the torrent leaves the session on
 * the engine's next housekeeping pass (within ~100 ms); with readers it is fast-dropped
 * (sleeps fast_drop_s after the last one closes) and -EBUSY says so. 0 otherwise. */
int bt_torrent_sleep(bt_torrent *t) BT_NOEXCEPT;
/* The torrent was removed while readers still hold it open: it leaves the session now,
 * every read in flight or to come fails -ENOENT at once, and it never wakes again
 * (bt_torrent_open: -ENOENT). bt_torrent_forget it once the last reader closed. */
void bt_torrent_abort(bt_torrent *t) BT_NOEXCEPT;
/* Priority mode: tighter deadlines and a window twice as large. */
void bt_torrent_set_priority(bt_torrent *t, int on) BT_NOEXCEPT;

/* Reads up to len bytes of file file_index at offset into buf. Blocks until the bytes are
 * there, at most read_timeout_ms (-ETIMEDOUT) and returns -EINTR as soon as cancel fires
 * (cancel may be NULL). Returns the byte count: len, except at end of file; 0 when offset
 * is at or past the end. -EBADF when the torrent is not open, -EINVAL for a bad index or
 * a negative offset. Sets deadlines on the range and a read-ahead window behind it. */
ssize_t bt_read(bt_torrent *t, int file_index, int64_t offset, void *buf, size_t len,
		gs_cancel *cancel) BT_NOEXCEPT;
/* bt_read for a reader nobody waits on (the warmup fillers): its pieces come after every
 * player's (lower priority, later deadlines) and it never counts as a player's seek, which
 * would take the deadlines of the player's window away (B5: a fill of the head region in
 * the middle of a seek made that seek 280 ms). */
ssize_t bt_read_background(bt_torrent *t, int file_index, int64_t offset, void *buf, size_t len,
		gs_cancel *cancel) BT_NOEXCEPT;

typedef struct bt_torrent_status {
	int active;                    /* in the session */
	int readers;
	int peers;                     /* connected */
	int download_rate, upload_rate; /* bytes/s */
	int64_t total_download;        /* payload bytes, this activation */
	int pieces_have;               /* as libtorrent counts them */
	int pieces_stored;             /* verified pieces held in RAM */
	int num_pieces;
	int strict;                    /* strict mode active now */
	int priority;
} bt_torrent_status;

int bt_torrent_get_status(bt_torrent *t, bt_torrent_status *out) BT_NOEXCEPT;
const char *bt_torrent_hash(bt_torrent *t) BT_NOEXCEPT;

/* ---- making and seeding torrents (demo and tests) ---- */

/* Builds a v1 .torrent for a file or directory; piece_size 0 = automatic. *out is
 * malloc'd, caller frees. */
int bt_make_torrent(const char *path, int piece_size, void **out, size_t *out_len,
		char *err, size_t errlen) BT_NOEXCEPT;
/* A second, plain libtorrent session that seeds from files on disk with libtorrent's own
 * storage, listening on listen ("127.0.0.2:6881"), DHT/LSD/UPnP/NAT-PMP off. */
int bt_seeder_start(const char *listen, bt_seeder **out, char *err, size_t errlen) BT_NOEXCEPT;
/* save_path: the directory that holds the torrent's file or top directory. */
int bt_seeder_add(bt_seeder *s, const void *torrent, size_t len, const char *save_path,
		char *err, size_t errlen) BT_NOEXCEPT;
/* The port the seeder listens on (useful with port 0), or -errno. */
int bt_seeder_port(bt_seeder *s) BT_NOEXCEPT;
void bt_seeder_stop(bt_seeder *s) BT_NOEXCEPT;

/* ---- peer IP filter and listen port (blocklist.c, natpmp.c) ---- */

typedef struct bt_ip4_range { uint32_t first, last; } bt_ip4_range;   /* host byte order */
typedef struct bt_ip6_range { unsigned char first[16], last[16]; } bt_ip6_range;
/* Replaces the session's IP filter: peers in these ranges are refused (incoming and
 * outgoing) and connected ones dropped. Ranges sorted by first give the fastest load.
 * n4 = n6 = 0 clears the filter. */
int bt_engine_set_ip_filter(bt_engine *e, const bt_ip4_range *v4, size_t n4,
		const bt_ip6_range *v6, size_t n6) BT_NOEXCEPT;
/* Peers refused because their address is in the filter, since the engine started. */
uint64_t bt_engine_ip_refused(bt_engine *e) BT_NOEXCEPT;
/* Moves every listen socket to port, live (torrents and connections stay). 1 changed,
 * 0 already there, -errno. A later bt_engine_apply_settings sets its own port again. */
int bt_engine_set_listen_port(bt_engine *e, int port) BT_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
