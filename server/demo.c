/* demo.c - `gostream demo` (see demo.h): makes a short real video with ffmpeg in a
 * private temp state folder, makes a torrent of it, seeds it from a second libtorrent
 * session in this process on 127.0.0.2, adds it to the catalog as "Demo (2026)" and runs
 * the daemon, printing what to try. DHT/LSD/UPnP are off: the swarm is this machine.
 * The video then appears as movies/Demo (2026).mkv over HTTP, WebDAV and (when /dev/fuse
 * is usable) a FUSE mount inside the temp folder. */
#include "config.h"
#include "demo.h"

#include "cli_opts.h"
#include "bt.h"
#include "catalog.h"
#include "daemon.h"
#include "http_files.h"
#include "torrents.h"
#include "log.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char usage_demo[] =
	"usage: gostream demo [--config FILE]\n"
	"Creates a private temporary state folder, generates a short video (needs ffmpeg),\n"
	"and serves it on the configured ports. Ctrl-C stops everything and removes the\n"
	"temporary state. --config may set ports and log level; state_dir is ignored.\n";

struct demo {
	char *dir;
	char *video;
	bool have_video;
	bt_seeder *seeder;
	void *torrent;                  /* .torrent bytes of the video */
	size_t torrent_len;
	char peer[64];                  /* the seeder, "127.0.0.2:port" */
	char hash[41];
};

