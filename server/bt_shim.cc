/* bt_shim.cc - the torrent engine over libtorrent-rasterbar 2.0 (C++, as are bt_store.cc,
 * bt_plugins.cc and bt_seeder.cc over the private bt_int.h): session and torrent lifecycle and
 * the C API of bt.h. Owns the session, the RAM piece store and the alert/timer thread.
 * Exported functions are noexcept and map exceptions to -EIO. Threads: callers (bt_*), the
 * engine thread (pops alerts, sleeps torrents, strict-mode expiry); lock order in bt_int.h.
 * Status: v1 and hybrid torrents; pure v2 torrents are refused (-ENOTSUP) because the
 * store verifies pieces against v1 hashes. Upload is served from verified RAM pieces only.
 */
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/address.hpp>
#include <libtorrent/socket.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/disk_buffer_holder.hpp>
#include <libtorrent/disk_interface.hpp>
#include <libtorrent/disk_observer.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/hex.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/peer_connection.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_info.hpp>
#include <libtorrent/peer_list.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/storage_defs.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_peer.hpp>
#include <libtorrent/torrent_status.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

extern "C" {
#include "bt.h"
#include "log.h"
/* cancel.h uses C11 <stdatomic.h>, which C++17 cannot include: the shim uses the token
 * only through these plain C functions, never its layout. */
void cancel_set_waker(gs_cancel *c, void (*wake)(void *arg), void *arg);
void cancel_clear_waker(gs_cancel *c);
bool cancel_is_fired(gs_cancel *c);
}
#include "bt_int.h"

using namespace gs_bt;   /* the store's types, the plugins' constructors, now_ms, set_err */

static bool cancel_fired(gs_cancel *c)
{
	return cancel_is_fired(c);
}

namespace {
/* The waker a blocked read registers points into its own frame: cleared by the
 * destructor on every way out of the read, exceptions included. */
class waker_guard {
public:
	waker_guard(gs_cancel *c, void (*wake)(void *), void *arg) : m_c(c)
	{
		cancel_set_waker(c, wake, arg);
	}
	~waker_guard() { cancel_clear_waker(m_c); }
	waker_guard(const waker_guard &) = delete;
	waker_guard &operator=(const waker_guard &) = delete;
private:
	gs_cancel *m_c;
};
}

namespace {

constexpr size_t MAX_TORRENT_FILE = 64u << 20;   /* cap on .torrent files (= TORRENT_FETCH_MAX) */
constexpr int MAX_WINDOWS = 4;                   /* read-ahead windows per torrent */
constexpr int BG_DEADLINE_MS = 10000;            /* a background read's first deadline */
constexpr int MAX_KNOWN_PEERS = 64;
constexpr int MAX_RELOADS_PER_READ = 3;
/* A reader that waited this long with peers connected and no block arriving for its
 * torrent gets the torrent re-added (see housekeeping); and not more often than this. */
constexpr int64_t STALL_MS = 8000;
constexpr int64_t KICK_MIN_GAP_MS = 3000;

char *dup_cstr(const std::string &s)
{
	char *p = static_cast<char *>(malloc(s.size() + 1));
	if (!p)
		std::abort();
	memcpy(p, s.c_str(), s.size() + 1);
	return p;
}

} /* namespace */

/* ------------------------------------------------------------------------------------ */
/* Engine and torrents                                                                   */

struct read_window {
	bool valid = false;
	int file = -1;
	int head = -1;                 /* first piece the reader is on, or the first still
	                                * missing behind it (see update_window_locked) */
	int pos = -1;                  /* first piece of the latest read */
	int end = -1;                  /* last piece of the read-ahead */
	int64_t used = 0;
	bool bg = false;               /* a background reader's (bt_read_background) */
};

struct bt_torrent {
	bt_engine *e = nullptr;
	std::string hex;
	std::shared_ptr<const lt::torrent_info> ti;
	std::shared_ptr<tstore> ts;

	std::mutex mu;                 /* everything below */
	std::vector<std::string> peers;
	std::vector<std::string> trackers;
	lt::torrent_handle h;
	bool active = false;
	int refs = 0;
	int64_t sleep_at = 0;
	bool fast_drop = false;
	read_window win[MAX_WINDOWS];
	std::set<int> deadlined;
	std::set<int> played_files;
	std::atomic<bool> priority{false};
	std::atomic<int64_t> strict_until{0};
	std::atomic<uint64_t> bad_seen{0}; /* ts->bad_served already turned into strict mode */
	int64_t last_sweep = 0;
	/* In the session but paused until a reader wants a piece: a torrent that wants nothing
	 * is "finished", says upload_only in its handshake, and seeds close on it; libtorrent
	 * 2.0.8 then keeps those seeds out of its connect candidates even after pieces are
	 * wanted again (peer_list's cached m_finished), so the reader would wait forever. */
	bool idle_paused = false;
	/* libtorrent finished checking this activation (torrent_checked_alert): a resume
	 * before that finds the torrent not yet wanting peers, its connect boost connects
	 * nobody, and the first dial waits for the session's one-second connection round
	 * (measured: first byte 0.1-1.0 s, 5-40 ms once resumed after the check) */
	bool checked = false;
	int64_t stall_since = 0;       /* a reader has waited with no peer / no block since */
	int64_t last_kick = 0;
	int kicks_in_row = 0;
	int nwin = 0;                  /* valid windows, as counted in e->live_windows */
	/* removed (bt_torrent_abort) while readers still held it: reads fail -ENOENT and it
	 * never wakes again; bt_torrent_forget once the last reader closed */
	std::atomic<bool> aborted{false};
};

struct bt_engine {
	std::mutex cfg_mu;
	bt_settings cfg;
	piece_store store;
	std::unique_ptr<lt::session> ses;

	std::mutex mu;                 /* torrents map */
	std::map<std::string, bt_torrent *> torrents;
	/* Torrents in the session: the engine thread's timers walk these, not every known
	 * torrent (10,000 asleep titles cost nothing at rest). Leaf lock, taken under t->mu. */
	std::mutex awake_mu;
	std::set<bt_torrent *> awake;
	/* reader windows open across all torrents: they share half the store (pins) */
	std::atomic<int> live_windows{0};

	std::thread th;
	std::atomic<bool> stop{false};

	std::atomic<uint64_t> metadata_fetches{0}, activations{0}, reloads{0}, sleeps{0},
		strict_entries{0}, peer_connections{0}, unverified_served{0}, bytes_read{0},
		kicks{0};
	std::atomic<uint64_t> ip_refused{0}; /* peers refused by the ip filter (blocklist) */

	bt_settings settings()
	{
		std::lock_guard<std::mutex> g(cfg_mu);
		return cfg;
	}
};

