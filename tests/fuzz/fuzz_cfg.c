/* fuzz_cfg.c - config files read from disk (server/cfg.c: comments, JSON, the table's
 * validation, cross-field checks) and <state_dir>/settings.json (server/settings.c):
 * the input is written as both files and loaded the way start-up and check-config do.
 * A refused file must come with a one-line reason. */
#include "fuzz.h"

#include "cfg.h"
#include "settings.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char cfg_path[512], state[512], settings_path[600];
	struct gs_config c;
	char err[512];
	int found, rc;

	if (!cfg_path[0]) {
		fuzz_logs_off();
		snprintf(cfg_path, sizeof cfg_path, "%s/config.json", fuzz_tmpdir());
		snprintf(state, sizeof state, "%s", fuzz_tmpdir());
		snprintf(settings_path, sizeof settings_path, "%s/settings.json", state);
	}
	if (fuzz_write_file(cfg_path, data, size) < 0 ||
	    fuzz_write_file(settings_path, data, size) < 0)
		abort();

	cfg_defaults(&c);
	err[0] = '\0';
	rc = cfg_load_file(&c, cfg_path, err, sizeof err);
	if (rc < 0 && !err[0])
		abort();
	if (rc == 0) {
		err[0] = '\0';
		if (cfg_validate(&c, err, sizeof err) < 0 && !err[0])
			abort();
		cJSON_Delete(cfg_to_json(&c, true));
		cJSON_Delete(cfg_to_json(&c, false));
	}
	cfg_free(&c);

	cfg_defaults(&c);
	err[0] = '\0';
	rc = settings_peek(&c, state, &found, err, sizeof err);
	if (rc < 0 && !err[0])
		abort();
	cfg_free(&c);
	return 0;
}
