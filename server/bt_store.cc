/* bt_store.cc - the libtorrent disk_interface over the RAM piece store (bt_int.h): blocks
 * land in the store, pieces are hashed against the v1 hashes, peers are served verified
 * pieces only. Owns the storage slots and the hashing thread; the store itself is the engine's.
 * Threads: libtorrent's network thread (disk_interface calls), the hasher thread. */
#include <libtorrent/aux_/vector.hpp>
#include <libtorrent/disk_buffer_holder.hpp>
#include <libtorrent/disk_interface.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/storage_defs.hpp>

#include <cstring>
#include <deque>
#include <functional>
#include <thread>

#include "bt_int.h"

namespace gs_bt {
namespace {

/* ------------------------------------------------------------------------------------ */
/* Hashing thread: SHA-1 of 4 MiB takes milliseconds, too long for the network thread.   */

struct hash_job {
	std::shared_ptr<tstore> ts;
	int gen;
	int piece;
	lt::span<lt::sha256_hash> v2;
	std::function<void(lt::piece_index_t, lt::sha1_hash const &, lt::storage_error const &)> handler;
};

/* ------------------------------------------------------------------------------------ */
/* disk_interface                                                                        */

struct storage_slot {
	std::shared_ptr<tstore> ts;
	int gen = 0;
};

struct ram_disk_io final : lt::disk_interface, lt::buffer_allocator_interface {
	ram_disk_io(lt::io_context &ioc, piece_store &st) : m_ioc(ioc), m_store(st)
	{
		m_store.ioc = &ioc;
		m_hasher = std::thread([this] { hasher_main(); });
	}
	~ram_disk_io() override { stop_hasher(); }

	lt::storage_holder new_torrent(lt::storage_params const &p, std::shared_ptr<void> const &) override
	{
		std::string ih(reinterpret_cast<const char *>(p.info_hash.data()), 20);
		std::shared_ptr<tstore> ts;
		{
			std::lock_guard<std::mutex> g(m_store.mu);
			auto it = m_store.registry.find(ih);
			if (it != m_store.registry.end()) {
				ts = it->second;
			} else {
				/* A torrent the engine did not register (a metadata fetch): private
				 * store without hashes, never verified, never served. */
				ts = std::make_shared<tstore>();
				ts->ih = ih;
				ts->piece_len = p.files.piece_length();
				ts->num_pieces = p.files.num_pieces();
				ts->total = p.files.total_size();
				ts->lt_have.assign(size_t(ts->num_pieces), 0);
				ts->suspect.assign(size_t(ts->num_pieces), 0);
			}
		}
		storage_slot s;
		s.ts = ts;
		{
			std::lock_guard<std::mutex> g(m_store.mu);
			s.gen = ts->gen;
		}
		lt::storage_index_t idx;
		std::lock_guard<std::mutex> g(m_slots_mu);
		if (!m_free.empty()) {
			idx = m_free.back();
			m_free.pop_back();
			m_slots[idx] = s;
		} else {
			idx = m_slots.end_index();
			m_slots.push_back(s);
		}
		return lt::storage_holder(idx, *this);
	}

	void remove_torrent(lt::storage_index_t idx) override
	{
		std::lock_guard<std::mutex> g(m_slots_mu);
		m_slots[idx] = storage_slot();
		m_free.push_back(idx);
	}

	storage_slot slot(lt::storage_index_t idx)
	{
		std::lock_guard<std::mutex> g(m_slots_mu);
		if (idx < m_slots.end_index())
			return m_slots[idx];
		return storage_slot();
	}

	void async_read(lt::storage_index_t idx, lt::peer_request const &r,
			std::function<void(lt::disk_buffer_holder, lt::storage_error const &)> handler,
			lt::disk_job_flags_t) override
	{
		storage_slot s = slot(idx);
		char *buf = nullptr;
		lt::storage_error err;
		if (s.ts && r.length > 0 && r.start >= 0)
			buf = copy_blocks(*s.ts, s.gen, int(r.piece), r.start, r.length);
		if (!buf) {
			/* Evicted (or never held): the peer gets DONT_HAVE + REJECT (see bt.h). */
			m_store.refused++;
			err.ec = boost::asio::error::eof;
			err.operation = lt::operation_t::file_read;
			lt::post(m_ioc, [handler, err] { handler(lt::disk_buffer_holder(), err); });
			return;
		}
		int len = r.length;
		lt::post(m_ioc, [this, handler, buf, len] {
			handler(lt::disk_buffer_holder(*this, buf, len), lt::storage_error());
		});
	}