namespace {

lt::settings_pack make_pack(const bt_settings &s)
{
	lt::settings_pack p;
	p.set_str(lt::settings_pack::listen_interfaces, s.listen_interfaces);
	/* connections_limit is per torrent (TorrServer's meaning; set on each torrent); the
	 * session allows 16 torrents' worth, at least 200: as one session-wide cap, 25 awake
	 * probed titles took every connection and the next one waited with no peer */
	p.set_int(lt::settings_pack::connections_limit, std::max(200, s.connections_limit * 16));
	p.set_bool(lt::settings_pack::enable_dht, s.enable_dht != 0);
	p.set_bool(lt::settings_pack::enable_lsd, s.enable_lsd != 0);
	p.set_bool(lt::settings_pack::enable_upnp, s.enable_upnp != 0);
	p.set_bool(lt::settings_pack::enable_natpmp, s.enable_natpmp != 0);
	p.set_bool(lt::settings_pack::enable_outgoing_utp, s.enable_utp_out != 0);
	p.set_bool(lt::settings_pack::enable_incoming_utp, s.enable_utp_in != 0);
	p.set_bool(lt::settings_pack::enable_outgoing_tcp, s.enable_tcp_out != 0);
	p.set_bool(lt::settings_pack::enable_incoming_tcp, s.enable_tcp_in != 0);
	int enc = s.encryption == 0 ? lt::settings_pack::pe_disabled
		: s.encryption == 2 ? lt::settings_pack::pe_forced : lt::settings_pack::pe_enabled;
	p.set_int(lt::settings_pack::out_enc_policy, enc);
	p.set_int(lt::settings_pack::in_enc_policy, enc);
	p.set_int(lt::settings_pack::download_rate_limit, s.download_rate_limit);
	p.set_int(lt::settings_pack::upload_rate_limit, s.upload_rate_limit);
	p.set_str(lt::settings_pack::user_agent, s.user_agent);
	p.set_str(lt::settings_pack::peer_fingerprint, s.peer_id_prefix);
	p.set_int(lt::settings_pack::alert_mask, int(lt::alert_category::error
		| lt::alert_category::status | lt::alert_category::connect
		| lt::alert_category::storage | lt::alert_category::peer | lt::alert_category::ip_block
		| (getenv("BT_PEERLOG") ? lt::alert_category::peer_log | lt::alert_category::torrent_log : lt::alert_category_t{})));
	/* Connections to new peers are made on the session tick: 100 ms instead of 500 ms
	 * is most of a cold first byte on a fast swarm. */
	p.set_int(lt::settings_pack::tick_interval, 100);
	/* libtorrent waits (fail count + 1) x min_reconnect_time before dialling a peer it
	 * was connected to again: 60 s by default, far longer than a reader's timeout when
	 * the only seeder closed the connection once. */
	p.set_int(lt::settings_pack::min_reconnect_time, 2);
	/* A torrent with nothing wanted yet is "finished"; keep its seeds connected so the
	 * next read does not wait for a reconnect. */
	p.set_bool(lt::settings_pack::close_redundant_connections, false);
	/* Parole (a peer that sent part of a failed piece may then only download whole pieces
	 * nobody else downloads) also takes it off time-critical requests, and after a failure
	 * with an empty request queue nothing asks it for blocks again until a 5 s timer:
	 * measured, the honest seeder of engine_shield sat idle for 5 s while the reader
	 * waited. smart_ban (blocks compared once the piece passes, see copy_blocks) and the
	 * single-sender ban catch the corrupting peer without it. */
	p.set_bool(lt::settings_pack::use_parole_mode, false);
	/* A peer's request queue holds this many seconds of its download rate (default 3):
	 * a block asked for after a seek waits behind it (6 MiB at 2 MiB/s). One second
	 * still covers any round trip under a second at any rate (the queue scales with the
	 * peer's rate; max_out_request_queue caps it). */
	p.set_int(lt::settings_pack::request_queue_time, 1);
	p.set_int(lt::settings_pack::request_timeout, 10);
	p.set_int(lt::settings_pack::piece_timeout, 10);
	return p;
}

int64_t clampi64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

void sanitize(bt_settings &s)
{
	s.listen_interfaces[sizeof s.listen_interfaces - 1] = 0;
	s.user_agent[sizeof s.user_agent - 1] = 0;
	s.peer_id_prefix[sizeof s.peer_id_prefix - 1] = 0;
	s.cache_size = clampi64(s.cache_size, 4 << 20, int64_t(1) << 40);
	s.read_timeout_ms = int(clampi64(s.read_timeout_ms, 1, 3600 * 1000));
	s.strict_period_s = int(clampi64(s.strict_period_s, 0, 86400));
	s.readahead_bytes = clampi64(s.readahead_bytes, 0, int64_t(1) << 32);
	s.disconnect_timeout_s = int(clampi64(s.disconnect_timeout_s, 0, 86400));
	s.fast_drop_s = int(clampi64(s.fast_drop_s, 0, 86400));
	s.metadata_timeout_s = int(clampi64(s.metadata_timeout_s, 1, 3600));
	if (s.connections_limit <= 0)
		s.connections_limit = 200;
}

std::string hex_of(const lt::sha1_hash &h)
{
	static const char digits[] = "0123456789abcdef";
	std::string out;
	for (auto c : h) {
		out += digits[(static_cast<unsigned char>(c) >> 4) & 15];
		out += digits[static_cast<unsigned char>(c) & 15];
	}
	return out;
}

std::string hash_hex(const lt::torrent_info &ti)
{
	return hex_of(ti.info_hashes().v1);
}

bool parse_ep(const std::string &s, lt::tcp::endpoint &ep)
{
	char host[128];
	int port;
	if (bt_parse_endpoint(s.c_str(), host, sizeof host, &port) != 0)
		return false;
	lt::error_code ec;
	auto addr = lt::make_address(host, ec);
	if (ec)
		return false;
	ep = lt::tcp::endpoint(addr, std::uint16_t(port));
	return true;
}

std::string ep_str(const lt::tcp::endpoint &ep)
{
	if (ep.address().is_v6())
		return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
	return ep.address().to_string() + ":" + std::to_string(ep.port());
}

void add_unique(std::vector<std::string> &v, const std::string &s, size_t cap)
{
	if (std::find(v.begin(), v.end(), s) != v.end())
		return;
	if (v.size() >= cap)
		v.erase(v.begin());
	v.push_back(s);
}

/* Parses a bare info dictionary with libtorrent's own parser. */
std::shared_ptr<lt::torrent_info> ti_from_info_dict(const char *buf, size_t len, std::string &why)
{
	lt::error_code ec;
	lt::bdecode_node n = lt::bdecode(lt::span<char const>(buf, std::ptrdiff_t(len)), ec);
	if (ec) {
		why = "info dict does not decode: " + ec.message();
		return nullptr;
	}
	auto ti = std::make_shared<lt::torrent_info>(lt::info_hash_t());
	if (!ti->parse_info_section(n, ec, lt::load_torrent_limits().max_pieces)) {
		why = "bad info dict: " + ec.message();
		return nullptr;
	}
	return ti;
}

/* Registers a torrent with known metadata (asleep). Caller holds no lock. */
int engine_register(bt_engine *e, std::shared_ptr<const lt::torrent_info> ti,
		const std::vector<std::string> &peers, const std::vector<std::string> &trackers,
		bt_torrent **out, char *err, size_t errlen)
{
	if (!ti->info_hashes().has_v1()) {
		set_err(err, errlen, "v2-only torrents are not supported");
		return -ENOTSUP;
	}
	if (ti->num_pieces() <= 0 || ti->piece_length() <= 0 || ti->total_size() <= 0) {
		set_err(err, errlen, "torrent has no data");
		return -EINVAL;
	}
	std::string hex = hash_hex(*ti);
	std::lock_guard<std::mutex> g(e->mu);
	auto it = e->torrents.find(hex);
	if (it != e->torrents.end()) {
		bt_torrent *t = it->second;
		std::lock_guard<std::mutex> tg(t->mu);
		for (auto const &p : peers)
			add_unique(t->peers, p, MAX_KNOWN_PEERS);
		for (auto const &tr : trackers)
			add_unique(t->trackers, tr, 64);
		*out = t;
		return 0;
	}
	auto *t = new bt_torrent;
	t->e = e;
	t->hex = hex;
	t->ti = ti;
	for (auto const &p : peers)
		add_unique(t->peers, p, MAX_KNOWN_PEERS);
	t->trackers = trackers;
	auto ts = std::make_shared<tstore>();
	auto v1 = ti->info_hashes().v1;
	ts->ih.assign(reinterpret_cast<const char *>(v1.data()), 20);
	ts->piece_len = ti->piece_length();
	ts->num_pieces = ti->num_pieces();
	ts->total = ti->total_size();
	ts->lt_have.assign(size_t(ts->num_pieces), 0);
	ts->suspect.assign(size_t(ts->num_pieces), 0);
	ts->hashes.reserve(size_t(ts->num_pieces) * 20);
	for (int p = 0; p < ts->num_pieces; p++) {
		lt::sha1_hash h = ti->hash_for_piece(lt::piece_index_t(p));
		ts->hashes.append(reinterpret_cast<const char *>(h.data()), 20);
	}
	{
		std::lock_guard<std::mutex> sg(e->store.mu);
		ts->registered = true;
		e->store.registry[ts->ih] = ts;
	}
	t->ts = ts;
	e->torrents[hex] = t;
	*out = t;
	log_info("bt: known %s \"%s\" (%d pieces of %d KiB, %lld bytes)", hex.c_str(),
		ti->name().c_str(), ti->num_pieces(), ti->piece_length() / 1024,
		(long long)ti->total_size());
	return 0;
}

void apply_torrent_flags(bt_engine *e, lt::torrent_handle const &h, const bt_settings &s)
{
	(void)e;
	lt::torrent_flags_t off, on;
	(s.enable_pex ? off : on) |= lt::torrent_flags::disable_pex;
	(s.enable_dht ? off : on) |= lt::torrent_flags::disable_dht;
	(s.enable_lsd ? off : on) |= lt::torrent_flags::disable_lsd;
	h.set_max_connections(s.connections_limit);
	if (on)
		h.set_flags(on);
	if (off)
		h.unset_flags(off);
}

/* Records t as in or out of the session. Caller holds t->mu. */
void set_active(bt_torrent *t, bool on)
{
	t->active = on;
	std::lock_guard<std::mutex> g(t->e->awake_mu);
	if (on)
		t->e->awake.insert(t);
	else
		t->e->awake.erase(t);
}

/* Puts t into the session. Caller holds t->mu. */
int activate_locked(bt_torrent *t, const char *const *extra_peers, const std::vector<int> &want,
		char *err, size_t errlen)
{
	bt_engine *e = t->e;
	bt_settings s = e->settings();
	lt::add_torrent_params atp;
	atp.ti = std::make_shared<lt::torrent_info>(*t->ti);
	atp.save_path = ".";
	atp.flags &= ~lt::torrent_flags::auto_managed;
	atp.flags |= lt::torrent_flags::paused | lt::torrent_flags::default_dont_download;
	atp.max_connections = s.connections_limit;
	if (!s.enable_pex)
		atp.flags |= lt::torrent_flags::disable_pex;
	if (!s.enable_dht)
		atp.flags |= lt::torrent_flags::disable_dht;
	if (!s.enable_lsd)
		atp.flags |= lt::torrent_flags::disable_lsd;
	atp.file_priorities.assign(size_t(t->ti->num_files()), lt::dont_download);
	for (const char *const *p = extra_peers; p && *p; p++)
		add_unique(t->peers, *p, MAX_KNOWN_PEERS);
	for (auto const &ps : t->peers) {
		lt::tcp::endpoint ep;
		if (parse_ep(ps, ep))
			atp.peers.push_back(ep);
	}
	atp.trackers = t->trackers;
	{
		piece_store *st = &e->store;
		std::shared_ptr<tstore> ts = t->ts;
		atp.extensions.push_back([st, ts](lt::torrent_handle const &, lt::client_data_t) {
			return make_blame_guard(*st, ts);
		});
	}
	{
		std::lock_guard<std::mutex> g(e->store.mu);
		std::vector<bool> have = e->store.new_generation(t->ts.get());
		atp.have_pieces.resize(int(have.size()), false);
		for (size_t i = 0; i < have.size(); i++)
			if (have[i])
				atp.have_pieces.set_bit(lt::piece_index_t(int(i)));
	}
	/* Pieces a reader already waits for are wanted from the start: a torrent that wants
	 * nothing is "finished" when added and misses libtorrent's connect boost, and then
	 * waits for the once-a-second connection round (measured: 1 s instead of 0.1 s). */
	if (!want.empty()) {
		atp.piece_priorities.assign(size_t(t->ti->num_pieces()), lt::dont_download);
		for (int p : want)
			if (p >= 0 && p < t->ti->num_pieces() && !atp.have_pieces.get_bit(lt::piece_index_t(p)))
				atp.piece_priorities[size_t(p)] = lt::top_priority;
	}
	lt::error_code ec;
	t->h = e->ses->add_torrent(std::move(atp), ec);
	if (ec) {
		set_err(err, errlen, "cannot add torrent to the session: %s", ec.message().c_str());
		return -EIO;
	}
	/* resumed by update_window_locked once the reader's deadlines are set: the first
	 * requests then go to the piece the reader waits for, not a random wanted one */
	t->idle_paused = true;
	t->checked = false;
	set_active(t, true);
	t->stall_since = 0;
	t->deadlined.clear();
	return 0;
}

/* Keeps e->live_windows equal to the sum of every torrent's valid windows. */
void recount_windows_locked(bt_torrent *t)
{
	int n = 0;
	for (auto const &w : t->win)
		n += w.valid ? 1 : 0;
	t->e->live_windows += n - t->nwin;
	t->nwin = n;
}

/* Takes t out of the session, remembering its peers. Caller holds t->mu. */
void deactivate_locked(bt_torrent *t)
{
	if (!t->active)
		return;
	bt_engine *e = t->e;
	try {
		std::vector<lt::peer_info> pi;
		t->h.get_peer_info(pi);
		for (auto const &p : pi)
			add_unique(t->peers, ep_str(p.ip), MAX_KNOWN_PEERS);
	} catch (...) {
	}
	e->ses->remove_torrent(t->h);
	t->h = lt::torrent_handle();
	set_active(t, false);
	t->deadlined.clear();
	{
		std::lock_guard<std::mutex> g(e->store.mu);
		e->store.new_generation(t->ts.get());
		std::fill(t->ts->lt_have.begin(), t->ts->lt_have.end(), 0);
		t->ts->pins.clear();
	}
	for (auto &w : t->win)
		w = read_window();
	recount_windows_locked(t);
}

/* Pins what readers are about to need: each window (most recently used first) while the
 * budget of half the store lasts, then the tails of played files within an eighth of it.
 * The rest of the store stays evictable, so a write always finds room. */
void set_pins_locked(bt_torrent *t)
{
	bt_engine *e = t->e;
	const lt::file_storage &fs = t->ti->files();
	int pl = t->ti->piece_length();
	int64_t cap = e->settings().cache_size;
	/* half the store for every window of every torrent: 8 players of 8 films must not pin
	 * 8 halves (measured before: a 64 MiB store peaking at 127 MiB) */
	int mine = std::max(1, t->nwin), all = std::max(mine, t->e->live_windows.load());
	int64_t budget = cap / 2 * mine / all;
	std::vector<std::pair<int, int>> pins;
	std::vector<const read_window *> ws;
	for (auto const &w : t->win)
		if (w.valid && w.head >= 0)
			ws.push_back(&w);
	std::sort(ws.begin(), ws.end(), [](const read_window *a, const read_window *b) {
		return a->used > b->used;
	});
	for (const read_window *w : ws) {
		int a = std::max(0, w->head - 1);
		int b = int(std::min<int64_t>(w->end, a + budget / pl - 1));
		if (b < a)
			break;
		pins.push_back({a, b});
		budget -= int64_t(b - a + 1) * pl;
	}
	/* Tails of files being played: Matroska Cues, MP4 moov; players probe them again. */
	int64_t tail_budget = cap / 8;
	for (int f : t->played_files) {
		int64_t size = fs.file_size(lt::file_index_t(f));
		int64_t off = fs.file_offset(lt::file_index_t(f));
		int64_t tail = std::min<int64_t>(size, std::max<int64_t>(pl, 2 << 20));
		if (size <= 0 || tail > tail_budget)
			continue;
		tail_budget -= tail;
		pins.push_back({int((off + size - tail) / pl), int((off + size - 1) / pl)});
	}
	std::lock_guard<std::mutex> g(e->store.mu);
	t->ts->pins = std::move(pins);
}

/* Moves (or creates) the reader's window and gives libtorrent deadlines for it. Caller
 * holds t->mu; t is active. */
void update_window_locked(bt_torrent *t, int file, int first, int last, bool bg)
{
	bt_engine *e = t->e;
	bt_settings s = e->settings();
	const lt::file_storage &fs = t->ti->files();
	int pl = t->ti->piece_length();
	int64_t foff = fs.file_offset(lt::file_index_t(file));
	int64_t fsize = fs.file_size(lt::file_index_t(file));
	int flast = int((foff + std::max<int64_t>(fsize, 1) - 1) / pl);
	bool prio = t->priority.load();
	int64_t ra_bytes = s.readahead_bytes * (prio ? 2 : 1);
	/* A window is pinned: keep one within a quarter of the store. */
	ra_bytes = std::min<int64_t>(ra_bytes, s.cache_size / 4);
	int ra = int(std::max<int64_t>(1, (ra_bytes + pl - 1) / pl));
	int64_t now = now_ms();

	read_window *w = nullptr;
	for (auto &c : t->win)
		if (c.valid && c.bg == bg && c.file == file && first >= c.head - 2 && first <= c.end + 1) {
			w = &c;
			break;
		}
	bool fresh = !w;
	if (!w) {
		/* a seek, or a new reader: take a free or the least recently used window (a
		 * background reader another background reader's first) */
		w = nullptr;
		for (auto &c : t->win)
			if (!c.valid) {
				w = &c;
				break;
			}
		if (!w && bg)
			for (auto &c : t->win)
				if (c.bg && (!w || c.used < w->used))
					w = &c;
		if (!w) {
			w = &t->win[0];
			for (auto &c : t->win)
				if (c.used < w->used)
					w = &c;
		}
		*w = read_window();
		w->valid = true;
		w->file = file;
		w->bg = bg;
	}
	w->used = now;
	/* Forget windows nobody read from for a while (a player that went away). */
	for (auto &c : t->win)
		if (c.valid && &c != w && now - c.used > 30000)
			c = read_window();
	recount_windows_locked(t);
	/* the window's share of the half of the store that windows may pin */
	ra_bytes = std::min<int64_t>(ra_bytes, s.cache_size / 2 / std::max(1, e->live_windows.load()));
	ra = int(std::max<int64_t>(1, (ra_bytes + pl - 1) / pl));
	int nhead = first;
	if (!fresh && w->head >= 0 && first > w->head) {
		/* Readers share a window: a file's pump reads the next chunk a moment after the
		 * player's read that made the window (B5: a seek at piece 100, the pump at 101
		 * 1 ms later). Moving the head past a piece still missing dropped it to priority
		 * 0 while the player waited on it, until its read claimed it again 500 ms later
		 * (B5 p99 outliers of 650 ms). The head stays on the first missing piece; grades
		 * and deadlines count from the latest read's piece (pos), so a missing piece behind
		 * it ranks with it at the top instead of above it. */
		std::lock_guard<std::mutex> g(e->store.mu);
		for (int p = w->head; p < first; p++)
			if (!t->ts->lt_have[size_t(p)]) {
				nhead = p;
				break;
			}
	}
	int nend = std::min(std::max(last, first + ra), flast);
	bool changed = nhead != w->head || nend != w->end;
	w->head = nhead;
	w->end = nend;
	w->pos = first;
	bool newfile = t->played_files.insert(file).second;
	if (!changed && !newfile)
		return;
	set_pins_locked(t);
	if (!changed)
		return;

	std::set<int> want;
	std::vector<uint8_t> have;
	{
		std::lock_guard<std::mutex> g(e->store.mu);
		have = t->ts->lt_have;
	}
	for (auto const &c : t->win)
		if (c.valid)
			for (int p = c.head; p <= c.end; p++)
				if (!have[size_t(p)])
					want.insert(p);
	std::vector<std::pair<lt::piece_index_t, lt::download_priority_t>> prios;
	std::vector<int> dropped;
	for (int p : t->deadlined)
		if (!want.count(p))
			dropped.push_back(p);
	int step = prio ? 20 : 100;
	/* A seek (a new window while others hold deadlines): the other windows' deadlines are
	 * due or overdue (set when their reader was there), libtorrent serves the most overdue
	 * time-critical piece first, and every peer already has seconds of requests for them
	 * in flight (request_queue_time: 3 s of its rate; 6 MiB at 2 MiB/s). Measured, B11:
	 * seeks 0.1-3.1 s to the first 1 MiB. So all deadlines go, and the new window's are
	 * set alone: libtorrent's first time-critical piece after none triggers its
	 * cancel_non_critical(), which cancels every request in flight for other pieces.
	 * The other windows keep their priority (and stay in t->deadlined); a reader still
	 * reading there sets its window's deadlines again with its next read. */
	bool seek = false;
	if (fresh && !bg)
		for (auto const &c : t->win)
			if (c.valid && &c != w)
				seek = true;
	/* Priorities in reading order, the moving reader's window above the others:
	 * libtorrent asks for time-critical (deadline) pieces only once a second
	 * (torrent::second_tick); in between its regular picker refills each peer's request
	 * queue (seconds of that peer's rate) from the highest priority, rarest first. With
	 * the whole window and every other window at the top, the piece the reader waits for
	 * got a fifth of the swarm, behind queues of the place a seeking player left.
	 * Only this window's pieces are graded here; another window's pieces keep the grade
	 * its own reader gave them, except on a seek, which puts the place the player left
	 * below the new one. A reader whose window holds nothing missing (FUSE reads behind
	 * the file's own pump, 17 pieces ahead) re-graded the pump's pieces to 3 on each of
	 * its piece steps: B4 FUSE dd from one seeder fell from ~200 to 98-120 MB/s.
	 * Abandoned pieces go back to priority 0, unless blocks of them are already here
	 * (a partial piece cannot be evicted safely, it must complete) or a window may still
	 * reach them: ahead of a window (it shrank when another reader came, its share of the
	 * store halved) they keep low_priority; set to 0 and asked for again a moment later,
	 * B4 FUSE stayed at 90-127 MB/s with the grading above fixed. */
	auto in_player_window = [&](int p) {
		for (auto const &c : t->win)
			if (c.valid && !c.bg && p >= c.head && p <= c.end)
				return true;
		return false;
	};
	for (int p : want) {
		int pr;
		if (p >= w->head && p <= w->end && bg) {
			if (in_player_window(p))
				continue;
			pr = 2;
		} else if (p >= w->head && p <= w->end)
			pr = std::max(4, 7 - std::max(0, p - w->pos));
		else if (seek && in_player_window(p))
			pr = 3;
		else
			continue;
		prios.push_back({lt::piece_index_t(p), lt::download_priority_t(std::uint8_t(pr))});
	}
	{
		std::lock_guard<std::mutex> g(e->store.mu);
		for (int p : dropped) {
			auto it = t->ts->pieces.find(p);
			bool partial = it != t->ts->pieces.end() && !it->second.verified;
			bool ahead = false;
			for (auto const &c : t->win)
				if (c.valid && c.file == file && p > c.end)
					ahead = true;
			prios.push_back({lt::piece_index_t(p), partial || ahead ? lt::low_priority : lt::dont_download});
		}
	}
	for (int p : dropped) {
		t->h.reset_piece_deadline(lt::piece_index_t(p));
		t->deadlined.erase(p);
	}
	if (seek && !t->deadlined.empty())
		t->h.clear_piece_deadlines();
	for (auto const &c : t->win) {
		if (!c.valid)
			continue;
		/* another background window sets its own, later deadlines (set_piece_deadline
		 * raises a piece to 7, and only the updating window is graded afterwards) */
		if ((seek || c.bg) && &c != w)
			continue;
		for (int p = c.head; p <= c.end; p++) {
			if (have[size_t(p)])
				continue;
			/* a background reader's pieces come after every player's */
			if (c.bg && in_player_window(p))
				continue;
			int d = std::max(0, p - c.pos) * step + (c.bg ? BG_DEADLINE_MS : 0);
			if (&c != w && t->deadlined.count(p))
				continue;
			t->h.set_piece_deadline(lt::piece_index_t(p), d);
			t->deadlined.insert(p);
		}
	}
	/* After the deadline calls, not before: set_piece_deadline() raises its piece to
	 * top_priority, reset_piece_deadline() and clear_piece_deadlines() drop theirs to
	 * low_priority (torrent.cpp), and handle calls run in order on libtorrent's thread.
	 * Set before them, the grading above was undone: every deadline piece at 7, and the
	 * regular picker took them in random order (rarest first, equal availability). */
	if (!prios.empty())
		t->h.prioritize_pieces(prios);
	log_debug("bt: %s: %swindow %d-%d, %s", t->hex.c_str(), bg ? "background " : "", w->head, w->end,
		!t->idle_paused ? "running" : t->checked ? "resumed" : "resumes once checked");
	if (t->idle_paused && t->checked && !t->deadlined.empty()) {
		t->idle_paused = false;
		t->h.resume();
	}
}

void clear_windows_locked(bt_torrent *t)
{
	if (t->active && !t->deadlined.empty()) {
		std::vector<std::pair<lt::piece_index_t, lt::download_priority_t>> prios;
		std::lock_guard<std::mutex> g(t->e->store.mu);
		for (int p : t->deadlined) {
			auto it = t->ts->pieces.find(p);
			bool partial = it != t->ts->pieces.end() && !it->second.verified;
			prios.push_back({lt::piece_index_t(p), partial ? lt::low_priority : lt::dont_download});
		}
		/* clear first: it leaves its pieces at low_priority (see update_window_locked) */
		t->h.clear_piece_deadlines();
		t->h.prioritize_pieces(prios);
	}
	t->deadlined.clear();
	for (auto &w : t->win)
		w = read_window();
	recount_windows_locked(t);
	t->played_files.clear();
	std::lock_guard<std::mutex> g(t->e->store.mu);
	t->ts->pins.clear();
}

/* Re-adds the torrent so that libtorrent forgets evicted pieces (see bt.h). The pieces
 * [first, last] the reader waits for are wanted from the first moment; with keep, the
 * readers' windows are set again on the new torrent (a stall kick: nobody re-sets them). */
int reload_locked(bt_torrent *t, int first, int last, bool keep = false)
{
	bt_engine *e = t->e;
	std::vector<std::string> live;
	try {
		std::vector<lt::peer_info> pi;
		t->h.get_peer_info(pi);
		for (auto const &p : pi)
			live.push_back(ep_str(p.ip));
	} catch (...) {
	}
	e->ses->remove_torrent(t->h);
	set_active(t, false);
	/* the old torrent's deadlines died with it; the reader sets its window again */
	std::vector<read_window> kept;
	for (auto &w : t->win) {
		if (keep && w.valid)
			kept.push_back(w);
		w = read_window();
	}
	recount_windows_locked(t);
	t->deadlined.clear();
	std::vector<const char *> extra;
	for (auto const &s : live)
		extra.push_back(s.c_str());
	extra.push_back(nullptr);
	std::vector<int> want;
	for (int p = first; p <= last; p++)
		want.push_back(p);
	for (auto const &w : kept)
		for (int p = w.head; p <= w.end; p++)
			want.push_back(p);
	char err[256];
	int rc = activate_locked(t, extra.data(), want, err, sizeof err);
	if (rc < 0) {
		log_error("bt: %s: reload failed: %s", t->hex.c_str(), err);
		return rc;
	}
	apply_torrent_flags(e, t->h, e->settings());
	t->played_files.clear();
	for (auto const &w : kept)
		update_window_locked(t, w.file, w.head, w.head, w.bg);
	if (!keep) {
		e->reloads++;
		log_info("bt: %s: reloaded to fetch evicted piece %d again", t->hex.c_str(), first);
	}
	return 0;
}

/* ---- engine thread ---- */

/* Posts on_disk() to every peer waiting on the store. The shared_ptrs are moved into the
 * posted handlers so the last reference to a peer connection dies on the network thread. */
void release_observers(bt_engine *e)
{
	std::vector<std::shared_ptr<lt::disk_observer>> obs;
	{
		std::lock_guard<std::mutex> g(e->store.mu);
		obs.swap(e->store.observers);
	}
	for (auto &o : obs)
		lt::post(*e->store.ioc, [o = std::move(o)] { o->on_disk(); });
}

void housekeeping(bt_engine *e)
{
	int64_t now = now_ms();
	bt_settings s = e->settings();
	/* e->mu keeps bt_torrent_remove from deleting a torrent under us (order: e->mu, t->mu) */
	std::lock_guard<std::mutex> eg(e->mu);
	std::vector<bt_torrent *> ts;
	{
		std::lock_guard<std::mutex> g(e->awake_mu);
		ts.assign(e->awake.begin(), e->awake.end());
	}
	for (bt_torrent *t : ts) {
		std::lock_guard<std::mutex> tg(t->mu);
		uint64_t bad;
		int waiters;
		int64_t last_block, oldest_wait;
		std::vector<int> stale;
		{
			std::lock_guard<std::mutex> g(e->store.mu);
			bad = t->ts->bad_served;
			waiters = t->ts->waiters;
			last_block = t->ts->last_block;
			oldest_wait = t->ts->wait_starts.empty() ? now : *t->ts->wait_starts.begin();
			if (t->active && now - t->last_sweep > 1000) {
				for (auto &kv : t->ts->pieces)
					if (!kv.second.verified && kv.second.have_blocks
							&& now - kv.second.last_write > 3000
							&& !t->deadlined.count(kv.first))
						stale.push_back(kv.first);
			}
		}
		if (bad != t->bad_seen) {
			t->bad_seen = bad;
			t->strict_until = now + int64_t(s.strict_period_s) * 1000;
			e->strict_entries++;
			log_warn("bt: %s: a piece served before its hash check failed it; strict mode "
				"for %d s", t->hex.c_str(), s.strict_period_s);
		} else if (t->strict_until && now >= t->strict_until) {
			t->strict_until = 0;
			log_info("bt: %s: back to responsive mode", t->hex.c_str());
		}
		if (t->active && now - t->last_sweep > 1000) {
			/* Partial pieces nobody wants any more: let them finish so they become
			 * evictable (blocks in flight when a window moved land here). */
			t->last_sweep = now;
			std::vector<std::pair<lt::piece_index_t, lt::download_priority_t>> prios;
			for (int p : stale)
				prios.push_back({lt::piece_index_t(p), lt::low_priority});
			if (!prios.empty())
				t->h.prioritize_pieces(prios);
		}
		if (t->active && !t->idle_paused && waiters > 0) {
			/* A reader waits and nothing comes: no peer connected (the seeder closed on
			 * us; libtorrent's back-off or its stale connect candidates keep it from
			 * dialling again), or no block for STALL_MS. Re-add the torrent with its
			 * known peers and the readers' windows: a fresh peer list, new requests. */
			int npeers = t->h.status(lt::status_flags_t{}).num_peers;
			bool stalled = npeers == 0 || now - std::max(last_block, t->last_kick) > STALL_MS;
			if (!stalled) {
				t->stall_since = 0;
				t->kicks_in_row = 0;
			} else if (!t->stall_since) {
				t->stall_since = now;
			} else if (now - t->stall_since >= (npeers ? 0 : 500)
					&& now - t->last_kick >= (KICK_MIN_GAP_MS << std::min(t->kicks_in_row, 4))) {
				/* in a real swarm a re-add costs every connection: back off (3, 6, 12,
				 * 24, 48 s) while kicks bring nothing */
				t->last_kick = now;
				t->stall_since = 0;
				t->kicks_in_row++;
				e->kicks++;
				/* the reader's own clock: how long it has waited, and when this torrent
				 * last got a block (if ever), not the time since the clock's origin */
				char lastb[64];
				if (last_block)
					snprintf(lastb, sizeof lastb, "last block %lld ms ago",
						 (long long)(now - last_block));
				else
					snprintf(lastb, sizeof lastb, "no block received yet");
				log_info("bt: %s: a reader has waited %lld ms with %d peers connected (%s); "
					"re-adding the torrent with %zu known peers", t->hex.c_str(),
					(long long)(now - oldest_wait), npeers, lastb, t->peers.size());
				reload_locked(t, 0, -1, true);
			}
		} else {
			t->stall_since = 0;
			t->kicks_in_row = 0;
		}
		if (t->active && t->refs == 0 && now >= t->sleep_at) {
			deactivate_locked(t);
			e->sleeps++;
			log_info("bt: %s: asleep", t->hex.c_str());
		}
	}
	/* Back-pressure: peers that stopped on a full store resume once there is room, or
	 * at once when a reader waits (its piece may be what cannot be fetched otherwise;
	 * the store then overshoots by the blocks in flight, bounded by the pinned window). */
	bool release;
	{
		std::lock_guard<std::mutex> g(e->store.mu);
		e->store.make_room(0);
		release = e->store.used < e->store.cap - e->store.cap / 16;
		/* A waiting reader lets peers go on past the cap (its piece may be what cannot
		 * come otherwise), up to half the cap more; beyond that only once the hasher is
		 * idle: under CPU load the store filled with complete pieces waiting for their
		 * hash check, unevictable until checked (measured: 105 MB in a 64 MB store). */
		release = release || (e->store.waiting > 0
			&& (e->store.used < e->store.cap + e->store.cap / 2 || e->store.hash_pending == 0));
	}
	if (release)
		release_observers(e);
}

/* An activation is checked: resume it now if a reader already set deadlines (see
 * bt_torrent::checked). */
void on_checked(bt_engine *e, lt::torrent_handle const &h)
{
	std::string hex = hex_of(h.info_hashes().v1);
	std::lock_guard<std::mutex> eg(e->mu);
	auto it = e->torrents.find(hex);
	if (it == e->torrents.end())
		return;
	bt_torrent *t = it->second;
	std::lock_guard<std::mutex> tg(t->mu);
	if (!t->active || t->h != h)
		return;
	t->checked = true;
	log_debug("bt: %s: checked%s", t->hex.c_str(),
		t->idle_paused && !t->deadlined.empty() ? ", resumed for the reader" : "");
	if (t->idle_paused && !t->deadlined.empty()) {
		t->idle_paused = false;
		t->h.resume();
	}
}

void engine_main(bt_engine *e)
{
	int64_t last_house = 0;
	while (!e->stop.load()) {
		e->ses->wait_for_alert(lt::milliseconds(100));
		std::vector<lt::alert *> alerts;
		e->ses->pop_alerts(&alerts);
		/* alert pointers die at the next pop_alerts(): copy what we keep now */
		for (lt::alert *a : alerts) {
			if (lt::alert_cast<lt::peer_log_alert>(a) || lt::alert_cast<lt::torrent_log_alert>(a)) {
				log_debug("LT %s", a->message().c_str());
			} else if (lt::alert_cast<lt::peer_connect_alert>(a)) {
				e->peer_connections++;
				log_debug("bt: %s", a->message().c_str());
			} else if (lt::alert_cast<lt::peer_disconnected_alert>(a)) {
				log_debug("bt: %s", a->message().c_str());
			} else if (auto *pb = lt::alert_cast<lt::peer_blocked_alert>(a)) {
				if (pb->reason == lt::peer_blocked_alert::ip_filter)
					e->ip_refused++;
				log_debug("bt: %s", pb->message().c_str());
			} else if (lt::alert_cast<lt::peer_ban_alert>(a)) {
				log_warn("bt: %s", a->message().c_str());
			} else if (auto *hf = lt::alert_cast<lt::hash_failed_alert>(a)) {
				log_warn("bt: %s", hf->message().c_str());
			} else if (auto *tc = lt::alert_cast<lt::torrent_checked_alert>(a)) {
				on_checked(e, tc->handle);
			} else if (auto *te = lt::alert_cast<lt::torrent_error_alert>(a)) {
				log_error("bt: %s", te->message().c_str());
			} else if (lt::alert_cast<lt::file_error_alert>(a)) {
				/* our refusals of evicted pieces: counted in the store */
			} else if (auto *le = lt::alert_cast<lt::listen_failed_alert>(a)) {
				log_error("bt: %s", le->message().c_str());
			} else if (auto *ls = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
				log_debug("bt: %s", ls->message().c_str());
			}
		}
		int64_t now = now_ms();
		if (now - last_house >= 100) {
			last_house = now;
			try {
				housekeeping(e);
			} catch (std::exception const &ex) {
				log_error("bt: housekeeping: %s", ex.what());
			}
		}
	}
}

/* ---- reading .torrent files (URLs are fetched on the C side: torrent_fetch.c) ---- */

int read_small_file(const char *path, std::string &out, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		int rc = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (!S_ISREG(st.st_mode) || size_t(st.st_size) > MAX_TORRENT_FILE) {
		set_err(err, errlen, "%s: not a .torrent file (not a regular file or too large)", path);
		return -EINVAL;
	}
	std::ifstream f(path, std::ios::binary);
	if (!f) {
		set_err(err, errlen, "%s: cannot open", path);
		return -EIO;
	}
	out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
	return 0;
}

int add_bytes(bt_engine *e, const char *buf, size_t len, const char *const *extra_peers,
		bt_torrent **out, char *err, size_t errlen)
{
	lt::error_code ec;
	lt::load_torrent_limits lim;
	auto ti = std::make_shared<lt::torrent_info>(lt::span<char const>(buf, std::ptrdiff_t(len)),
		lim, lt::from_span);
	(void)ec;
	std::vector<std::string> peers, trackers;
	for (const char *const *p = extra_peers; p && *p; p++)
		peers.push_back(*p);
	for (auto const &ae : ti->trackers())
		trackers.push_back(ae.url);
	return engine_register(e, ti, peers, trackers, out, err, errlen);
}

/* Magnet or bare hash: ask peers for the info dict (counted), then register asleep. */
int add_magnet(bt_engine *e, lt::add_torrent_params atp, const char *const *extra_peers,
		bt_torrent **out, char *err, size_t errlen)
{
	std::string hex = hex_of(atp.info_hashes.v1);
	if (!atp.info_hashes.has_v1()) {
		set_err(err, errlen, "magnet without a v1 info-hash (btih) is not supported");
		return -ENOTSUP;
	}
	std::vector<std::string> peers, trackers = atp.trackers;
	for (auto const &ep : atp.peers)
		peers.push_back(ep_str(ep));
	for (const char *const *p = extra_peers; p && *p; p++) {
		lt::tcp::endpoint ep;
		if (!parse_ep(*p, ep)) {
			set_err(err, errlen, "bad peer address \"%s\" (want ip:port)", *p);
			return -EINVAL;
		}
		atp.peers.push_back(ep);
		peers.push_back(*p);
	}
	{
		std::lock_guard<std::mutex> g(e->mu);
		auto it = e->torrents.find(hex);
		if (it != e->torrents.end()) {
			bt_torrent *t = it->second;
			std::lock_guard<std::mutex> tg(t->mu);
			for (auto const &p : peers)
				add_unique(t->peers, p, MAX_KNOWN_PEERS);
			*out = t;
			return 0;
		}
	}
	bt_settings s = e->settings();
	atp.save_path = ".";
	/* Added paused, its peers given after: a torrent without metadata takes
	 * add_torrent_params::peers in torrent::start(), before session plugins are attached,
	 * so tcp_first never saw them and the first dial went uTP (4.9 s against a TCP-only
	 * seeder). connect_peer() goes through torrent::add_peer (tcp_first's hook), and the
	 * resume after it runs libtorrent's connect boost at once instead of waiting for the
	 * one-second connection round (measured 1.0 s against a uTP-capable seeder). */
	std::vector<lt::tcp::endpoint> dial;
	dial.swap(atp.peers);
	atp.flags &= ~lt::torrent_flags::auto_managed;
	atp.flags |= lt::torrent_flags::paused;
	/* metadata only: no piece is requested while we wait */
	atp.flags |= lt::torrent_flags::upload_mode | lt::torrent_flags::default_dont_download;
	if (!s.enable_pex)
		atp.flags |= lt::torrent_flags::disable_pex;
	if (!s.enable_dht)
		atp.flags |= lt::torrent_flags::disable_dht;
	if (!s.enable_lsd)
		atp.flags |= lt::torrent_flags::disable_lsd;
	lt::error_code ec;
	lt::torrent_handle h = e->ses->add_torrent(std::move(atp), ec);
	if (ec) {
		set_err(err, errlen, "cannot add magnet: %s", ec.message().c_str());
		return -EIO;
	}
	for (auto const &ep : dial)
		h.connect_peer(ep);
	h.resume();
	e->metadata_fetches++;
	int64_t deadline = now_ms() + int64_t(s.metadata_timeout_s) * 1000;
	std::shared_ptr<const lt::torrent_info> got;
	while (now_ms() < deadline) {
		got = h.torrent_file();
		if (got)
			break;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	if (got) {
		std::vector<lt::peer_info> pi;
		h.get_peer_info(pi);
		for (auto const &p : pi)
			add_unique(peers, ep_str(p.ip), MAX_KNOWN_PEERS);
	}
	int npeers = 0;
	if (!got) {
		lt::torrent_status st = h.status();
		npeers = st.num_peers;
	}
	e->ses->remove_torrent(h);
	if (!got) {
		set_err(err, errlen, "no metadata for %s after %d s (%d peers connected%s)", hex.c_str(),
			s.metadata_timeout_s, npeers, npeers ? "" : "; give a peer with --peer or x.pe=");
		return -ETIMEDOUT;
	}
	/* Re-parse our own copy from the info-dict bytes: the same path the catalog uses. */
	auto sec = got->info_section();
	std::string why;
	auto ti = ti_from_info_dict(sec.data(), size_t(sec.size()), why);
	if (!ti) {
		set_err(err, errlen, "%s", why.c_str());
		return -EINVAL;
	}
	log_info("bt: metadata for %s from peers", hex.c_str());
	return engine_register(e, ti, peers, trackers, out, err, errlen);
}

} /* namespace */

/* ------------------------------------------------------------------------------------ */
/* Exported C API                                                                        */

extern "C" {

void bt_settings_default(bt_settings *s) noexcept
{
	memset(s, 0, sizeof *s);
	snprintf(s->listen_interfaces, sizeof s->listen_interfaces, "0.0.0.0:6881");
	s->connections_limit = 200;
	s->enable_dht = s->enable_pex = s->enable_lsd = s->enable_upnp = s->enable_natpmp = 1;
	s->enable_utp_out = s->enable_utp_in = s->enable_tcp_out = s->enable_tcp_in = 1;
	s->encryption = 1;
	snprintf(s->user_agent, sizeof s->user_agent, "gostream/0.1");
	snprintf(s->peer_id_prefix, sizeof s->peer_id_prefix, "-GS0100-");
	s->cache_size = int64_t(64) << 20;
	s->responsive = 1;
	s->strict_period_s = 60;
	s->read_timeout_ms = 30000;
	s->readahead_bytes = int64_t(16) << 20;
	s->disconnect_timeout_s = 60;
	s->fast_drop_s = 10;
	s->metadata_timeout_s = 60;
}

bt_link_kind bt_link_classify(const char *link) noexcept
{
	if (!link || !*link)
		return BT_LINK_INVALID;
	if (strncasecmp(link, "magnet:", 7) == 0)
		return BT_LINK_MAGNET;
	if (strncasecmp(link, "http://", 7) == 0 || strncasecmp(link, "https://", 8) == 0)
		return BT_LINK_URL;
	size_t n = strlen(link);
	if (n == 40 && strspn(link, "0123456789abcdefABCDEF") == 40)
		return BT_LINK_HASH;
	return BT_LINK_FILE;
}

int bt_parse_endpoint(const char *s, char *host, size_t hostlen, int *port) noexcept
{
	if (!s || !host || !hostlen || !port)
		return -EINVAL;
	const char *colon;
	const char *hs = s;
	size_t hl;
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		hs = s + 1;
		hl = size_t(rb - hs);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		hl = size_t(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	const char *ps = colon + 1;
	if (!*ps || strspn(ps, "0123456789") != strlen(ps) || strlen(ps) > 5)
		return -EINVAL;
	long p = strtol(ps, nullptr, 10);
	if (p < 1 || p > 65535)
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = 0;
	*port = int(p);
	return 0;
}

int bt_engine_create(const bt_settings *s, bt_engine **out) noexcept
{
	bt_engine *e = nullptr;
	try {
		e = new bt_engine;
		e->cfg = *s;
		sanitize(e->cfg);
		e->store.cap = e->cfg.cache_size;
		lt::session_params sp(make_pack(e->cfg));
		piece_store *st = &e->store;
		sp.disk_io_constructor = [st](lt::io_context &ioc, lt::settings_interface const &,
				lt::counters &) -> std::unique_ptr<lt::disk_interface> {
			return make_ram_disk_io(ioc, *st);
		};
		/* every torrent, metadata fetches included: see tcp_first */
		sp.extensions.push_back(make_tcp_first());
		e->ses.reset(new lt::session(std::move(sp)));
		e->th = std::thread(engine_main, e);
		*out = e;
		log_info("bt: engine up, listen %s, cache %lld MiB", e->cfg.listen_interfaces,
			(long long)(e->cfg.cache_size >> 20));
		return 0;
	} catch (std::exception const &ex) {
		log_error("bt: engine start failed: %s", ex.what());
	} catch (...) {
	}
	delete e;
	return -EIO;
}

void bt_engine_destroy(bt_engine *e) noexcept
{
	if (!e)
		return;
	try {
		e->stop = true;
		if (e->th.joinable())
			e->th.join();
		{
			std::lock_guard<std::mutex> g(e->mu);
			for (auto &kv : e->torrents) {
				bt_torrent *t = kv.second;
				std::lock_guard<std::mutex> tg(t->mu);
				if (t->active)
					e->ses->remove_torrent(t->h);
				set_active(t, false);
			}
		}
		/* A peer connection parked on our store keeps the io_context busy: the session
		 * destructor would wait for it forever. */
		release_observers(e);
		/* session destruction waits for the network thread and the disk io */
		e->ses.reset();
		std::lock_guard<std::mutex> g(e->mu);
		for (auto &kv : e->torrents) {
			{
				std::lock_guard<std::mutex> sg(e->store.mu);
				e->store.drop_all(kv.second->ts.get());
				e->store.registry.erase(kv.second->ts->ih);
			}
			delete kv.second;
		}
		e->torrents.clear();
	} catch (...) {
	}
	delete e;
}

int bt_engine_apply_settings(bt_engine *e, const bt_settings *s) noexcept
{
	try {
		bt_settings n = *s;
		sanitize(n);
		{
			std::lock_guard<std::mutex> g(e->cfg_mu);
			e->cfg = n;
		}
		e->ses->apply_settings(make_pack(n));
		{
			std::lock_guard<std::mutex> g(e->store.mu);
			e->store.cap = n.cache_size;
			e->store.make_room(0);
		}
		std::lock_guard<std::mutex> g(e->mu);
		for (auto &kv : e->torrents) {
			std::lock_guard<std::mutex> tg(kv.second->mu);
			if (kv.second->active)
				apply_torrent_flags(e, kv.second->h, n);
		}
		return 0;
	} catch (...) {
		return -EIO;
	}
}

void bt_engine_get_counters(bt_engine *e, bt_engine_counters *o) noexcept
{
	memset(o, 0, sizeof *o);
	try {
		o->metadata_fetches = e->metadata_fetches;
		o->activations = e->activations;
		o->reloads = e->reloads;
		o->peer_kicks = e->kicks;
		o->sleeps = e->sleeps;
		o->strict_entries = e->strict_entries;
		o->peer_connections = e->peer_connections;
		o->unverified_served = e->unverified_served;
		o->bytes_read = e->bytes_read;
		{
			std::lock_guard<std::mutex> g(e->store.mu);
			o->store_bytes = uint64_t(e->store.used);
			o->store_cap = uint64_t(e->store.cap);
			o->store_peak = uint64_t(e->store.peak);
		}
		o->evictions = e->store.evictions;
		o->refused_requests = e->store.refused;
		o->hash_failures = e->store.hash_failures;
		{
			std::lock_guard<std::mutex> g(e->mu);
			o->torrents_known = int(e->torrents.size());
		}
		std::lock_guard<std::mutex> g(e->awake_mu);
		o->torrents_active = int(e->awake.size());
	} catch (...) {
	}
}

int bt_engine_add(bt_engine *e, const char *link, const char *const *extra_peers,
		bt_torrent **out, char *err, size_t errlen) noexcept
{
	try {
		std::string buf;
		int rc;
		switch (bt_link_classify(link)) {
		case BT_LINK_MAGNET:
		case BT_LINK_HASH: {
			std::string uri = link;
			if (bt_link_classify(link) == BT_LINK_HASH)
				uri = std::string("magnet:?xt=urn:btih:") + link;
			lt::error_code ec;
			lt::add_torrent_params atp = lt::parse_magnet_uri(uri, ec);
			if (ec) {
				set_err(err, errlen, "malformed magnet link: %s", ec.message().c_str());
				return -EINVAL;
			}
			return add_magnet(e, std::move(atp), extra_peers, out, err, errlen);
		}
		case BT_LINK_URL:
			set_err(err, errlen, "http(s) links are fetched by torrent_fetch_add, not the engine");
			return -EINVAL;
		case BT_LINK_FILE:
			rc = read_small_file(link, buf, err, errlen);
			break;
		default:
			set_err(err, errlen, "empty link");
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
		return bt_engine_add_torrent_bytes(e, buf.data(), buf.size(), extra_peers, out, err, errlen);
	} catch (...) {
		return fail_current(err, errlen, "");
	}
}

int bt_engine_add_torrent_bytes(bt_engine *e, const void *buf, size_t len,
		const char *const *extra_peers, bt_torrent **out, char *err, size_t errlen) noexcept
{
	try {
		if (len > MAX_TORRENT_FILE) {
			set_err(err, errlen, "torrent file too large");
			return -EINVAL;
		}
		return add_bytes(e, static_cast<const char *>(buf), len, extra_peers, out, err, errlen);
	} catch (lt::system_error const &ex) {
		set_err(err, errlen, "not a valid .torrent: %s", ex.code().message().c_str());
		return -EINVAL;
	} catch (...) {
		return fail_current(err, errlen, "");
	}
}

int bt_engine_load(bt_engine *e, const void *info_dict, size_t len, const char *const *peers,
		const char *const *trackers, bt_torrent **out, char *err, size_t errlen) noexcept
{
	try {
		std::string why;
		auto ti = ti_from_info_dict(static_cast<const char *>(info_dict), len, why);
		if (!ti) {
			set_err(err, errlen, "%s", why.c_str());
			return -EINVAL;
		}
		std::vector<std::string> pv, tv;
		for (const char *const *p = peers; p && *p; p++)
			pv.push_back(*p);
		for (const char *const *p = trackers; p && *p; p++)
			tv.push_back(*p);
		return engine_register(e, ti, pv, tv, out, err, errlen);
	} catch (...) {
		return fail_current(err, errlen, "");
	}
}

int bt_torrent_forget(bt_torrent *t) noexcept
{
	try {
		bt_engine *e = t->e;
		{
			std::lock_guard<std::mutex> g(e->mu);
			std::lock_guard<std::mutex> tg(t->mu);
			if (t->refs > 0)
				return -EBUSY;
			deactivate_locked(t);
			e->torrents.erase(t->hex);
		}
		{
			std::lock_guard<std::mutex> sg(e->store.mu);
			e->store.drop_all(t->ts.get());
			e->store.registry.erase(t->ts->ih);
		}
		delete t;
		return 0;
	} catch (...) {
		return -EIO;
	}
}

int bt_torrent_get_info(bt_torrent *t, bt_info **out) noexcept
{
	try {
		const lt::torrent_info &ti = *t->ti;
		const lt::file_storage &fs = ti.files();
		auto *i = static_cast<bt_info *>(calloc(1, sizeof(bt_info)));
		if (!i)
			std::abort();
		snprintf(i->hash, sizeof i->hash, "%s", t->hex.c_str());
		i->name = dup_cstr(ti.name());
		i->piece_length = ti.piece_length();
		i->num_pieces = ti.num_pieces();
		i->total_size = ti.total_size();
		i->num_files = ti.num_files();
		i->files = static_cast<bt_file *>(calloc(size_t(i->num_files ? i->num_files : 1), sizeof(bt_file)));
		if (!i->files)
			std::abort();
		for (int f = 0; f < i->num_files; f++) {
			lt::file_index_t fi(f);
			i->files[f].path = dup_cstr(fs.file_path(fi));
			i->files[f].size = fs.file_size(fi);
			i->files[f].offset = fs.file_offset(fi);
		}
		auto sec = ti.info_section();
		i->info_dict_len = size_t(sec.size());
		i->info_dict = malloc(i->info_dict_len ? i->info_dict_len : 1);
		if (!i->info_dict)
			std::abort();
		memcpy(i->info_dict, sec.data(), i->info_dict_len);
		std::lock_guard<std::mutex> g(t->mu);
		i->num_peers = int(t->peers.size());
		i->peers = static_cast<char **>(calloc(t->peers.size() + 1, sizeof(char *)));
		for (size_t k = 0; k < t->peers.size(); k++)
			i->peers[k] = dup_cstr(t->peers[k]);
		i->num_trackers = int(t->trackers.size());
		i->trackers = static_cast<char **>(calloc(t->trackers.size() + 1, sizeof(char *)));
		for (size_t k = 0; k < t->trackers.size(); k++)
			i->trackers[k] = dup_cstr(t->trackers[k]);
		*out = i;
		return 0;
	} catch (...) {
		return -EIO;
	}
}

void bt_info_free(bt_info *i) noexcept
{
	if (!i)
		return;
	free(i->name);
	for (int f = 0; f < i->num_files; f++)
		free(i->files[f].path);
	free(i->files);
	free(i->info_dict);
	for (int k = 0; k < i->num_peers; k++)
		free(i->peers[k]);
	free(i->peers);
	for (int k = 0; k < i->num_trackers; k++)
		free(i->trackers[k]);
	free(i->trackers);
	free(i);
}

int bt_torrent_find_file(bt_torrent *t, const char *path) noexcept
{
	try {
		const lt::file_storage &fs = t->ti->files();
		std::string want = path;
		std::string prefix = t->ti->name() + "/";
		for (int f = 0; f < fs.num_files(); f++) {
			std::string p = fs.file_path(lt::file_index_t(f));
			if (p == want || (p.compare(0, prefix.size(), prefix) == 0 && p.substr(prefix.size()) == want))
				return f;
		}
		return -ENOENT;
	} catch (...) {
		return -EIO;
	}
}

const char *bt_torrent_hash(bt_torrent *t) noexcept
{
	return t->hex.c_str();
}

int bt_torrent_open(bt_torrent *t, const char *const *extra_peers) noexcept
{
	try {
		std::lock_guard<std::mutex> g(t->mu);
		if (t->aborted)
			return -ENOENT;
		if (!t->active) {
			char err[256];
			int rc = activate_locked(t, extra_peers, std::vector<int>(), err, sizeof err);
			if (rc < 0) {
				log_error("bt: %s: %s", t->hex.c_str(), err);
				return rc;
			}
			t->e->activations++;
			log_info("bt: %s: awake (%zu known peers)", t->hex.c_str(), t->peers.size());
		} else {
			for (const char *const *p = extra_peers; p && *p; p++) {
				lt::tcp::endpoint ep;
				if (parse_ep(*p, ep)) {
					add_unique(t->peers, *p, MAX_KNOWN_PEERS);
					t->h.connect_peer(ep);
				}
			}
		}
		t->refs++;
		t->fast_drop = false;
		return 0;
	} catch (...) {
		return -EIO;
	}
}

void bt_torrent_close(bt_torrent *t) noexcept
{
	try {
		std::lock_guard<std::mutex> g(t->mu);
		if (t->refs <= 0)
			return;
		if (--t->refs == 0) {
			bt_settings s = t->e->settings();
			int secs = t->fast_drop ? std::min(s.fast_drop_s, s.disconnect_timeout_s)
				: s.disconnect_timeout_s;
			t->sleep_at = now_ms() + int64_t(secs) * 1000;
			clear_windows_locked(t);
		}
	} catch (...) {
	}
}

void bt_torrent_fast_drop(bt_torrent *t) noexcept
{
	try {
		std::lock_guard<std::mutex> g(t->mu);
		t->fast_drop = true;
		bt_settings s = t->e->settings();
		int64_t at = now_ms() + int64_t(s.fast_drop_s) * 1000;
		if (t->refs == 0 && at < t->sleep_at)
			t->sleep_at = at;
	} catch (...) {
	}
}

int bt_torrent_sleep(bt_torrent *t) noexcept
{
	try {
		std::lock_guard<std::mutex> g(t->mu);
		t->fast_drop = true;
		if (t->refs > 0)
			return -EBUSY;
		t->sleep_at = 0;        /* housekeeping deactivates it on its next pass */
		return 0;
	} catch (...) {
		return -EIO;
	}
}

void bt_torrent_abort(bt_torrent *t) noexcept
{
	try {
		{
			std::lock_guard<std::mutex> g(t->mu);
			t->aborted = true;
			deactivate_locked(t);   /* out of the session now: no peer works for it */
		}
		std::lock_guard<std::mutex> g(t->e->store.mu);
		t->ts->cv.notify_all();         /* waiting readers see the flag */
	} catch (...) {
	}
}

void bt_torrent_set_priority(bt_torrent *t, int on) noexcept
{
	t->priority = on != 0;
}

namespace {
void wake_reader(void *arg)
{
	auto *pair = static_cast<std::pair<piece_store *, tstore *> *>(arg);
	std::lock_guard<std::mutex> g(pair->first->mu);
	pair->second->cv.notify_all();
}
}

static ssize_t read_impl(bt_torrent *t, int file_index, int64_t offset, void *buf, size_t len,
		gs_cancel *cancel, bool bg) noexcept
{
	try {
		bt_engine *e = t->e;
		const lt::file_storage &fs = t->ti->files();
		if (file_index < 0 || file_index >= fs.num_files() || offset < 0)
			return -EINVAL;
		int64_t fsize = fs.file_size(lt::file_index_t(file_index));
		if (offset >= fsize || len == 0)
			return 0;
		int64_t n = std::min<int64_t>(int64_t(len), fsize - offset);
		int64_t abs = fs.file_offset(lt::file_index_t(file_index)) + offset;
		int pl = t->ti->piece_length();
		int first = int(abs / pl), last = int((abs + n - 1) / pl);
		bt_settings s = e->settings();
		{
			std::lock_guard<std::mutex> g(t->mu);
			if (t->aborted)
				return -ENOENT;
			if (t->refs <= 0 || !t->active)
				return -EBADF;
			update_window_locked(t, file_index, first, last, bg);
		}
		tstore &ts = *t->ts;
		piece_store &st = e->store;
		std::pair<piece_store *, tstore *> wk{&st, &ts};
		std::optional<waker_guard> waker;
		waker.emplace(cancel, wake_reader, &wk);
		int64_t deadline = now_ms() + s.read_timeout_ms;
		int64_t wait_start = now_ms(), last_assert = wait_start;
		int64_t pos = 0;
		int reloads = 0;
		ssize_t result = 0;
		char *out = static_cast<char *>(buf);
		while (pos < n) {
			if (cancel_fired(cancel)) {
				result = -EINTR;
				break;
			}
			if (t->aborted) {
				result = -ENOENT;
				break;
			}
			int64_t a = abs + pos;
			int p = int(a / pl);
			int poff = int(a - int64_t(p) * pl);
			bool need_reload = false;
			bool timed_out = false;
			bool reassert = false;
			{
				std::unique_lock<std::mutex> g(st.mu);
				int64_t now = now_ms();
				/* a failure not yet seen by the engine thread counts as strict already */
				bool allow_unverified = s.responsive && t->strict_until.load() <= now
					&& ts.bad_served == t->bad_seen.load();
				auto it = ts.pieces.find(p);
				int64_t got = 0;
				if (it != ts.pieces.end() && !it->second.doomed
						&& (it->second.verified || (allow_unverified && !ts.suspect[size_t(p)]))) {
					piece_slot &sl = it->second;
					int64_t off = poff;
					int psz = ts.piece_size(p);
					while (pos + got < n && off < psz) {
						char *blk = sl.blocks[size_t(off / BLOCK)];
						if (!blk)
							break;
						int64_t k = std::min<int64_t>({n - pos - got, BLOCK - off % BLOCK, psz - off});
						memcpy(out + pos + got, blk + off % BLOCK, size_t(k));
						got += k;
						off += k;
					}
					if (got > 0) {
						sl.read = true;
						if (sl.verified) {
							st.lru_touch(&ts, p, sl);
						} else {
							sl.served_unverified = true;
							e->unverified_served++;
						}
					}
				}
				if (got > 0) {
					pos += got;
					continue;
				}
				if (ts.lt_have[size_t(p)] && (it == ts.pieces.end() || !it->second.verified)) {
					need_reload = true;
				} else if (now >= deadline) {
					timed_out = true;
				} else if (now - last_assert >= 500) {
					/* other readers of this torrent (a player's seeks, the kernel's
					 * readahead, a pump) may have taken our window and dropped our
					 * piece's deadline: claim it again while we wait */
					last_assert = now;
					reassert = now - wait_start >= 500;
				}
				if (!need_reload && !timed_out && !reassert) {
					ts.waiters++;
					st.waiting++;
					auto ws = ts.wait_starts.insert(wait_start);
					ts.cv.wait_until(g, std::chrono::steady_clock::now()
						+ std::chrono::milliseconds(std::min<int64_t>(deadline - now, 200)));
					ts.wait_starts.erase(ws);
					ts.waiters--;
					st.waiting--;
				}
			}
			if (timed_out) {
				result = -ETIMEDOUT;
				break;
			}
			if (reassert) {
				std::lock_guard<std::mutex> g(t->mu);
				if (t->refs <= 0 || !t->active) {
					result = t->aborted ? -ENOENT : -EBADF;
					break;
				}
				update_window_locked(t, file_index, p, last, bg);
				continue;
			}
			if (need_reload) {
				/* A reader that left does not reload the torrent under the one that
				 * came: B5, a player's seek closed the connection whose pump was on
				 * an evicted piece; the reload (every peer dropped and dialled again)
				 * and the new read's lost window made that seek 620 ms. */
				if (cancel_fired(cancel)) {
					result = -EINTR;
					break;
				}
				if (++reloads > MAX_RELOADS_PER_READ) {
					result = -EIO;
					break;
				}
				std::lock_guard<std::mutex> g(t->mu);
				if (t->refs <= 0 || !t->active) {
					result = t->aborted ? -ENOENT : -EBADF;
					break;
				}
				int rc;
				{
					std::lock_guard<std::mutex> sg(st.mu);
					rc = ts.lt_have[size_t(p)] ? 1 : 0;
				}
				if (rc && (rc = reload_locked(t, p, last)) < 0) {
					result = rc;
					break;
				}
				update_window_locked(t, file_index, p, last, bg);
			}
		}
		waker.reset();
		if (result < 0) {
			if (result == -ETIMEDOUT) {
				int peers = 0;
				try {
					std::lock_guard<std::mutex> g(t->mu);
					if (t->active)
						peers = t->h.status().num_peers;
				} catch (...) {
				}
				log_warn("bt: %s: read of file %d at %lld timed out after %d ms waiting for "
					"piece %d (%d peers connected)", t->hex.c_str(), file_index,
					(long long)(offset + pos), s.read_timeout_ms, int((abs + pos) / pl), peers);
			}
			/* no short reads: FUSE would take one for the end of the file */
			return result;
		}
		e->bytes_read += uint64_t(n);
		return ssize_t(n);
	} catch (...) {
		return -EIO;
	}
}

ssize_t bt_read(bt_torrent *t, int file_index, int64_t offset, void *buf, size_t len,
		gs_cancel *cancel) noexcept
{
	return read_impl(t, file_index, offset, buf, len, cancel, false);
}

ssize_t bt_read_background(bt_torrent *t, int file_index, int64_t offset, void *buf, size_t len,
		gs_cancel *cancel) noexcept
{
	return read_impl(t, file_index, offset, buf, len, cancel, true);
}

int bt_torrent_get_status(bt_torrent *t, bt_torrent_status *o) noexcept
{
	memset(o, 0, sizeof *o);
	try {
		std::lock_guard<std::mutex> g(t->mu);
		o->active = t->active;
		o->readers = t->refs;
		o->num_pieces = t->ti->num_pieces();
		o->priority = t->priority.load();
		o->strict = t->strict_until.load() > now_ms();
		if (t->active) {
			lt::torrent_status st = t->h.status();
			o->peers = st.num_peers;
			o->download_rate = st.download_payload_rate;
			o->upload_rate = st.upload_payload_rate;
			o->total_download = st.total_payload_download;
			o->pieces_have = st.num_pieces;
		}
		std::lock_guard<std::mutex> sg(t->e->store.mu);
		for (auto &kv : t->ts->pieces)
			o->pieces_stored += kv.second.verified ? 1 : 0;
		return 0;
	} catch (...) {
		return -EIO;
	}
}

} /* extern "C" */

/* ------------------------------------------------------------------------------------ */
/* Peer IP filter (blocklist.c) and live listen port (natpmp.c)                          */

#include <libtorrent/ip_filter.hpp>

extern "C" {

int bt_engine_set_ip_filter(bt_engine *e, const bt_ip4_range *v4, size_t n4,
		const bt_ip6_range *v6, size_t n6) noexcept
{
	try {
		lt::ip_filter f;
		/* Rules go in ascending order: each add_rule is then an append at the end of
		 * libtorrent's range map (measured: 700,000 ranges in ~0.3 s). */
		for (size_t i = 0; i < n4; i++)
			f.add_rule(lt::address_v4(v4[i].first), lt::address_v4(v4[i].last),
				lt::ip_filter::blocked);
		for (size_t i = 0; i < n6; i++) {
			lt::address_v6::bytes_type a, b;
			memcpy(a.data(), v6[i].first, 16);
			memcpy(b.data(), v6[i].last, 16);
			f.add_rule(lt::address_v6(a), lt::address_v6(b), lt::ip_filter::blocked);
		}
		/* The session takes its own copy and applies it on the network thread: peers
		 * already connected from a blocked address are disconnected there. */
		e->ses->set_ip_filter(std::move(f));
		return 0;
	} catch (std::bad_alloc const &) {
		return -ENOMEM;
	} catch (...) {
		return -EIO;
	}
}

uint64_t bt_engine_ip_refused(bt_engine *e) noexcept
{
	return e->ip_refused.load();
}

int bt_engine_set_listen_port(bt_engine *e, int port) noexcept
{
	if (port < 1 || port > 65535)
		return -EINVAL;
	try {
		std::string cur, next;
		{
			std::lock_guard<std::mutex> g(e->cfg_mu);
			cur = e->cfg.listen_interfaces;
			/* "0.0.0.0:6881,[::]:6881": the port is after the last ':' of each entry */
			size_t start = 0;
			while (start <= cur.size()) {
				size_t end = cur.find(',', start);
				if (end == std::string::npos)
					end = cur.size();
				std::string item = cur.substr(start, end - start);
				size_t colon = item.rfind(':');
				if (colon != std::string::npos && item.find(']', colon) == std::string::npos)
					item.resize(colon);
				if (!next.empty())
					next += ',';
				next += item + ':' + std::to_string(port);
				start = end + 1;
			}
			if (next == cur)
				return 0;
			if (next.size() >= sizeof e->cfg.listen_interfaces)
				return -ENAMETOOLONG;
			snprintf(e->cfg.listen_interfaces, sizeof e->cfg.listen_interfaces, "%s",
				next.c_str());
		}
		/* Only listen_interfaces changes: libtorrent opens the new sockets and closes
		 * the old ones; torrents and their peer connections stay up. */
		lt::settings_pack p;
		p.set_str(lt::settings_pack::listen_interfaces, next);
		e->ses->apply_settings(std::move(p));
		log_info("bt: listen port now %d (%s)", port, next.c_str());
		return 1;
	} catch (...) {
		return -EIO;
	}
}

} /* extern "C" */

int bt_link_parse(const char *link, bt_info **out, char *err, size_t errlen) noexcept
{
	try {
		bt_link_kind kind = bt_link_classify(link);
		if (kind != BT_LINK_MAGNET && kind != BT_LINK_HASH) {
			set_err(err, errlen, "%s", kind == BT_LINK_INVALID ? "empty link" :
				"not a magnet link or info-hash");
			return -EINVAL;
		}
		std::string uri = link;
		if (kind == BT_LINK_HASH)
			uri = std::string("magnet:?xt=urn:btih:") + link;
		lt::error_code ec;
		lt::add_torrent_params atp = lt::parse_magnet_uri(uri, ec);
		if (ec) {
			set_err(err, errlen, "malformed magnet link: %s", ec.message().c_str());
			return -EINVAL;
		}
		if (!atp.info_hashes.has_v1()) {
			set_err(err, errlen, "magnet without a v1 info-hash (btih) is not supported");
			return -ENOTSUP;
		}
		auto *i = static_cast<bt_info *>(calloc(1, sizeof(bt_info)));
		if (!i)
			std::abort();
		snprintf(i->hash, sizeof i->hash, "%s", hex_of(atp.info_hashes.v1).c_str());
		i->name = dup_cstr(atp.name);
		i->peers = static_cast<char **>(calloc(atp.peers.size() + 1, sizeof(char *)));
		i->trackers = static_cast<char **>(calloc(atp.trackers.size() + 1, sizeof(char *)));
		if (!i->peers || !i->trackers)
			std::abort();
		for (auto const &ep : atp.peers)
			i->peers[i->num_peers++] = dup_cstr(ep_str(ep));
		for (auto const &tr : atp.trackers)
			i->trackers[i->num_trackers++] = dup_cstr(tr);
		*out = i;
		return 0;
	} catch (...) {
		return fail_current(err, errlen, "");
	}
}
