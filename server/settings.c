/* settings.c - POST /settings's model and its file (see settings.h).
 * A setting is a CFG_LIVE field of the config table, named by the part of its key after
 * the last '.' ("engine.CacheSize" -> "CacheSize", GoStorm's name). A change is checked
 * on a scratch config with the table's own rules (cfg_set_json), written to disk, then
 * copied into the daemon's config under `lock` and handed to the engine, which keeps
 * every torrent up (bt_engine_apply_settings). settings.json holds only the names ever
 * set through the API, so a later edit of config.json still shows for the others; "def"
 * goes back to the values the daemon started with before the file (config.json's, else
 * built-in) and removes the file. Either way, what /settings shows is what a restart
 * brings back. (TorrServer's "def" means its built-in defaults; ours keeps the admin's
 * config.json, so a reset never turns DHT back on where config.json turned it off.)
 * Readers of the daemon's config outside this lock see each value whole (aligned words). */
#include "settings.h"

#include "log.h"
#include "mem.h"
#include "torrents.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SETTINGS_FILE "settings.json"
#define SETTINGS_MAX_FILE (1 << 20)

struct gs_settings {
	pthread_mutex_t lock;           /* serialises changes; guards saved */
	struct gs_config *cfg;          /* the daemon's: CFG_LIVE fields change here */
	struct gs_config base;          /* live fields as config.json gave them: "def" */
	char *path;
	cJSON *saved;                   /* what the file holds: {name: value} */
};

static const char *field_name(const struct cfg_field *f)
{
	const char *dot = strrchr(f->key, '.');

	return dot ? dot + 1 : f->key;
}

static const struct cfg_field *live_field(const char *name)
{
	size_t n;
	const struct cfg_field *f = cfg_fields(&n);

	for (size_t i = 0; i < n; i++)
		if ((f[i].flags & CFG_LIVE) && strcmp(field_name(&f[i]), name) == 0)
			return &f[i];
	return NULL;
}

/* Copies every live field from src to dst. */
static void copy_live(struct gs_config *dst, const struct gs_config *src)
{
	size_t n;
	const struct cfg_field *f = cfg_fields(&n);

	for (size_t i = 0; i < n; i++)
		if (f[i].flags & CFG_LIVE)
			cfg_field_copy(dst, src, &f[i]);
}

/* cfg_set_json with messages that say the GoStorm name, not the config key. */
static int set_named(struct gs_config *c, const struct cfg_field *f, const cJSON *v,
		     char *err, size_t errlen)
{
	struct cfg_field named = *f;

	named.key = field_name(f);
	return cfg_set_json(c, &named, v, err, errlen);
}

/* Applies the file at path to c; *saved gets its valid members (NULL when not wanted).
 * A missing file is no error (*found = 0). */
static int load_file(struct gs_config *c, const char *path, cJSON **saved, int *found,
		     char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	cJSON *root = NULL;
	char why[512];
	int rc = 0;

	*found = 0;
	if (!fp) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	*found = 1;
	/* A buffer for the size fstat saw (+1 to see it grew past the cap), not the cap:
	 * 1 MiB per load made the cfg fuzz target 6x slower under ASan. */
	struct stat st;
	size_t cap = SETTINGS_MAX_FILE + 1;
	if (fstat(fileno(fp), &st) == 0 && (uint64_t)st.st_size < SETTINGS_MAX_FILE)
		cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap + 1);
	size_t n = fread(buf, 1, cap, fp);
	if (ferror(fp) || n > SETTINGS_MAX_FILE) {
		rc = ferror(fp) ? -EIO : -EFBIG;
		snprintf(err, errlen, "%s: %s", path, ferror(fp) ? "cannot read" :
			 "larger than 1 MiB");
		goto out;
	}
	root = cJSON_ParseWithLength(buf, n);
	if (!root || !cJSON_IsObject(root)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: not a JSON object (delete the file to start from "
			 "config.json's engine values)", path);
		goto out;
	}
	for (cJSON *m = root->child, *next; m; m = next) {
		next = m->next;
		const struct cfg_field *f = live_field(m->string);
		if (!f) {
			log_warn("%s: unknown setting \"%s\" (ignored)", path, m->string);
			cJSON_Delete(cJSON_DetachItemViaPointer(root, m));
			continue;
		}
		if (set_named(c, f, m, why, sizeof why) < 0) {
			rc = -EINVAL;
			snprintf(err, errlen, "%s: %s", path, why);
			goto out;
		}
	}
	if (saved) {
		*saved = root;
		root = NULL;
	}
out:
	cJSON_Delete(root);
	free(buf);
	fclose(fp);
	return rc;
}

static int fsync_dir_of(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int rc = 0;

	if (slash) {
		*slash = '\0';
		int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) < 0)
				rc = -errno;
			close(dfd);
		}
	}
	free(dir);
	return rc;
}

/* Writes o to path through a temp file: fsynced, renamed over, folder fsynced, so a
 * crash leaves the old file or the new one. An empty object removes the file instead.
 * Returns 0 or -errno. */
