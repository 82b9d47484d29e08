/* bt_plugins.cc - the shim's libtorrent plugins: blame_guard (a piece that failed its hash
 * check with several senders does not cost the honest ones their trust) and tcp_first
 * (dial TCP first, uTP after a failed TCP dial). Owns the dial state of the engine's life.
 * Threads: libtorrent's network thread only (plugin hooks). */
#include <libtorrent/address.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/peer_connection.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_list.hpp>
#include <libtorrent/socket.hpp>
#include <libtorrent/torrent.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_peer.hpp>

#include "bt_int.h"

namespace gs_bt {
namespace {

/* ------------------------------------------------------------------------------------ */
/* Blame for failed pieces                                                               */

/* libtorrent 2.0.8 charges every peer that sent a block of a piece failing its hash
 * check 2 trust points and bans it at -7 (torrent::piece_failed). torrent_peer's
 * trust_points is a 4-bit signed field that piece_passed clamps at 8, which wraps to -8:
 * an honest peer that delivered 8 good pieces is one shared failure away from a ban, and
 * a few shared failures ban it anyway. Streaming deadlines (time-critical requests)
 * spread every piece over all peers, so one peer sending corrupt data got the honest
 * ones banned too (engine_shield: 0 peers left, reads timed out). Upstream later removed
 * trust points for this reason. Here, just before libtorrent charges a peer for a piece
 * that several connections sent (the store knows the sender of each block), its trust
 * is lifted to 0: the failure still costs 2 points and parole (whole pieces from one
 * peer only), so the corrupting peer soon fails a piece alone and libtorrent's
 * single-sender rule bans it, or smart_ban does once the piece passes (see
 * copy_blocks). A piece with one sender is left to libtorrent: that peer is banned.
 * peer_plugin::on_piece_failed runs on the network thread, in piece_failed's loop,
 * before that peer's trust is charged; torrent_peer and peer_connection come from
 * libtorrent's installed 2.0.8 headers. */
struct blame_peer final : lt::peer_plugin {
	blame_peer(piece_store &st, std::shared_ptr<tstore> ts, lt::peer_connection_handle const &pc)
		: m_st(st), m_ts(std::move(ts)), m_pc(pc) {}