	/* Peers are only served verified pieces: libtorrent rejects a request for a piece it
	 * does not have before it reads. A piece libtorrent does not have is read only by the
	 * smart_ban plugin, which hashes the blocks of a piece that failed (before
	 * async_clear_piece) and compares them with the good copy once the piece passes: the
	 * sender of the bad block is banned. Refusing those reads blinded smart_ban. */
	char *copy_blocks(tstore &ts, int gen, int p, int start, int len)
	{
		std::lock_guard<std::mutex> g(m_store.mu);
		auto it = ts.pieces.find(p);
		if (it == ts.pieces.end() || it->second.doomed || p < 0 || p >= ts.num_pieces)
			return nullptr;
		piece_slot &sl = it->second;
		if (!sl.verified && (gen != ts.gen || ts.lt_have[size_t(p)]))
			return nullptr;
		if (start + len > ts.piece_size(p) || sl.blocks.empty())
			return nullptr;
		for (int b = start / BLOCK; b <= (start + len - 1) / BLOCK; b++)
			if (!sl.blocks[size_t(b)])
				return nullptr;
		char *out = static_cast<char *>(malloc(size_t(len)));
		if (!out)
			return nullptr;
		int done = 0;
		while (done < len) {
			int off = start + done;
			int n = std::min(len - done, BLOCK - off % BLOCK);
			memcpy(out + done, sl.blocks[size_t(off / BLOCK)] + off % BLOCK, size_t(n));
			done += n;
		}
		if (sl.verified)
			m_store.lru_touch(&ts, p, sl);
		return out;
	}

	bool async_write(lt::storage_index_t idx, lt::peer_request const &r, char const *buf,
			std::shared_ptr<lt::disk_observer> o,
			std::function<void(lt::storage_error const &)> handler, lt::disk_job_flags_t) override
	{
		storage_slot s = slot(idx);
		bool exceeded = false;
		if (s.ts) {
			tstore &ts = *s.ts;
			std::lock_guard<std::mutex> g(m_store.mu);
			int p = int(r.piece);
			if (s.gen == ts.gen && p >= 0 && p < ts.num_pieces && r.start >= 0
					&& r.start % BLOCK == 0 && r.length > 0
					&& r.start + r.length <= ts.piece_size(p)) {
				piece_slot &sl = ts.pieces[p];
				if (sl.blocks.empty()) {
					sl.blocks.assign(size_t(ts.nblocks(p)), nullptr);
					sl.senders.assign(size_t(ts.nblocks(p)), nullptr);
				}
				size_t b = size_t(r.start / BLOCK);
				if (!sl.verified && !sl.doomed && !sl.busy) {
					if (!sl.blocks[b]) {
						int blen = std::min(BLOCK, ts.piece_size(p) - r.start);
						m_store.make_room(blen);
						sl.blocks[b] = static_cast<char *>(malloc(size_t(blen)));
						if (!sl.blocks[b])
							std::abort();
						m_store.used += blen;
						m_store.peak = std::max(m_store.peak, m_store.used);
						sl.have_blocks++;
					}
					memcpy(sl.blocks[b], buf, size_t(r.length));
					sl.senders[b] = o.get();
					sl.last_write = now_ms();
					ts.last_block = sl.last_write;
				}
				if (ts.waiters)
					ts.cv.notify_all();
			}
			if (m_store.used > m_store.cap) {
				/* libtorrent stops reading from this peer until on_disk() */
				exceeded = true;
				if (o)
					m_store.observers.push_back(std::move(o));
			}
		}
		lt::post(m_ioc, [handler] { handler(lt::storage_error()); });
		return exceeded;
	}

	void async_hash(lt::storage_index_t idx, lt::piece_index_t piece, lt::span<lt::sha256_hash> v2,
			lt::disk_job_flags_t,
			std::function<void(lt::piece_index_t, lt::sha1_hash const &, lt::storage_error const &)> handler) override
	{
		storage_slot s = slot(idx);
		if (!s.ts) {
			lt::post(m_ioc, [handler, piece] { handler(piece, lt::sha1_hash(), lt::storage_error()); });
			return;
		}
		std::lock_guard<std::mutex> g(m_hq_mu);
		if (m_hq_stop) {
			/* after abort(): nobody hashes any more */
			post_aborted(std::move(handler), piece);
			return;
		}
		hash_job j{s.ts, s.gen, int(piece), v2, std::move(handler)};
		m_hq.push_back(std::move(j));
		m_store.hash_pending++;
		m_hq_cv.notify_one();
	}