static int write_file(const char *path, const cJSON *o)
{
	if (!o->child) {
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		return fsync_dir_of(path);
	}

	char *text = cJSON_Print(o);
	char *tmp = xasprintf("%s.tmp", path);
	int fd = -1, rc = 0;

	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	size_t len = strlen(text);
	text[len] = '\n';       /* cJSON_Print's terminator becomes the final newline */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t off = 0; off < len + 1;) {
		ssize_t w = write(fd, text + off, len + 1 - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	int cr = close(fd);
	fd = -1;
	if (cr < 0) {
		rc = -errno;
		goto out;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	rc = fsync_dir_of(path);
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && rc != -ENOMEM)
		unlink(tmp);
	free(tmp);
	free(text);
	return rc;
}

int settings_open(struct gs_config *cfg, const char *state_dir, gs_settings **out,
		  char *err, size_t errlen)
{
	gs_settings *s = xcalloc(1, sizeof *s);
	int found, rc;

	s->cfg = cfg;
	s->path = xasprintf("%s/%s", state_dir, SETTINGS_FILE);
	cfg_defaults(&s->base);
	copy_live(&s->base, cfg);
	rc = load_file(cfg, s->path, &s->saved, &found, err, errlen);
	if (rc < 0) {
		cfg_free(&s->base);
		free(s->path);
		free(s);
		return rc;
	}
	if (!s->saved)
		s->saved = cJSON_CreateObject();
	if (found)
		log_info("settings: %d engine values from %s", cJSON_GetArraySize(s->saved),
			 s->path);
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void settings_close(gs_settings *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	cfg_free(&s->base);
	cJSON_Delete(s->saved);
	free(s->path);
	free(s);
}

int settings_peek(struct gs_config *cfg, const char *state_dir, int *found, char *err,
		  size_t errlen)
{
	char *path = xasprintf("%s/%s", state_dir, SETTINGS_FILE);
	int rc = load_file(cfg, path, NULL, found, err, errlen);

	free(path);
	return rc;
}

cJSON *settings_get(gs_settings *s)
{
	cJSON *o = cJSON_CreateObject();
	size_t n;
	const struct cfg_field *f = cfg_fields(&n);

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++)
		if (f[i].flags & CFG_LIVE)
			cJSON_AddItemToObject(o, field_name(&f[i]),
					      cfg_field_to_json(s->cfg, &f[i], true));
	pthread_mutex_unlock(&s->lock);
	return o;
}

void settings_result_free(struct settings_result *res)
{
	cJSON_Delete(res->ignored);
	cJSON_Delete(res->at_start);
	memset(res, 0, sizeof *res);
}

/* The common tail of set and reset, under s->lock: scratch holds the new values,
 * saved the new file content (taken over). Returns 0 or -errno (nothing changed). */
static int commit_locked(gs_settings *s, struct gs_torrents *t, struct gs_config *scratch,
			 cJSON *saved, struct settings_result *res, char *err, size_t errlen)
{
	size_t n;
	const struct cfg_field *f = cfg_fields(&n);
	int rc = write_file(s->path, saved);

	if (rc < 0) {
		snprintf(err, errlen, "cannot save %s: %s", s->path, strerror(-rc));
		cJSON_Delete(saved);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(f[i].flags & CFG_LIVE))
			continue;
		if (f[i].flags & CFG_AT_START) {
			cJSON *was = cfg_field_to_json(s->cfg, &f[i], false);
			cJSON *now = cfg_field_to_json(scratch, &f[i], false);
			if (!cJSON_Compare(was, now, 1))
				cJSON_AddItemToArray(res->at_start,
						     cJSON_CreateString(field_name(&f[i])));
			cJSON_Delete(was);
			cJSON_Delete(now);
		}
		cfg_field_copy(s->cfg, scratch, &f[i]);
	}
	cJSON_Delete(s->saved);
	s->saved = saved;
	if (t && (rc = torrents_apply_settings(t, s->cfg)) < 0) {
		res->apply_error = rc;
		log_error("settings: saved, but the engine refused them: %s", strerror(-rc));
	}
	return 0;
}

int settings_set(gs_settings *s, struct gs_torrents *t, const cJSON *sets,
		 struct settings_result *res, char *err, size_t errlen)
{
	struct gs_config scratch;
	cJSON *saved;
	int rc = 0;

	memset(res, 0, sizeof *res);
	res->ignored = cJSON_CreateArray();
	res->at_start = cJSON_CreateArray();
	if (!cJSON_IsObject(sets)) {
		snprintf(err, errlen, "sets must be an object of settings");
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	cfg_defaults(&scratch);
	copy_live(&scratch, s->cfg);
	saved = cJSON_Duplicate(s->saved, 1);
	for (const cJSON *m = sets->child; m; m = m->next) {
		const struct cfg_field *f = live_field(m->string);
		if (!f) {
			if (cJSON_GetArraySize(res->ignored) < 64)
				cJSON_AddItemToArray(res->ignored, cJSON_CreateString(m->string));
			continue;
		}
		rc = set_named(&scratch, f, m, err, errlen);
		if (rc < 0)
			break;
		cJSON_DeleteItemFromObjectCaseSensitive(saved, m->string);
		cJSON_AddItemToObject(saved, m->string, cfg_field_to_json(&scratch, f, false));
	}
	if (rc == 0)
		rc = commit_locked(s, t, &scratch, saved, res, err, errlen);
	else
		cJSON_Delete(saved);
	pthread_mutex_unlock(&s->lock);
	cfg_free(&scratch);
	if (rc == 0 && cJSON_GetArraySize(res->ignored))
		log_warn("settings: ignored names that are not settings here, e.g. \"%s\"",
			 cJSON_GetArrayItem(res->ignored, 0)->valuestring);
	return rc;
}

int settings_reset(gs_settings *s, struct gs_torrents *t, struct settings_result *res,
		   char *err, size_t errlen)
{
	struct gs_config scratch;
	int rc;

	memset(res, 0, sizeof *res);
	res->ignored = cJSON_CreateArray();
	res->at_start = cJSON_CreateArray();
	cfg_defaults(&scratch);
	copy_live(&scratch, &s->base);
	pthread_mutex_lock(&s->lock);
	rc = commit_locked(s, t, &scratch, cJSON_CreateObject(), res, err, errlen);
	pthread_mutex_unlock(&s->lock);
	cfg_free(&scratch);
	return rc;
}
