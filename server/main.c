/* main.c - the gostream command line: dispatches run, demo, check-config, version, help,
 * the engine tools (cat, info) and the client commands (add, ls, rm, status).
 * Runs on the main thread; `run` hands over to daemon_run() until a stop signal. */
#include "config.h"

#include "bt_cli.h"
#include "cfg.h"
#include "cli_client.h"
#include "cli_opts.h"
#include "daemon.h"
#include "demo.h"
#include "log.h"
#include "mem.h"
#include "settings.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libxml/xmlversion.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef HAVE_FUSE
#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>
#endif

static const char usage_main[] =
	"usage: gostream [COMMAND] [OPTIONS]\n"
	"\n"
	"Streams films and series out of BitTorrent swarms as ordinary files\n"
	"(HTTP with byte ranges, WebDAV, FUSE).\n"
	"\n"
	"commands:\n"
	"  run [--config FILE]           start the daemon (the default command)\n"
	"  demo [--config FILE]          seed a generated video and serve it, no setup needed\n"
	"  check-config [--config FILE]  validate the config and print the effective values\n"
	"  cat [OPTIONS] LINK FILE       write one file of a torrent to stdout (engine in-process)\n"
	"  info LINK                     list a torrent's files, sizes and piece size\n"
	"  add LINK [--title T] [--category movie|tv] [--imdb ID] [--peer IP:PORT]\n"
	"                                add a torrent to the running daemon\n"
	"  ls                            list the daemon's torrents\n"
	"  rm HASH                       remove a torrent from the daemon\n"
	"  status                        the daemon's version, uptime and awake torrents\n"
	"  sync movies|tv|watchlist [--dry-run] [--verbose]\n"
	"                                run one discovery sync in the daemon and wait for it\n"
	"                                (client commands take --json, --config, --url)\n"
	"  version                       version, build options and library versions\n"
	"  help                          this text\n"
	"\n"
	"Config lookup: --config FILE, $GOSTREAM_CONFIG, config.json beside the executable,\n"
	"built-in defaults. `gostream COMMAND --help` describes one command.\n"
	"Exit status: 0 ok, 1 runtime error, 2 usage error, 3 invalid config.\n";

static const char usage_run[] =
	"usage: gostream [run] [--config FILE]\n"
	"Starts the daemon in the foreground. SIGTERM/SIGINT stop it cleanly,\n"
	"SIGHUP reopens the log file.\n";

static const char usage_check[] =
	"usage: gostream check-config [--config FILE]\n"
	"Validates the configuration and prints the effective values as JSON on stdout\n"
	"(secrets masked), engine values set through /settings (state_dir/settings.json)\n"
	"included. Exit status 0 when valid, 3 when not.\n";

static const char usage_version[] =
	"usage: gostream version\n"
	"Prints the version, build options and the versions of the libraries in use.\n";

static int cmd_run(int argc, char **argv)
{
	struct cli_common o;
	struct gs_config cfg;
	char *path;
	const char *source;
	int rc = cli_parse_common(argc, argv, usage_run, &o);

	if (rc)
		return rc;
	if (o.help) {
		fputs(usage_run, stdout);
		return EXIT_OK;
	}
	rc = cli_load_config(o.config, &cfg, &path, &source);
	if (rc)
		return rc;
	struct daemon_opts d = { .cfg = &cfg, .config_source = source, .config_path = path };
	rc = daemon_run(&d);
	cfg_free(&cfg);
	free(path);
	log_close();
	return rc;
}

