/* torrents.c - engine <-> catalog bookkeeping (see torrents.h).
 * Registration with the engine is lazy: a catalogued torrent costs nothing in the engine
 * until a reader first acquires it; then its saved info dict is handed to bt_engine_load
 * (no metadata fetch) and the handle is remembered in `reg`, a chained hash map keyed by
 * info-hash under `lock`. The lock is never held across engine calls that block. */
#include "torrents.h"

#include "log.h"
#include "mem.h"
#include "torrent_fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_BUCKETS 4096

struct reg_entry {
	char hash[41];
	bt_torrent *bt;
	unsigned users;                 /* acquired and not released */
	bool removed;                   /* removed while in use: forgotten by the last release */
	struct reg_entry *next;
};

struct gs_torrents {
	bt_engine *engine;
	gs_catalog *catalog;
	atomic_int metadata_timeout_s;  /* bounds an add by URL too (live setting) */
	pthread_mutex_t lock;           /* guards reg */
	struct reg_entry *reg[REG_BUCKETS];
};

static unsigned reg_bucket(const char *hash)
{
	/* Info-hashes are uniformly random: their first hex digits are a fine hash. */
	return (unsigned)strtoul((char[9]){ hash[0], hash[1], hash[2], hash[3], hash[4],
					    hash[5], hash[6], hash[7], 0 }, NULL, 16) % REG_BUCKETS;
}

static struct reg_entry *reg_entry_of(gs_torrents *t, const char *hash)
{
	for (struct reg_entry *e = t->reg[reg_bucket(hash)]; e; e = e->next)
		if (strcmp(e->hash, hash) == 0)
			return e;
	return NULL;
}

static bt_torrent *reg_find(gs_torrents *t, const char *hash)
{
	struct reg_entry *e = reg_entry_of(t, hash);

	return e ? e->bt : NULL;
}

static void reg_put(gs_torrents *t, const char *hash, bt_torrent *bt)
{
	unsigned b = reg_bucket(hash);
	struct reg_entry *e = xcalloc(1, sizeof *e);

	snprintf(e->hash, sizeof e->hash, "%s", hash);
	e->bt = bt;
	e->next = t->reg[b];
	t->reg[b] = e;
}

static void reg_del(gs_torrents *t, const char *hash)
{
	for (struct reg_entry **p = &t->reg[reg_bucket(hash)]; *p; p = &(*p)->next)
		if (strcmp((*p)->hash, hash) == 0) {
			struct reg_entry *e = *p;
			*p = e->next;
			free(e);
			return;
		}
}

void torrents_settings_from_config(const struct gs_config *cfg, bt_settings *s)
{
	const struct gs_engine_settings *e = &cfg->engine;
	int port = e->PeersListenPort ? (int)e->PeersListenPort : 6881;

	bt_settings_default(s);
	if (e->EnableIPv6)
		snprintf(s->listen_interfaces, sizeof s->listen_interfaces,
			 "0.0.0.0:%d,[::]:%d", port, port);
	else
		snprintf(s->listen_interfaces, sizeof s->listen_interfaces, "0.0.0.0:%d", port);
	s->connections_limit = (int)e->ConnectionsLimit;
	s->enable_dht = !e->DisableDHT;
	s->enable_pex = !e->DisablePEX;
	s->enable_lsd = !e->DisableLSD;
	s->enable_upnp = !e->DisableUPNP;
	s->enable_natpmp = 0;           /* NAT-PMP is ours (libnatpmp), not libtorrent's */
	s->enable_utp_out = s->enable_utp_in = !e->DisableUTP;
	s->enable_tcp_out = s->enable_tcp_in = !e->DisableTCP;
	s->encryption = e->ForceEncrypt ? 2 : 1;
	s->download_rate_limit = (int)(e->DownloadRateLimit * 1024);
	s->upload_rate_limit = e->DisableUpload ? 1 : (int)(e->UploadRateLimit * 1024);
	s->cache_size = e->CacheSize;
	s->responsive = e->ResponsiveMode;
	s->strict_period_s = (int)e->StrictModeSeconds;
	s->read_timeout_ms = (int)(e->ReadTimeoutSeconds * 1000);
	s->readahead_bytes = e->CacheSize * e->ReaderReadAHead / 100 / 2;
	s->disconnect_timeout_s = (int)e->TorrentDisconnectTimeout;
	s->fast_drop_s = (int)e->FastDropSeconds;
	s->metadata_timeout_s = (int)e->MetadataTimeoutSeconds;
}