	void on_piece_failed(lt::piece_index_t piece) override
	{
		int senders;
		{
			std::lock_guard<std::mutex> g(m_st.mu);
			senders = m_ts->senders_of(int(piece));
		}
		if (senders < 2)
			return;
		std::shared_ptr<lt::peer_connection> pc = m_pc.native_handle();
		lt::torrent_peer *tp = pc ? pc->peer_info_struct() : nullptr;
		if (tp && tp->trust_points < 0)
			tp->trust_points = 0;
	}

private:
	piece_store &m_st;
	std::shared_ptr<tstore> m_ts;
	lt::peer_connection_handle m_pc;
};

struct blame_guard final : lt::torrent_plugin {
	blame_guard(piece_store &st, std::shared_ptr<tstore> ts) : m_st(st), m_ts(std::move(ts)) {}
	std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const &pc) override
	{
		return std::make_shared<blame_peer>(m_st, m_ts, pc);
	}

private:
	piece_store &m_st;
	std::shared_ptr<tstore> m_ts;
};

/* ------------------------------------------------------------------------------------ */
/* Dialling: TCP first, uTP when TCP failed                                              */

/* libtorrent 2.0.8 dials every new peer over uTP first (torrent_peer::supports_utp starts
 * true) and falls back to TCP only when the uTP connect times out. A peer that accepts
 * TCP only and drops the uTP SYN (a seeder with uTP off, a firewall that drops UDP) cost
 * 4-5 s before the first byte, on every wake and after every restart (measured, B3:
 * first 64 KiB p50 3.9 s after add, 4.9 s after a restart; magnet add 4.6 s; 60-90 ms
 * against a seeder that answers uTP). Choice, by measurement and for a streaming client:
 *  - TCP first: a refused TCP connect fails in one round trip; on loopback libtorrent's
 *    uTP moves ~7 MB/s against ~600 MB/s over TCP (raw python3-libtorrent, 64 MiB), and
 *    uTP's LEDBAT congestion control deliberately yields to every other flow, which is
 *    right for a background download and wrong for a player that needs the bitrate now.
 *  - uTP stays on: a peer whose TCP dial timed out or was closed before the handshake
 *    is dialled over uTP next (libtorrent's own back-off, min_reconnect_time x (failures
 *    + 1)), and first from then on if uTP worked (tcp_first_state); a peer that
 *    confirmed uTP keeps it; incoming uTP is accepted as before.
 *  Rejected: both at once (libtorrent keeps one connection per peer entry, the second
 *  dial would be a duplicate it drops); a shorter utp_connect_timeout (still ~0.5 s per
 *  TCP-only peer on each wake, and lost uTP peers on long round trips); remembering the
 *  transport per persisted peer (TCP first needs nothing remembered for peers that take
 *  TCP, which is nearly all; a uTP-only peer costs one refused TCP connect).
 * libtorrent has no setting for this; the flag lives in torrent_peer (peer_list, on the
 * network thread). on_add_peer runs in torrent::add_peer right after the entry exists
 * and before any connect; the peer list is a protected member of torrent_hot_members, a
 * private base of torrent (installed 2.0.8 headers, all inline: no unexported symbol). */
struct peer_list_of final : lt::torrent_hot_members {
	static lt::peer_list *get(lt::torrent *t)
	{
		/* a C-style cast may name a private base; the member through this derived type */
		auto *hot = (lt::torrent_hot_members *)t;
		return (hot->*(&peer_list_of::m_peer_list)).get();
	}
};

bool peer_at(const lt::torrent_peer *p, const lt::address &a)
{
	if (p->is_i2p_addr)
		return false;
	if (p->is_v6_addr)
		return a.is_v6() && lt::address_v6(static_cast<const lt::ipv6_peer *>(p)->addr) == a.to_v6();
	return a.is_v4() && static_cast<const lt::ipv4_peer *>(p)->addr == a.to_v4();
}

/* Which peers to dial over uTP first, for the engine's life (a wake re-adds the torrent
 * and libtorrent forgets everything it learnt about its peers). A peer lands in tcp_failed
 * when a TCP dial timed out or was closed before the BitTorrent handshake (a peer that
 * takes uTP only: libtorrent with incoming TCP off accepts and closes at once; or TCP
 * blocked on the way), and in utp_first once a uTP dial then reached the handshake. A
 * refused TCP connect is a peer that is down (nothing listens), not a uTP-only one:
 * counted as neither (measured, engine_reconnect: a restarting seeder marked uTP was
 * dialled over uTP when it came back TCP-only, 10 s instead of < 8). Network thread. */
struct tcp_first_state {
	std::set<lt::tcp::endpoint> tcp_failed, utp_first;
	void handshake(lt::tcp::endpoint const &ep, bool utp)
	{
		if (!utp) {
			tcp_failed.erase(ep);
			utp_first.erase(ep);
		} else if (tcp_failed.count(ep) && utp_first.size() < 4096) {
			utp_first.insert(ep);
		}
	}
	void tcp_failure(lt::tcp::endpoint const &ep)
	{
		if (tcp_failed.size() < 4096)
			tcp_failed.insert(ep);
	}
};

/* The TCP dial got no peer: timed out, or the remote end closed or reset it before the
 * handshake. Not a refusal (see tcp_first_state) and not our own aborts (a torrent put to
 * sleep or reloaded while dialling). */
bool tcp_dial_failed(lt::error_code const &ec)
{
	namespace ae = boost::asio::error;
	return ec == ae::connection_reset || ec == ae::eof || ec == ae::timed_out
		|| ec == ae::host_unreachable || ec == ae::network_unreachable
		|| ec == lt::errors::timed_out || ec == lt::errors::timed_out_no_handshake;
}

struct tcp_first_peer final : lt::peer_plugin {
	tcp_first_peer(std::shared_ptr<tcp_first_state> st, lt::peer_connection_handle const &pc,
			bool utp)
		: m_st(std::move(st)), m_pc(pc), m_utp(utp) {}
	bool on_handshake(lt::span<char const>) override
	{
		m_handshake = true;
		m_st->handshake(m_pc.remote(), m_utp);
		return true;
	}
	void on_disconnect(lt::error_code const &ec) override
	{
		if (m_handshake || m_utp || !tcp_dial_failed(ec))
			return;
		/* the next attempt to this peer goes over uTP */
		std::shared_ptr<lt::peer_connection> pc = m_pc.native_handle();
		lt::torrent_peer *tp = pc ? pc->peer_info_struct() : nullptr;
		if (tp)
			tp->supports_utp = true;
		m_st->tcp_failure(m_pc.remote());
	}

private:
	std::shared_ptr<tcp_first_state> m_st;
	lt::peer_connection_handle m_pc;
	bool m_utp;
	bool m_handshake = false;
};

struct tcp_first_torrent final : lt::torrent_plugin {
	tcp_first_torrent(std::shared_ptr<tcp_first_state> st, lt::torrent *t)
		: m_st(std::move(st)), m_t(t) {}
	void on_add_peer(lt::tcp::endpoint const &ep, lt::peer_source_flags_t, lt::add_peer_flags_t fl) override
	{
		if (!m_t || (fl & lt::torrent_plugin::filtered))
			return;
		lt::peer_list *pl = peer_list_of::get(m_t);
		if (!pl)
			return;
		bool utp = m_st->utp_first.count(ep) > 0;
		for (lt::torrent_peer *p : *pl)
			/* never dialled, or every dial so far worked: TCP first (failcount > 0 with
			 * uTP on is our fallback after a failed TCP connect, left alone) */
			if (peer_at(p, ep.address()) && !p->connection && p->failcount == 0
					&& !p->confirmed_supports_utp)
				p->supports_utp = utp;
	}
	std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const &pc) override
	{
		if (!pc.is_outgoing())
			return nullptr;
		std::shared_ptr<lt::peer_connection> c = pc.native_handle();
		lt::torrent_peer *tp = c ? c->peer_info_struct() : nullptr;
		if (!tp)
			return nullptr;
		/* what torrent::connect_to_peer just chose (it reads these flags) */
		return std::make_shared<tcp_first_peer>(m_st, pc,
			tp->supports_utp || tp->confirmed_supports_utp);
	}

private:
	std::shared_ptr<tcp_first_state> m_st;
	lt::torrent *m_t;                /* owns this plugin */
};

struct tcp_first final : lt::plugin {
	std::shared_ptr<lt::torrent_plugin> new_torrent(lt::torrent_handle const &h, lt::client_data_t) override
	{
		return std::make_shared<tcp_first_torrent>(m_st, h.native_handle().get());
	}

private:
	std::shared_ptr<tcp_first_state> m_st = std::make_shared<tcp_first_state>();
};

} /* namespace */

std::shared_ptr<lt::torrent_plugin> make_blame_guard(piece_store &st, std::shared_ptr<tstore> ts)
{
	return std::make_shared<blame_guard>(st, std::move(ts));
}

std::shared_ptr<lt::plugin> make_tcp_first()
{
	return std::make_shared<tcp_first>();
}

} /* namespace gs_bt */