static int cmd_check_config(int argc, char **argv)
{
	struct cli_common o;
	struct gs_config cfg;
	char *path;
	const char *source;
	int rc = cli_parse_common(argc, argv, usage_check, &o);

	if (rc)
		return rc;
	if (o.help) {
		fputs(usage_check, stdout);
		return EXIT_OK;
	}
	rc = cli_load_config(o.config, &cfg, &path, &source);
	if (rc)
		return rc;
	char *state = daemon_state_dir(&cfg);
	char err[1024];
	int found = 0;
	if (settings_peek(&cfg, state, &found, err, sizeof err) < 0) {
		fprintf(stderr, "gostream: %s\n", err);
		free(state);
		cfg_free(&cfg);
		free(path);
		return EXIT_CONFIG;
	}
	if (found)
		fprintf(stderr, "gostream: engine values set through /settings come from "
			"%s/settings.json\n", state);
	/* Keys this build does not read yet (cfg_field_ui): set, they would do nothing. */
	struct gs_config def;
	size_t nf;
	const struct cfg_field *fl = cfg_fields(&nf);
	cfg_defaults(&def);
	for (size_t i = 0; i < nf; i++) {
		struct cfg_ui ui;
		cfg_field_ui(&fl[i], &ui);
		cJSON *a = cfg_field_to_json(&cfg, &fl[i], false);
		cJSON *b = cfg_field_to_json(&def, &fl[i], false);
		if (ui.not_read && !cJSON_Compare(a, b, 1))
			fprintf(stderr, "gostream: note: %s is set but %s\n", fl[i].key, ui.not_read);
		cJSON_Delete(a);
		cJSON_Delete(b);
	}
	cfg_free(&def);
	cJSON *j = cfg_to_json(&cfg, true);
	cJSON_ReplaceItemInObject(j, "state_dir", cJSON_CreateString(state));
	char *s = cJSON_Print(j);
	printf("%s\n", s);
	fprintf(stderr, "gostream: config is valid (source: %s%s%s)\n", source,
		path ? ", " : "", path ? path : "");
	free(s);
	free(state);
	cJSON_Delete(j);
	cfg_free(&cfg);
	free(path);
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_version, stdout);
		return EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "gostream version: unexpected argument \"%s\"\n", argv[1]);
		fputs(usage_version, stderr);
		return EXIT_USAGE;
	}
	printf("gostream %s\n", PACKAGE_VERSION);
	printf("build: %s\n", GS_BUILD_OPTIONS);
	printf("libtorrent-rasterbar %s (compiled against)\n", GS_LIBTORRENT_VERSION);
	printf("libmicrohttpd %s\n", MHD_get_version());
	printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
	printf("libxml2 %s\n", LIBXML_DOTTED_VERSION);
	printf("cJSON %s\n", cJSON_Version());
	printf("zlib %s\n", zlibVersion());
#ifdef HAVE_FUSE
	printf("libfuse %s\n", fuse_pkgversion());
#else
	printf("libfuse: not built (--disable-fuse)\n");
#endif
	/* libnatpmp has no version call; name what it is used for here */
	printf("libnatpmp: NAT-PMP port mapping (RFC 6886) with iptables REDIRECT, natpmp.enabled\n");
	printf("blocklist: P2P, eMule DAT and CIDR lists, IPv4 and IPv6, gzip (zlib), blocklist_url\n");
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "run";

	mem_tune_malloc();              /* before any thread exists */
	daemon_block_signals();
	if (argc > 1 && argv[1][0] == '-') {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			fputs(usage_main, stdout);
			return EXIT_OK;
		}
		if (strcmp(argv[1], "--version") == 0)
			return cmd_version(1, argv);
		/* `gostream --config FILE` means `gostream run --config FILE`. */
		argv[0] = "run";
		return cmd_run(argc, argv);
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc > 1 ? argc - 1 : 1, argc > 1 ? argv + 1 : (char *[]){ "run", NULL });
	if (strcmp(cmd, "demo") == 0)
		return demo_main(argc - 1, argv + 1);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0)
		return cmd_version(argc - 1, argv + 1);
	if (strcmp(cmd, "cat") == 0)
		return bt_cli_cat(argc - 1, argv + 1);
	if (strcmp(cmd, "info") == 0)
		return bt_cli_info(argc - 1, argv + 1);
	if (strcmp(cmd, "add") == 0 || strcmp(cmd, "ls") == 0 || strcmp(cmd, "rm") == 0 ||
	    strcmp(cmd, "status") == 0 || strcmp(cmd, "sync") == 0)
		return cli_client_main(argc - 1, argv + 1);
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "gostream: unknown command \"%s\"\n", cmd);
	fputs(usage_main, stderr);
	return EXIT_USAGE;
}
