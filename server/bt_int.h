/* bt_int.h - private to the libtorrent shim (bt_shim.cc, bt_store.cc, bt_plugins.cc,
 * bt_seeder.cc; C code includes bt.h only): the RAM piece store's types and the shared helpers,
 * in namespace gs_bt. The engine (bt_shim.cc) owns the piece_store; the network, engine,
 * hasher and caller threads reach it under piece_store::mu.
 * Lock order: bt_torrent::mu, then piece_store::mu. Never hold piece_store::mu across a
 * blocking libtorrent call: the network thread takes it in async_write. */
#ifndef GS_BT_INT_H
#define GS_BT_INT_H

#ifndef __cplusplus
#error "bt_int.h is the C++ shim's private header: C code includes bt.h"
#endif

#include <libtorrent/disk_interface.hpp>
#include <libtorrent/disk_observer.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gs_bt {

constexpr int BLOCK = 16 * 1024;

inline int64_t now_ms()
{
	using namespace std::chrono;
	return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

inline void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
inline void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The last handler of an exported noexcept function that reports into err:
 *     } catch (...) { return fail_current(err, errlen, "seeder: "); }
 * puts prefix + what() of the exception in flight (if a std::exception) into err and
 * returns -EIO. */
inline int fail_current(char *err, size_t errlen, const char *prefix) noexcept
{
	try {
		throw;
	} catch (std::exception const &ex) {
		set_err(err, errlen, "%s%s", prefix, ex.what());
	} catch (...) {
	}
	return -EIO;
}

/* ------------------------------------------------------------------------------------ */
/* The RAM piece store                                                                   */

struct tstore;

struct piece_slot {
	std::vector<char *> blocks;    /* nullptr = block not received */
	/* per block, the connection that sent it (its disk_observer): an identity to count
	 * the senders of a failed piece, never dereferenced */
	std::vector<const void *> senders;
	int have_blocks = 0;
	bool verified = false;         /* hash matched the v1 piece hash */
	bool served_unverified = false;
	bool read = false;             /* a reader of ours copied from it */
	bool doomed = false;           /* free when the hasher lets go */
	int busy = 0;                  /* hasher jobs holding block pointers */
	int64_t last_write = 0;
	bool in_lru = false;
	std::list<std::pair<tstore *, int>>::iterator lru_it;
};

/* Per torrent (per info-hash) part of the store. Shared by every libtorrent storage that
 * libtorrent creates for that torrent (one per activation). */
struct tstore {
	std::string ih;                /* 20 raw bytes, v1 */
	int piece_len = 0;
	int num_pieces = 0;
	int64_t total = 0;
	std::string hashes;            /* 20 * num_pieces; empty: unknown (metadata fetch) */
	std::unordered_map<int, piece_slot> pieces;
	std::vector<uint8_t> lt_have;  /* what the libtorrent torrent of this generation has */
	/* failed a hash check and not verified since: served verified only, even in responsive
	 * mode (its next download may hold blocks of the same bad peer, after strict mode has
	 * ended) */
	std::vector<uint8_t> suspect;
	int gen = 0;                   /* bumped on reload/sleep: older storages are ignored */
	std::condition_variable cv;    /* readers wait here (with piece_store::mu) */
	int waiters = 0;
	/* when each waiting reader began its wait (the oldest is what a stall log reports) */
	std::multiset<int64_t> wait_starts;
	int64_t last_block = 0;        /* when the last block of this torrent arrived; 0: none yet */
	std::vector<std::pair<int, int>> pins;   /* inclusive piece ranges not to evict */
	uint64_t bad_served = 0;       /* hash failures of pieces we had served unverified */
	bool registered = false;

	int piece_size(int p) const
	{
		if (p < num_pieces - 1)
			return piece_len;
		return int(total - int64_t(num_pieces - 1) * piece_len);
	}
	int nblocks(int p) const { return (piece_size(p) + BLOCK - 1) / BLOCK; }
	bool pinned(int p) const
	{
		for (auto const &r : pins)
			if (p >= r.first && p <= r.second)
				return true;
		return false;
	}
	/* How many connections sent blocks of piece p (caller holds piece_store::mu). */
	int senders_of(int p) const
	{
		auto it = pieces.find(p);
		if (it == pieces.end())
			return 0;
		std::vector<const void *> v;
		for (const void *s : it->second.senders)
			if (s && std::find(v.begin(), v.end(), s) == v.end())
				v.push_back(s);
		return int(v.size());
	}
};

