/* cli_client.h - the command-line client of a running daemon: `gostream add`, `ls`, `rm`
 * and `status` talk to the JSON API with libcurl (address and token from the config,
 * like the daemon reads it), print readable tables, or the API's JSON with --json.
 * Main thread only. */
#ifndef GS_CLI_CLIENT_H
#define GS_CLI_CLIENT_H

/* Runs one client command; argv[0] is the command ("add", "ls", "rm", "status").
 * Returns the exit status: 0 ok, 1 the daemon refused or cannot be reached, 2 usage,
 * 3 bad config. */
int cli_client_main(int argc, char **argv);

#endif
