/* bt_cli.h - the "gostream cat" and "gostream info" subcommands: the torrent engine
 * in-process, no state kept. Called by main()'s dispatcher on the main thread with argv[0]
 * being the subcommand name. They return the process exit status: 0 success, 1 runtime
 * error (message on stderr), 2 usage error. */
#ifndef GS_BT_CLI_H
#define GS_BT_CLI_H

int bt_cli_cat(int argc, char **argv);
int bt_cli_info(int argc, char **argv);

#endif