struct piece_store {
	std::mutex mu;
	int64_t used = 0;
	int64_t cap = 64 << 20;
	int64_t peak = 0;
	int waiting = 0;                 /* readers waiting on any torrent (sum of tstore::waiters) */
	std::atomic<int> hash_pending{0};  /* pieces queued for or in the hasher */
	std::list<std::pair<tstore *, int>> lru;          /* verified pieces, oldest first */
	std::vector<std::shared_ptr<lt::disk_observer>> observers;
	std::unordered_map<std::string, std::shared_ptr<tstore>> registry;
	std::atomic<uint64_t> evictions{0}, refused{0}, hash_failures{0};
	lt::io_context *ioc = nullptr;   /* the network thread's, for on_disk() */

	void lru_touch(tstore *ts, int p, piece_slot &s)
	{
		if (s.in_lru)
			lru.erase(s.lru_it);
		s.lru_it = lru.insert(lru.end(), {ts, p});
		s.in_lru = true;
	}
	void free_slot_blocks(tstore *ts, int p, piece_slot &s)
	{
		for (size_t i = 0; i < s.blocks.size(); i++) {
			if (!s.blocks[i])
				continue;
			int start = int(i) * BLOCK;
			used -= std::min(BLOCK, ts->piece_size(p) - start);
			free(s.blocks[i]);
			s.blocks[i] = nullptr;
		}
		s.have_blocks = 0;
		if (s.in_lru) {
			lru.erase(s.lru_it);
			s.in_lru = false;
		}
	}
	/* Drops a piece (or marks it for the hasher to drop). */
	void drop(tstore *ts, int p)
	{
		auto it = ts->pieces.find(p);
		if (it == ts->pieces.end())
			return;
		if (it->second.busy) {
			it->second.doomed = true;
			if (it->second.in_lru) {
				lru.erase(it->second.lru_it);
				it->second.in_lru = false;
			}
			return;
		}
		free_slot_blocks(ts, p, it->second);
		ts->pieces.erase(it);
	}
	/* Least recently used first, pieces a reader already copied before ones nobody has
	 * read yet: those were fetched ahead for a reader (8 players through a 64 MB store
	 * evicted each other's read-ahead, and each such piece cost a reload to fetch it
	 * again). */
	bool evict_one()
	{
		for (int pass = 0; pass < 2; pass++) {
			for (auto it = lru.begin(); it != lru.end(); ++it) {
				tstore *ts = it->first;
				int p = it->second;
				auto s = ts->pieces.find(p);
				if (s == ts->pieces.end() || s->second.busy || ts->pinned(p)
						|| (pass == 0 && !s->second.read))
					continue;
				drop(ts, p);
				evictions++;
				return true;
			}
		}
		return false;
	}
	void make_room(int64_t need)
	{
		while (used + need > cap && evict_one()) {
		}
	}
	/* Drops every piece of ts that libtorrent may not know about any more (not verified)
	 * and starts a new generation. Returns the verified pieces as a have-bitfield. */
	std::vector<bool> new_generation(tstore *ts)
	{
		std::vector<int> partial;
		for (auto &kv : ts->pieces)
			if (!kv.second.verified || kv.second.doomed)
				partial.push_back(kv.first);
		for (int p : partial)
			drop(ts, p);
		ts->gen++;
		std::vector<bool> have(size_t(ts->num_pieces), false);
		std::fill(ts->lt_have.begin(), ts->lt_have.end(), 0);
		for (auto &kv : ts->pieces) {
			if (kv.second.verified && !kv.second.doomed) {
				have[size_t(kv.first)] = true;
				ts->lt_have[size_t(kv.first)] = 1;
			}
		}
		return have;
	}
	void drop_all(tstore *ts)
	{
		std::vector<int> all;
		for (auto &kv : ts->pieces)
			all.push_back(kv.first);
		for (int p : all)
			drop(ts, p);
	}
};

/* The session's disk_interface over the store, with its hashing thread (bt_store.cc). */
std::unique_ptr<lt::disk_interface> make_ram_disk_io(lt::io_context &ioc, piece_store &st);
/* Per-torrent plugin: lifts the trust of peers that shared a failed piece (bt_plugins.cc). */
std::shared_ptr<lt::torrent_plugin> make_blame_guard(piece_store &st, std::shared_ptr<tstore> ts);
/* Session plugin: dial peers over TCP first, uTP after a failed TCP dial (bt_plugins.cc). */
std::shared_ptr<lt::plugin> make_tcp_first();

} /* namespace gs_bt */

#endif