/* Runs argv with stdout/stderr sent to /dev/null; returns the exit status or -errno. */
static int run_quiet(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -rc;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A 30 s 640x360 H.264/AAC Matroska clip; Cues are written at the end as in real releases. */
static int make_video(const char *out)
{
	char *argv[] = {
		"ffmpeg", "-nostdin", "-y", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "30", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1M", "-threads", "1",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", (char *)out, NULL,
	};
	return run_quiet(argv);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

/* Seeds the video from a second, plain libtorrent session on 127.0.0.2. */
static int demo_seed(struct demo *dm)
{
	char err[256];
	int rc;

	rc = bt_make_torrent(dm->video, 0, &dm->torrent, &dm->torrent_len, err, sizeof err);
	if (rc < 0) {
		log_error("demo: cannot make a torrent of the video: %s", err);
		return rc;
	}
	rc = bt_seeder_start("127.0.0.2:0", &dm->seeder, err, sizeof err);
	if (rc < 0) {
		log_error("demo: cannot start the in-process seeder: %s", err);
		return rc;
	}
	rc = bt_seeder_add(dm->seeder, dm->torrent, dm->torrent_len, dm->dir, err, sizeof err);
	if (rc < 0) {
		log_error("demo: the seeder refused the torrent: %s", err);
		return rc;
	}
	snprintf(dm->peer, sizeof dm->peer, "127.0.0.2:%d", bt_seeder_port(dm->seeder));
	log_info("demo: seeding the video from %s", dm->peer);
	return 0;
}

static int demo_ready(const struct daemon_ready *d, void *arg)
{
	struct demo *dm = arg;
	const struct gs_config *c = d->cfg;
	const char *a = c->listen_address;
	const char *peers[] = { dm->peer, NULL };
	struct torrents_meta meta = { .title = "Demo (2026)", .category = CAT_MOVIE };
	char err[256];

	if (dm->have_video && demo_seed(dm) == 0 &&
	    torrents_add(d->torrents, NULL, dm->torrent, dm->torrent_len, peers, &meta,
			 dm->hash, err, sizeof err) < 0)
		log_error("demo: cannot add the demo torrent: %s", err);

	printf("\ngostream demo is running (state: %s)\n\n", dm->dir);
	if (dm->have_video)
		printf("  generated video:   %s\n", dm->video);
	else
		printf("  generated video:   none (ffmpeg is missing or failed): nothing to stream\n");
	if (dm->hash[0]) {
		char *href = http_files_href("movies/Demo (2026).mkv", false);
		unsigned sp = http_ports_get(d->ports, "stream");
		printf("  seeded from:       %s (a second libtorrent session in this process)\n"
		       "  library entry:     movies/Demo (2026).mkv (torrent %s)\n\n",
		       dm->peer, dm->hash);
		printf("Try:\n");
		printf("  curl -r 0-1023 -o /dev/null -w '%%{http_code} %%{size_download}\\n' "
		       "'http://%s:%u%s'\n", a, sp, href);
		printf("  ffprobe 'http://%s:%u%s'\n", a, sp, href);
		printf("  vlc 'http://%s:%u%s'\n", a, sp, href);
		printf("  curl -X PROPFIND -H 'Depth: 1' http://%s:%u/movies/     (WebDAV)\n", a, sp);
		if (c->fuse_mount_path[0])
			printf("  ls -l '%s/movies'     (FUSE mount)\n", c->fuse_mount_path);
		else
			printf("  (no FUSE mount: /dev/fuse is not usable here)\n");
		free(href);
	}
	printf("  curl -s -X POST -d '{\"action\":\"list\"}' http://%s:%u/torrents\n", a,
	       http_ports_get(d->ports, "api"));
	printf("  curl http://%s:%u/metrics\n", a, http_ports_get(d->ports, "metrics"));
	printf("\nCtrl-C stops the demo and removes %s\n", dm->dir);
	fflush(stdout);
	return 0;
}

int demo_main(int argc, char **argv)
{
	struct cli_common o;
	struct gs_config cfg;
	struct demo dm = { 0 };
	char *path = NULL;
	const char *source;
	char tmpl[] = "/tmp/gostream-demo-XXXXXX";
	int rc = cli_parse_common(argc, argv, usage_demo, &o);

	if (rc)
		return rc;
	if (o.help) {
		fputs(usage_demo, stdout);
		return EXIT_OK;
	}
	rc = cli_load_config(o.config, &cfg, &path, &source);
	if (rc)
		return rc;
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "gostream demo: cannot create a temp folder: %s\n", strerror(errno));
		rc = EXIT_RUNTIME;
		goto out_cfg;
	}
	dm.dir = tmpl;
	free(cfg.state_dir);
	cfg.state_dir = xasprintf("%s/state", dm.dir);

	dm.video = xasprintf("%s/Demo (2026).mkv", dm.dir);
	log_info("demo: generating a 30 s test video with ffmpeg");
	int vr = make_video(dm.video);
	dm.have_video = vr == 0;
	if (vr != 0)
		log_warn("demo: ffmpeg %s; continuing without a video",
			 vr < 0 ? "is not installed" : "failed");

	struct daemon_opts d = {
		.cfg = &cfg, .config_source = "demo", .config_path = path,
		.on_ready = demo_ready, .on_ready_arg = &dm,
	};
	/* Mount the library too when this machine allows FUSE and the config names no
	 * mount point of its own. */
#ifdef HAVE_FUSE
	if (!cfg.fuse_mount_path[0] && access("/dev/fuse", R_OK | W_OK) == 0) {
		free(cfg.fuse_mount_path);
		cfg.fuse_mount_path = xasprintf("%s/mnt", dm.dir);
	}
#endif
	/* The swarm is this machine: no DHT, LSD or UPnP. uTP stays on as by default: the
	 * engine dials TCP first (bt_shim.cc tcp_first), so it costs the local seeder nothing. */
	cfg.engine.DisableDHT = cfg.engine.DisableLSD = cfg.engine.DisableUPNP = true;
	rc = daemon_run(&d);
	if (dm.seeder)
		bt_seeder_stop(dm.seeder);
	free(dm.torrent);
	if (nftw(dm.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		log_warn("demo: cannot remove %s: %s", dm.dir, strerror(errno));
	else
		log_info("demo: removed %s", dm.dir);
	free(dm.video);
out_cfg:
	cfg_free(&cfg);
	free(path);
	log_close();
	return rc;
}
