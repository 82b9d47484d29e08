/* bt_seeder.cc - making a .torrent of files on disk (bt_make_torrent) and seeding them from
 * disk with a plain libtorrent session of its own (bt_seeder_*, for `gostream seed` and the
 * tests' swarms). Owns that session; shares nothing with the engine's.
 * Threads: the caller's; libtorrent's own inside the session. */
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <cerrno>
#include <cstring>
#include <thread>

#include <limits.h>
#include <stdlib.h>

extern "C" {
#include "bt.h"
}
#include "bt_int.h"

using gs_bt::now_ms;
using gs_bt::set_err;
using gs_bt::fail_current;

extern "C" {

/* ---- making and seeding ---- */

int bt_make_torrent(const char *path, int piece_size, void **out, size_t *out_len,
		char *err, size_t errlen) noexcept
{
	try {
		char real[PATH_MAX];
		if (!realpath(path, real)) {
			int rc = -errno;
			set_err(err, errlen, "%s: %s", path, strerror(errno));
			return rc;
		}
		std::string full = real;
		std::string parent = full.substr(0, full.find_last_of('/'));
		if (parent.empty())
			parent = "/";
		lt::file_storage fs;
		lt::add_files(fs, full);
		if (fs.num_files() == 0 || fs.total_size() == 0) {
			set_err(err, errlen, "%s: no data to make a torrent of", path);
			return -EINVAL;
		}
		lt::create_torrent ct(fs, piece_size, lt::create_torrent::v1_only);
		ct.set_creator("gostream");
		lt::error_code ec;
		lt::set_piece_hashes(ct, parent, ec);
		if (ec) {
			set_err(err, errlen, "hashing %s: %s", path, ec.message().c_str());
			return -EIO;
		}
		std::vector<char> b;
		lt::bencode(std::back_inserter(b), ct.generate());
		*out = malloc(b.size());
		if (!*out)
			std::abort();
		memcpy(*out, b.data(), b.size());
		*out_len = b.size();
		return 0;
	} catch (...) {
		return fail_current(err, errlen, "");
	}
}

} /* extern "C" */

struct bt_seeder {
	std::unique_ptr<lt::session> ses;
};

extern "C" {

int bt_seeder_start(const char *listen, bt_seeder **out, char *err, size_t errlen) noexcept
{
	try {
		lt::settings_pack p;
		p.set_str(lt::settings_pack::listen_interfaces, listen);
		p.set_bool(lt::settings_pack::enable_dht, false);
		p.set_bool(lt::settings_pack::enable_lsd, false);
		p.set_bool(lt::settings_pack::enable_upnp, false);
		p.set_bool(lt::settings_pack::enable_natpmp, false);
		p.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
		p.set_int(lt::settings_pack::alert_mask, int(lt::alert_category::error));
		p.set_str(lt::settings_pack::peer_fingerprint, "-GS0100-");
		auto *s = new bt_seeder;
		s->ses.reset(new lt::session(std::move(p)));
		*out = s;
		return 0;
	} catch (...) {
		return fail_current(err, errlen, "seeder: ");
	}
}

int bt_seeder_add(bt_seeder *s, const void *torrent, size_t len, const char *save_path,
		char *err, size_t errlen) noexcept
{
	try {
		lt::add_torrent_params atp;
		atp.ti = std::make_shared<lt::torrent_info>(
			lt::span<char const>(static_cast<const char *>(torrent), std::ptrdiff_t(len)), lt::from_span);
		atp.save_path = save_path;
		/* seed_mode: pieces are checked on first request instead of a full check now */
		atp.flags |= lt::torrent_flags::seed_mode;
		atp.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
		lt::error_code ec;
		lt::torrent_handle h = s->ses->add_torrent(std::move(atp), ec);
		if (ec) {
			set_err(err, errlen, "seeder add: %s", ec.message().c_str());
			return -EIO;
		}
		/* A torrent still in checking_resume_data closes incoming connections, and the
		 * peer then waits a minute before it tries again: return once it seeds. */
		int64_t deadline = now_ms() + 30000;
		while (now_ms() < deadline) {
			lt::torrent_status st = h.status();
			if (st.errc) {
				set_err(err, errlen, "seeder: %s", st.errc.message().c_str());
				return -EIO;
			}
			if (st.state == lt::torrent_status::seeding)
				return 0;
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
		set_err(err, errlen, "seeder: torrent not seeding after 30 s");
		return -ETIMEDOUT;
	} catch (lt::system_error const &ex) {
		set_err(err, errlen, "seeder: not a valid .torrent: %s", ex.code().message().c_str());
		return -EINVAL;
	} catch (...) {
		return fail_current(err, errlen, "seeder: ");
	}
}

int bt_seeder_port(bt_seeder *s) noexcept
{
	try {

		return s->ses->listen_port();
	} catch (...) {
		return -EIO;
	}
}

void bt_seeder_stop(bt_seeder *s) noexcept
{
	try {
		delete s;
	} catch (...) {
	}
}

} /* extern "C" */
