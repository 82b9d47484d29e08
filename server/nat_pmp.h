/* nat_pmp.h - NAT-PMP port mapping (RFC 6886, libnatpmp) for a VPN gateway: maps
 * natpmp.local_port for TCP and UDP, refreshes the mappings, redirects the external port
 * to the local one with iptables, and moves the engine's listen socket to local_port.
 * Owns one thread and the iptables rules it installed; the daemon thread starts and
 * stops it, the status thread reads its stats. Nothing here ever blocks streaming. */
#ifndef GS_NAT_PMP_H
#define GS_NAT_PMP_H

#include "bt.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct gs_natpmp gs_natpmp;

struct natpmp_opts {
	const char *gateway;            /* IPv4; "" = the default gateway of interface */
	const char *interface;          /* VPN interface: the rules match -i interface */
	int local_port;                 /* mapped (internal) port; the engine listens here */
	int refresh_seconds;
	int lifetime_seconds;           /* asked of the gateway */
	bt_engine *engine;              /* may be NULL (no listen-port change) */
};

/* Starts the mapping thread (first request at once). 0 or -errno. */
int natpmp_start(const struct natpmp_opts *o, gs_natpmp **out);
/* Gives the mappings back (lifetime 0, bounded wait), removes the rules, stops the
 * thread and frees n. NULL is fine. */
void natpmp_stop(gs_natpmp *n);

struct natpmp_stats {
	bool enabled;
	int external_port;              /* TCP external port mapped now, 0 = none */
	int external_port_udp;
	char state[16];                 /* "off", "starting", "mapped", "error" */
	char last_error[256];           /* "" while mapped */
	time_t last_refresh;            /* last time both mappings were granted */
	uint64_t refreshes, errors, port_changes, epoch_resets;
};
void natpmp_stats_get(gs_natpmp *n, struct natpmp_stats *out);

/* Pure, for tests: from the text of `iptables -t nat -S PREROUTING`, whether a line is
 * one of our REDIRECT rules for interface and local_port; fills proto ("tcp"/"udp") and
 * the external port. */
bool natpmp_rule_parse(const char *line, const char *interface, int local_port,
		       char proto[4], int *ext_port);

#endif
