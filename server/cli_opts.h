/* cli_opts.h - the command-line options every subcommand shares (--config, --help).
 * Parsed by main.c and demo.c on the main thread before anything starts. */
#ifndef GS_CLI_OPTS_H
#define GS_CLI_OPTS_H

#include "cfg.h"

#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_CONFIG = 3 };

struct cli_common {
	const char *config;     /* --config FILE or NULL */
	bool help;
};

/* Parses argv[1..] (argv[0] is the subcommand); returns 0 or EXIT_USAGE after printing
 * the problem and `usage` to stderr. */
int cli_parse_common(int argc, char **argv, const char *usage, struct cli_common *out);

/* Defaults + located file + validation; logging opened on the config's sink. Prints the
 * error naming file and key on failure and returns EXIT_CONFIG; 0 on success.
 * *path_out (malloc'd or NULL) and *source_out say where the config came from. */
int cli_load_config(const char *cli_path, struct gs_config *cfg, char **path_out,
		    const char **source_out);

#endif
