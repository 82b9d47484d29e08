/* demo.c - `gostream demo` (see demo.h): makes a short real video with ffmpeg in a
 * private temp state folder, then runs the daemon on it and prints what to try.
 * Status: seeding the video from an in-process second libtorrent session and serving it
 * as movies/Demo (2026).mkv need the engine and HTTP streaming; until they land the demo
 * says so plainly and serves only what exists (health, metrics, echo). */
#include "demo.h"

#include "cli_opts.h"
#include "daemon.h"
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

/* A 10 s 640x360 H.264/AAC Matroska clip; Cues are written at the end as in real releases. */
static int make_video(const char *out)
{
	char *argv[] = {
		"ffmpeg", "-nostdin", "-y", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-threads", "1",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", (char *)out, NULL,
	};
	return run_quiet(argv);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static int demo_ready(gs_daemon *d, void *arg)
{
	struct demo *dm = arg;
	const struct gs_config *c = daemon_config(d);
	const char *a = c->listen_address;

	printf("\ngostream demo is running (state: %s)\n\n", dm->dir);
	if (dm->have_video)
		printf("  generated video:   %s\n", dm->video);
	else
		printf("  generated video:   none (ffmpeg is missing or failed)\n");
	printf("  not available yet: seeding it from an in-process swarm, the library entry\n"
	       "                     movies/Demo (2026).mkv, HTTP streaming, WebDAV, FUSE\n"
	       "                     (they arrive with the engine, library and front-end work)\n\n");
	printf("Try what exists now:\n");
	printf("  curl http://%s:%u/health\n", a, daemon_port(d, "metrics"));
	printf("  curl http://%s:%u/metrics\n", a, daemon_port(d, "metrics"));
	printf("  curl http://%s:%u/echo\n", a, daemon_port(d, "api"));
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
	log_info("demo: generating a 10 s test video with ffmpeg");
	int vr = make_video(dm.video);
	dm.have_video = vr == 0;
	if (vr != 0)
		log_warn("demo: ffmpeg %s; continuing without a video",
			 vr < 0 ? "is not installed" : "failed");

	struct daemon_opts d = {
		.cfg = &cfg, .config_source = "demo", .config_path = path,
		.on_ready = demo_ready, .on_ready_arg = &dm,
	};
	rc = daemon_run(&d);
	if (nftw(dm.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
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
