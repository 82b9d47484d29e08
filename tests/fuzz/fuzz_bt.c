/* fuzz_bt.c - magnet links and .torrent files through the libtorrent shim
 * (server/bt_shim.cc). Input: a flag byte, then the link or the file. Flag bit 0 clear:
 * a link - bt_link_classify, bt_link_parse (what bt_engine_add does before it asks peers:
 * parse_magnet_uri and the v1 check; adding would wait for a swarm) and
 * bt_parse_endpoint. Set: the bytes of a .torrent given to bt_engine_add_torrent_bytes of
 * one engine started at the first input (no listening socket, DHT/LSD/UPnP/NAT-PMP off;
 * torrents stay asleep, so nothing touches the network); what it accepts is read back
 * (bt_torrent_get_info), registered again from its info dict as the catalog does
 * (bt_engine_load must give the same torrent), its files looked up by path, named by the
 * library (server/library.c) and forgotten. */
#include "fuzz.h"

#include "bt.h"
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bt_engine *engine(void)
{
	static bt_engine *e;
	bt_settings s;

	if (e)
		return e;
	bt_settings_default(&s);
	s.listen_interfaces[0] = '\0';
	s.enable_dht = s.enable_pex = s.enable_lsd = s.enable_upnp = s.enable_natpmp = 0;
	s.enable_utp_out = s.enable_utp_in = s.enable_tcp_out = s.enable_tcp_in = 0;
	s.metadata_timeout_s = 1;
	if (bt_engine_create(&s, &e) < 0)
		abort();
	return e;
}

static void fuzz_link(const uint8_t *data, size_t size)
{
	char *link = fuzz_strndup(data, size);
	char err[256] = "", host[64];
	bt_info *info = NULL;
	int port, rc;

	(void)bt_link_classify(link);
	rc = bt_link_parse(link, &info, err, sizeof err);
	if (rc == 0) {
		char norm[41];
		if (cat_hash_normalize(info->hash, norm) < 0 || strcmp(norm, info->hash) != 0)
			abort();
		for (int i = 0; i < info->num_peers; i++)
			if (bt_parse_endpoint(info->peers[i], host, sizeof host, &port) < 0)
				abort();        /* a peer the magnet gave that we cannot dial */
		bt_info_free(info);
	} else if (!err[0] && rc != -EIO) {
		abort();                /* refused without a reason */
	}
	if (bt_parse_endpoint(link, host, sizeof host, &port) == 0 &&
	    (port < 0 || port > 65535 || !memchr(host, '\0', sizeof host)))
		abort();
	free(link);
}

static void fuzz_torrent(const uint8_t *data, size_t size)
{
	bt_engine *e = engine();
	bt_torrent *t = NULL, *again = NULL;
	bt_info *info = NULL;
	char err[256] = "";
	int rc;

	rc = bt_engine_add_torrent_bytes(e, data, size, NULL, &t, err, sizeof err);
	if (rc < 0) {
		if (!err[0] && rc != -EIO)
			abort();
		return;
	}
	if (bt_torrent_get_info(t, &info) < 0 || info->num_files <= 0 || !info->info_dict)
		abort();
	if (strcmp(bt_torrent_hash(t), info->hash) != 0)
		abort();
	if (bt_engine_load(e, info->info_dict, info->info_dict_len, NULL, NULL, &again, err,
			   sizeof err) < 0 || again != t)
		abort();
	for (int i = 0; i < info->num_files && i < 64; i++) {
		int f = bt_torrent_find_file(t, info->files[i].path);
		if (f < 0)
			abort();
	}

	/* the record torrents_add would store, through the library's naming */
	cat_record r = { .info = info->info_dict, .info_len = info->info_dict_len,
			 .name = info->name, .title = info->name, .added = 1 };
	snprintf(r.hash, sizeof r.hash, "%s", info->hash);
	r.category = (size & 1) ? CAT_TV : CAT_MOVIE;
	r.n_files = (size_t)info->num_files;
	r.files = xcalloc(r.n_files, sizeof *r.files);
	for (size_t i = 0; i < r.n_files; i++) {
		r.files[i].path = info->files[i].path;
		r.files[i].size = (uint64_t)info->files[i].size;
	}
	static gs_library *lib;         /* regexes compiled once; emptied after each input */
	if (!lib && library_open(NULL, &lib) < 0)
		abort();
	(void)library_put(lib, &r);
	library_remove(lib, r.hash);
	if (library_file_count(lib) != 0)
		abort();
	free(r.files);
	bt_info_free(info);
	if (bt_torrent_forget(t) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;

	if (!once) {
		once = 1;
		fuzz_logs_off();
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_torrent(data + 1, size - 1);
	else
		fuzz_link(data + 1, size - 1);
	return 0;
}
