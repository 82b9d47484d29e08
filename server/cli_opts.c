/* cli_opts.c - option parsing and config loading shared by the subcommands (see
 * cli_opts.h). Main thread only; getopt state is global. */
#include "cli_opts.h"

#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_common(int argc, char **argv, const char *usage, struct cli_common *out)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(out, 0, sizeof *out);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			out->config = optarg;
			break;
		case 'h':
			out->help = true;
			break;
		default:
			if (optopt == 'c')
				fprintf(stderr, "gostream %s: --config needs a FILE\n", argv[0]);
			else
				fprintf(stderr, "gostream %s: unknown option %s\n", argv[0],
					argv[optind - 1]);
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gostream %s: unexpected argument \"%s\"\n", argv[0], argv[optind]);
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	return 0;
}

int cli_load_config(const char *cli_path, struct gs_config *cfg, char **path_out,
		    const char **source_out)
{
	char err[1024];
	char *path = cfg_locate(cli_path, source_out);

	cfg_defaults(cfg);
	if (path && cfg_load_file(cfg, path, err, sizeof err) < 0) {
		fprintf(stderr, "gostream: %s\n", err);
		goto fail;
	}
	if (cfg_validate(cfg, err, sizeof err) < 0) {
		fprintf(stderr, "gostream: %s: %s\n", path ? path : "defaults", err);
		goto fail;
	}
	int rc = log_open(cfg->log_file, log_level_parse(cfg->log_level));
	if (rc < 0) {
		fprintf(stderr, "gostream: %s: log_file: cannot open %s: %s\n",
			path ? path : "defaults", cfg->log_file, strerror(-rc));
		goto fail;
	}
	*path_out = path;
	return 0;
fail:
	free(path);
	cfg_free(cfg);
	return EXIT_CONFIG;
}