	void async_hash2(lt::storage_index_t idx, lt::piece_index_t piece, int offset, lt::disk_job_flags_t,
			std::function<void(lt::piece_index_t, lt::sha256_hash const &, lt::storage_error const &)> handler) override
	{
		storage_slot s = slot(idx);
		lt::sha256_hash h;
		if (s.ts) {
			std::lock_guard<std::mutex> g(m_store.mu);
			auto it = s.ts->pieces.find(int(piece));
			int b = offset / BLOCK;
			if (it != s.ts->pieces.end() && size_t(b) < it->second.blocks.size()
					&& it->second.blocks[size_t(b)]) {
				int len = std::min(BLOCK, s.ts->piece_size(int(piece)) - offset);
				h = lt::hasher256(it->second.blocks[size_t(b)], len).final();
			}
		}
		lt::post(m_ioc, [handler, piece, h] { handler(piece, h, lt::storage_error()); });
	}

	void async_move_storage(lt::storage_index_t, std::string p, lt::move_flags_t,
			std::function<void(lt::status_t, std::string const &, lt::storage_error const &)> handler) override
	{
		lt::post(m_ioc, [handler, p] {
			handler(lt::status_t::fatal_disk_error, p, lt::storage_error(lt::error_code(
				boost::system::errc::operation_not_supported, lt::system_category())));
		});
	}

	void async_release_files(lt::storage_index_t, std::function<void()> handler) override
	{
		if (handler)
			lt::post(m_ioc, handler);
	}

	/* Trust the have-bitfield we gave in add_torrent_params: it is the store's. */
	void async_check_files(lt::storage_index_t, lt::add_torrent_params const *,
			lt::aux::vector<std::string, lt::file_index_t>,
			std::function<void(lt::status_t, lt::storage_error const &)> handler) override
	{
		lt::post(m_ioc, [handler] { handler(lt::status_t::no_error, lt::storage_error()); });
	}

	void async_stop_torrent(lt::storage_index_t, std::function<void()> handler) override
	{
		if (handler)
			lt::post(m_ioc, handler);
	}

	void async_rename_file(lt::storage_index_t, lt::file_index_t idx, std::string name,
			std::function<void(std::string const &, lt::file_index_t, lt::storage_error const &)> handler) override
	{
		lt::post(m_ioc, [handler, name, idx] { handler(name, idx, lt::storage_error()); });
	}

	void async_delete_files(lt::storage_index_t, lt::remove_flags_t,
			std::function<void(lt::storage_error const &)> handler) override
	{
		lt::post(m_ioc, [handler] { handler(lt::storage_error()); });
	}

	/* Priorities need no storage work here (no part file): report success, or libtorrent
	 * would put the torrent in an error state. */
	void async_set_file_priority(lt::storage_index_t,
			lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio,
			std::function<void(lt::storage_error const &,
				lt::aux::vector<lt::download_priority_t, lt::file_index_t>)> handler) override
	{
		lt::post(m_ioc, [handler, prio]() mutable { handler(lt::storage_error(), std::move(prio)); });
	}

	/* Called after a piece failed its hash check, before its blocks are requested again. */
	void async_clear_piece(lt::storage_index_t idx, lt::piece_index_t index,
			std::function<void(lt::piece_index_t)> handler) override
	{
		storage_slot s = slot(idx);
		if (s.ts) {
			std::lock_guard<std::mutex> g(m_store.mu);
			auto it = s.ts->pieces.find(int(index));
			if (s.gen == s.ts->gen && it != s.ts->pieces.end()) {
				if (it->second.served_unverified)
					s.ts->bad_served++;
				m_store.drop(s.ts.get(), int(index));
			}
		}
		lt::post(m_ioc, [handler, index] { handler(index); });
	}

	void free_disk_buffer(char *b) override { free(b); }
	void update_stats_counters(lt::counters &) const override {}
	std::vector<lt::open_file_state> get_status(lt::storage_index_t) const override { return {}; }
	/* Called by libtorrent on the network thread while the session shuts down
	 * (abort_stage2), before it lets the io_context run out of work. Every hash handler
	 * must have run or be failed by then: one posted after the network thread has
	 * exited stays queued in the io_context and is destroyed with it in ~session, after
	 * the session's internals are gone, and the torrent it holds then frees into them
	 * (glibc "corrupted double-linked list" in bt_engine_destroy; with BT_PEERLOG=1, which
	 * slows the network thread enough to leave hash jobs queued, engine_dial.sh +
	 * engine_links.sh aborted in 8 of 26 runs before this and 0 of 28 after). Jobs not started are failed with
	 * operation_aborted, posted now so they run before the thread exits; the job in
	 * progress posts its own result before the join returns. */
	void abort(bool) override
	{
		std::deque<hash_job> left;
		{
			std::lock_guard<std::mutex> g(m_hq_mu);
			m_hq_stop = true;
			left.swap(m_hq);
			m_hq_cv.notify_all();
		}
		for (hash_job &j : left) {
			m_store.hash_pending--;
			post_aborted(std::move(j.handler), lt::piece_index_t(j.piece));
		}
		if (m_hasher.joinable())
			m_hasher.join();
	}