int torrents_open(const struct gs_config *cfg, const char *state_dir, gs_torrents **out)
{
	gs_torrents *t = xcalloc(1, sizeof *t);
	bt_settings s;
	char *dir = xasprintf("%s/catalog", state_dir);
	int rc;

	pthread_mutex_init(&t->lock, NULL);
	rc = catalog_open(dir, &t->catalog);
	if (rc < 0) {
		log_error("catalog %s: cannot open: %s", dir, strerror(-rc));
		goto err_catalog;
	}
	torrents_settings_from_config(cfg, &s);
	rc = bt_engine_create(&s, &t->engine);
	if (rc < 0) {
		log_error("torrent engine: cannot start (listen %s): %s", s.listen_interfaces,
			  strerror(-rc));
		goto err_engine;
	}
	atomic_store(&t->metadata_timeout_s, s.metadata_timeout_s);
	log_info("catalog: %zu torrents (all asleep)", catalog_count(t->catalog));
	free(dir);
	*out = t;
	return 0;
err_engine:
	catalog_close(t->catalog);
err_catalog:
	pthread_mutex_destroy(&t->lock);
	free(dir);
	free(t);
	return rc;
}

void torrents_close(gs_torrents *t)
{
	if (!t)
		return;
	bt_engine_destroy(t->engine);
	catalog_close(t->catalog);
	for (size_t i = 0; i < REG_BUCKETS; i++)
		while (t->reg[i]) {
			struct reg_entry *e = t->reg[i];
			t->reg[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

gs_catalog *torrents_catalog(gs_torrents *t)
{
	return t->catalog;
}

bt_engine *torrents_engine(gs_torrents *t)
{
	return t->engine;
}

int torrents_apply_settings(gs_torrents *t, const struct gs_config *cfg)
{
	bt_settings s;

	torrents_settings_from_config(cfg, &s);
	int rc = bt_engine_apply_settings(t->engine, &s);
	if (rc == 0)
		atomic_store(&t->metadata_timeout_s, s.metadata_timeout_s);
	return rc;
}

/* Builds the catalog record for a freshly added torrent. */
static void record_from_info(cat_record *r, const bt_info *in, const struct torrents_meta *m)
{
	memset(r, 0, sizeof *r);
	snprintf(r->hash, sizeof r->hash, "%s", in->hash);
	r->title = (char *)(m && m->title ? m->title : in->name);
	r->category = m ? (enum cat_category)m->category : CAT_MOVIE;
	r->imdb = m ? (char *)m->imdb : NULL;
	r->tmdb = m ? m->tmdb : 0;
	r->poster = m ? (char *)m->poster : NULL;
	r->data = m ? (char *)m->data : NULL;
	r->info = in->info_dict;
	r->info_len = in->info_dict_len;
	r->name = in->name;
	r->piece_length = (uint32_t)in->piece_length;
	r->n_files = (size_t)in->num_files;
	r->files = xcalloc(r->n_files, sizeof *r->files);
	for (size_t i = 0; i < r->n_files; i++) {
		r->files[i].path = in->files[i].path;
		r->files[i].size = (uint64_t)in->files[i].size;
	}
	if (m && m->files && m->n_files) {
		r->n_chosen = m->n_files;
		r->chosen = xcalloc(r->n_chosen, sizeof *r->chosen);
		for (size_t i = 0; i < m->n_files; i++)
			r->chosen[i].index = (uint32_t)m->files[i];
	}
	r->peers = in->peers;
	r->n_peers = in->num_peers < (int)CAT_MAX_PEERS ? (size_t)in->num_peers : CAT_MAX_PEERS;
}

int torrents_add(gs_torrents *t, const char *link, const void *buf, size_t len,
		 const char *const *extra_peers, const struct torrents_meta *meta,
		 char hash_out[41], char *err, size_t errlen)
{
	bt_torrent *bt = NULL;
	bt_info *info = NULL;
	cat_record rec;
	int rc;

	if (buf)
		rc = bt_engine_add_torrent_bytes(t->engine, buf, len, extra_peers, &bt, err, errlen);
	else
		rc = torrent_fetch_add(t->engine, link, atomic_load(&t->metadata_timeout_s),
				       extra_peers, &bt, err, errlen);
	if (rc < 0)
		return rc;
	rc = bt_torrent_get_info(bt, &info);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the torrent's metadata: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; meta && meta->files && i < meta->n_files; i++)
		if (meta->files[i] < 0 || meta->files[i] >= info->num_files) {
			snprintf(err, errlen, "file index %d out of range (the torrent has %d files)",
				 meta->files[i], info->num_files);
			rc = -EINVAL;
			goto out;
		}
	pthread_mutex_lock(&t->lock);
	struct reg_entry *old = reg_entry_of(t, info->hash);
	bool leaving = old && old->removed;
	pthread_mutex_unlock(&t->lock);
	if (leaving) {
		snprintf(err, errlen, "torrent %s was removed and a reader still has it open; "
			 "add it again once that reader has closed it", info->hash);
		rc = -EBUSY;
		goto out;
	}
	record_from_info(&rec, info, meta);
	rc = catalog_put(t->catalog, &rec);
	free(rec.files);
	free(rec.chosen);
	if (rc < 0) {
		snprintf(err, errlen, "cannot store the catalog record: %s", strerror(-rc));
		/* A storage failure is the server's, never the client's: EROFS/EACCES would map
		 * to 403 and blame the request, so they become EIO (500); a full disk is
		 * ENOSPC (507). The message keeps the real cause; a record refused as invalid
		 * keeps its errno (4xx). */
		if (rc == -EDQUOT)
			rc = -ENOSPC;
		else if (rc == -EROFS || rc == -EACCES || rc == -EPERM)
			rc = -EIO;
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	if (!reg_find(t, info->hash))
		reg_put(t, info->hash, bt);
	pthread_mutex_unlock(&t->lock);
	snprintf(hash_out, 41, "%s", info->hash);
	log_info("added %s \"%s\" (%d files)", info->hash, meta && meta->title ? meta->title :
		 info->name, info->num_files);
out:
	bt_info_free(info);
	return rc;
}

int torrents_remove(gs_torrents *t, const char *hash)
{
	char h[41];
	bt_torrent *abort = NULL, *forget = NULL;
	int rc = cat_hash_normalize(hash, h);

	if (rc < 0)
		return rc;
	/* The catalog first: once the record is gone nothing can open the title again, and a
	 * failure to remove it leaves everything as it was. */
	rc = catalog_remove(t->catalog, h);
	pthread_mutex_lock(&t->lock);
	struct reg_entry *e = reg_entry_of(t, h);
	if (rc == -ENOENT && e && !e->removed)
		rc = 0;                 /* registered, not catalogued: still take it out */
	if (rc == 0 && e && !e->removed) {
		if (e->users) {
			/* readers hold it (a player, a pump, a filler): their reads fail now
			 * and the last release forgets it (unuse) */
			e->removed = true;
			abort = e->bt;
		} else {
			forget = e->bt;
			reg_del(t, h);
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (abort) {
		bt_torrent_abort(abort);
		log_info("removed %s: readers still open get an error; it leaves the engine "
			 "when the last one closes", h);
	}
	if (forget && bt_torrent_forget(forget) < 0)
		log_warn("removed %s: the engine could not forget it", h);
	return rc;
}

/* The engine handle for hash, registering it from the catalog's info dict if needed;
 * counts the caller as a user (removal waits for torrents_release). */
static int registered(gs_torrents *t, const char *h, bt_torrent **out)
{
	unsigned char *info = NULL;
	size_t len = 0;
	cat_record *rec = NULL;
	char err[256];
	int rc;

	pthread_mutex_lock(&t->lock);
	struct reg_entry *e = reg_entry_of(t, h);
	if (e) {
		rc = e->removed ? -ENOENT : 0;
		if (rc == 0) {
			e->users++;
			*out = e->bt;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (e)
		return rc;
	rc = catalog_get(t->catalog, h, &rec);
	if (rc < 0)
		return rc;
	rc = catalog_get_info(t->catalog, h, &info, &len);
	if (rc < 0)
		goto out;
	rc = bt_engine_load(t->engine, info, len, (const char *const *)rec->peers, NULL, out,
			    err, sizeof err);
	if (rc < 0) {
		log_warn("torrent %s: cannot load its saved info dict: %s", h, err);
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	e = reg_entry_of(t, h);
	if (!e) {
		reg_put(t, h, *out);
		e = reg_entry_of(t, h);
	}
	if (e->removed) {
		rc = -ENOENT;   /* removed while we loaded it */
	} else {
		*out = e->bt;   /* another thread may have registered it meanwhile */
		e->users++;
	}
	pthread_mutex_unlock(&t->lock);
out:
	free(info);
	cat_record_free(rec);
	return rc;
}

static void unuse(gs_torrents *t, const char *hash)
{
	bt_torrent *forget = NULL;
	char h[41];

	snprintf(h, sizeof h, "%s", hash);     /* hash may live in the torrent we forget */
	pthread_mutex_lock(&t->lock);
	struct reg_entry *e = reg_entry_of(t, h);
	if (e && e->users)
		e->users--;
	if (e && e->removed && !e->users) {
		forget = e->bt;
		reg_del(t, h);
	}
	pthread_mutex_unlock(&t->lock);
	if (forget && bt_torrent_forget(forget) < 0)
		log_warn("removed %s: the engine could not forget it", h);
}

int torrents_acquire(gs_torrents *t, const char *hash, bt_torrent **out)
{
	char h[41];
	bt_torrent *bt;
	int rc = cat_hash_normalize(hash, h);

	if (rc < 0)
		return rc;
	rc = registered(t, h, &bt);
	if (rc < 0)
		return rc;
	rc = bt_torrent_open(bt, NULL);
	if (rc < 0) {
		unuse(t, h);
		return rc;
	}
	*out = bt;
	return 0;
}

void torrents_release(gs_torrents *t, bt_torrent *bt)
{
	bt_torrent_close(bt);
	unuse(t, bt_torrent_hash(bt));
}

bt_torrent *torrents_peek(gs_torrents *t, const char *hash)
{
	char h[41];
	bt_torrent *bt = NULL;

	if (cat_hash_normalize(hash, h) < 0)
		return NULL;
	pthread_mutex_lock(&t->lock);
	bt = reg_find(t, h);
	pthread_mutex_unlock(&t->lock);
	return bt;
}