	void post_aborted(std::function<void(lt::piece_index_t, lt::sha1_hash const &,
			lt::storage_error const &)> handler, lt::piece_index_t piece)
	{
		lt::post(m_ioc, [handler, piece] {
			lt::storage_error err;
			err.ec = boost::asio::error::operation_aborted;
			err.operation = lt::operation_t::file_read;
			handler(piece, lt::sha1_hash(), err);
		});
	}
	void submit_jobs() override {}
	void settings_updated() override {}

private:
	void hasher_main()
	{
		for (;;) {
			hash_job j;
			{
				std::unique_lock<std::mutex> g(m_hq_mu);
				m_hq_cv.wait(g, [this] { return m_hq_stop || !m_hq.empty(); });
				if (m_hq.empty())
					return;
				j = std::move(m_hq.front());
				m_hq.pop_front();
			}
			run_hash(j);
			m_store.hash_pending--;
		}
	}

	void run_hash(hash_job &j)
	{
		tstore &ts = *j.ts;
		std::vector<char *> blocks;
		bool complete = false;
		int psize = 0;
		{
			std::lock_guard<std::mutex> g(m_store.mu);
			auto it = ts.pieces.find(j.piece);
			if (it != ts.pieces.end() && j.gen == ts.gen && !it->second.doomed) {
				blocks = it->second.blocks;
				complete = it->second.have_blocks == int(blocks.size());
				it->second.busy++;
			}
			psize = ts.piece_size(j.piece);
		}
		lt::hasher h1;
		static const char zeros[BLOCK] = {};
		for (size_t b = 0; b * BLOCK < size_t(psize); b++) {
			int len = std::min(BLOCK, psize - int(b) * BLOCK);
			const char *d = b < blocks.size() && blocks[b] ? blocks[b] : zeros;
			h1.update(d, len);
			if (b < size_t(j.v2.size()))
				j.v2[std::ptrdiff_t(b)] = lt::hasher256(d, len).final();
		}
		lt::sha1_hash digest = h1.final();
		{
			std::lock_guard<std::mutex> g(m_store.mu);
			auto it = ts.pieces.find(j.piece);
			if (it != ts.pieces.end() && !blocks.empty()) {
				piece_slot &sl = it->second;
				sl.busy--;
				bool ok = complete && ts.hashes.size() == size_t(ts.num_pieces) * 20
					&& memcmp(ts.hashes.data() + size_t(j.piece) * 20, digest.data(), 20) == 0;
				if (sl.doomed && !sl.busy) {
					m_store.free_slot_blocks(&ts, j.piece, sl);
					ts.pieces.erase(it);
				} else if (ok && j.gen == ts.gen) {
					sl.verified = true;
					ts.lt_have[size_t(j.piece)] = 1;
					ts.suspect[size_t(j.piece)] = 0;
					m_store.lru_touch(&ts, j.piece, sl);
				} else if (complete && j.gen == ts.gen && !ts.hashes.empty()) {
					m_store.hash_failures++;
					ts.suspect[size_t(j.piece)] = 1;
				}
				if (ts.waiters)
					ts.cv.notify_all();
			}
		}
		auto handler = std::move(j.handler);
		int piece = j.piece;
		lt::post(m_ioc, [handler, piece, digest] {
			handler(lt::piece_index_t(piece), digest, lt::storage_error());
		});
	}

	void stop_hasher()
	{
		{
			std::lock_guard<std::mutex> g(m_hq_mu);
			m_hq_stop = true;
			m_hq_cv.notify_all();
		}
		if (m_hasher.joinable())
			m_hasher.join();
	}

	lt::io_context &m_ioc;
	piece_store &m_store;
	std::mutex m_slots_mu;
	lt::aux::vector<storage_slot, lt::storage_index_t> m_slots;
	std::vector<lt::storage_index_t> m_free;
	std::mutex m_hq_mu;
	std::condition_variable m_hq_cv;
	std::deque<hash_job> m_hq;
	bool m_hq_stop = false;
	std::thread m_hasher;
};

} /* namespace */

std::unique_ptr<lt::disk_interface> make_ram_disk_io(lt::io_context &ioc, piece_store &st)
{
	return std::unique_ptr<lt::disk_interface>(new ram_disk_io(ioc, st));
}

} /* namespace gs_bt */
