/* fuzz_natpmp.c - NAT-PMP replies and what server/nat_pmp.c does with them: map_once
 * (the UDP then TCP mapping requests, the epoch check of RFC 6886 3.6, the external
 * ports and lifetimes granted, errors) and the iptables rule sync that follows (our
 * parsing of `iptables -t nat -S PREROUTING`, natpmp_rule_parse). What is real: libnatpmp
 * itself sends each request over UDP and decodes the reply datagrams (the bytes of the
 * input); the gateway is a UDP socket of this process on 127.x.y.z:5351 (x.y.z from the
 * PID) that reads each request and answers with the input's datagrams for it. iptables is
 * a shell script put first in PATH that prints the input's rule listing for -S and logs
 * -A/-D. The harness pads each datagram to 16 bytes with zeros: libnatpmp 20150609 does
 * not check a reply's length and would decode stale stack bytes past a short one (not
 * our code; padding keeps runs reproducible). After each group of datagrams it sends
 * "\1\x80" (an unsupported version), so a request that got no answer of its kind fails
 * at once instead of waiting out the 4 s deadline.
 * Input: flag byte (bit 0: map twice, as a refresh does; bit 1: start with rules of an
 * earlier run), 2-byte length + the -S listing, then per request a group: a count byte
 * (low 2 bits, 0-3 datagrams), each a length byte (0-16) and the bytes.
 * Beyond "no crash": a mapping that succeeds has external ports 1..65535 that are the
 * ones the stats show, the rules redirect exactly those ports (one -A per protocol at
 * most, none for other ports), lifetimes are what was granted; a failure is recorded
 * with a reason, never "no pending request" (a late answer of the other protocol is
 * skipped); every request was well-formed (RFC 6886 3.3) for our local port. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include "../../server/nat_pmp.c"

#define LOCAL_PORT 8091

static int gw_sock = -1;
static char gw_ip[INET_ADDRSTRLEN], dir[512], rules_path[600], cmds_path[600];
static const uint8_t *in;
static size_t in_left;
static unsigned requests, bad_requests;

static uint8_t take(void)
{
	if (!in_left)
		return 0;
	in_left--;
	return *in++;
}

/* libnatpmp's request, then the fake gateway's answer to it. */
int sendnewportmappingrequest(natpmp_t *p, int protocol, uint16_t privateport,
			      uint16_t publicport, uint32_t lifetime)
{
	static int (*real)(natpmp_t *, int, uint16_t, uint16_t, uint32_t);
	unsigned char buf[64], old[16];
	struct sockaddr_in from;
	socklen_t fl = sizeof from;

	if (!real)
		real = (int (*)(natpmp_t *, int, uint16_t, uint16_t, uint32_t))
			dlsym(RTLD_NEXT, "sendnewportmappingrequest");
	/* answers left over from the previous request are dropped: each group is for
	 * the request it follows */
	while (recv(p->s, old, sizeof old, MSG_DONTWAIT) >= 0)
		;
	int rc = real(p, protocol, privateport, publicport, lifetime);
	if (rc < 0)
		return rc;
	requests++;
	ssize_t n = recvfrom(gw_sock, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	/* RFC 6886 3.3: version 0, opcode 1 (UDP) / 2 (TCP), reserved 0, our port */
	if (n != 12 || buf[0] != 0 || (buf[1] != 1 && buf[1] != 2) || buf[2] || buf[3] ||
	    (buf[4] << 8 | buf[5]) != LOCAL_PORT)
		bad_requests++;
	unsigned count = take() & 3;
	for (unsigned i = 0; i < count; i++) {
		unsigned char d[16] = { 0 };
		unsigned len = take() % 17;
		for (unsigned k = 0; k < len; k++)
			d[k] = take();
		sendto(gw_sock, d, sizeof d, 0, (struct sockaddr *)&from, fl);
	}
	static const unsigned char end[16] = { 1, 0x80 };
	sendto(gw_sock, end, sizeof end, 0, (struct sockaddr *)&from, fl);
	return rc;
}

static void remove_dir(void)
{
	fuzz_empty_dir(dir);
	rmdir(dir);
}

static void setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(NATPMP_PORT) };
	unsigned pid = (unsigned)getpid();
	char script[700], *path;
	FILE *f;

	fuzz_logs_off();
	snprintf(gw_ip, sizeof gw_ip, "127.%u.%u.%u", 100 + (pid >> 16) % 100, (pid >> 8) & 255,
		 1 + pid % 254);
	inet_pton(AF_INET, gw_ip, &a.sin_addr);
	gw_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (gw_sock < 0 || bind(gw_sock, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("fuzz_natpmp: the gateway socket");
		abort();
	}
	/* not under fuzz_tmpdir(): /dev/shm is often mounted noexec (Docker) */
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/gs-fuzz-natpmp-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
	snprintf(rules_path, sizeof rules_path, "%s/rules", dir);
	snprintf(cmds_path, sizeof cmds_path, "%s/cmds", dir);
	snprintf(script, sizeof script, "%s/iptables", dir);
	f = fopen(script, "w");
	if (!f)
		abort();
	fprintf(f, "#!/bin/sh\ncase \" $* \" in\n*\" -S \"*) cat '%s';;\n*) echo \"$*\" >> '%s';;\n"
		"esac\n", rules_path, cmds_path);
	fclose(f);
	chmod(script, 0700);
	path = xasprintf("%s:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	free(path);
}

/* The -A commands logged since the last call: each must be for a granted port, at most
 * one per protocol. */
static void check_cmds(int tcp, int udp)
{
	char line[512];
	int added_tcp = 0, added_udp = 0;
	FILE *f = fopen(cmds_path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char proto[8];
		int ext;
		if (sscanf(line, "-w 5 -t nat -A PREROUTING -i fuzz0 -p %7s --dport %d", proto,
			   &ext) != 2)
			continue;
		bool is_tcp = strcmp(proto, "tcp") == 0;
		if ((is_tcp ? ++added_tcp : ++added_udp) > 1 || ext != (is_tcp ? tcp : udp)) {
			fprintf(stderr, "natpmp: rule added for %s %d; granted tcp %d udp %d\n",
				proto, ext, tcp, udp);
			abort();
		}
	}
	fclose(f);
	unlink(cmds_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	gs_natpmp n = { .gateway = gw_ip, .interface = "fuzz0", .local_port = LOCAL_PORT,
			.refresh_seconds = 60, .lifetime_seconds = 3600 };

	if (!init) {
		setup();
		init = true;
	}
	if (size < 3)
		return 0;
	uint8_t flags = data[0];
	size_t rl = (size_t)data[1] << 8 | data[2];
	data += 3;
	size -= 3;
	if (rl > size)
		rl = size;
	if (fuzz_write_file(rules_path, data, rl) != 0)
		abort();
	unlink(cmds_path);
	in = data + rl;
	in_left = size - rl;
	requests = bad_requests = 0;
	pthread_mutex_init(&n.lock, NULL);
	pthread_cond_init(&n.cond, NULL);
	snprintf(n.st.state, sizeof n.st.state, "starting");
	if (flags & 2) {
		n.rules_tcp = 40000;
		n.rules_udp = 40001;
	}

	for (int round = 0; round < ((flags & 1) ? 2 : 1); round++) {
		int granted = -5;
		uint64_t errors = n.st.errors;
		int rc = map_once(&n, &granted);
		if (rc == 0) {
			if (n.st.external_port < 1 || n.st.external_port > 65535 ||
			    n.st.external_port_udp < 1 || n.st.external_port_udp > 65535 ||
			    n.rules_tcp != n.st.external_port || n.rules_udp != n.st.external_port_udp ||
			    granted > n.lifetime_seconds || strcmp(n.st.state, "mapped") != 0 ||
			    n.st.last_error[0]) {
				fprintf(stderr, "natpmp: mapped tcp %d udp %d, rules %d/%d, granted %d, "
					"state %s\n", n.st.external_port, n.st.external_port_udp,
					n.rules_tcp, n.rules_udp, granted, n.st.state);
				abort();
			}
			check_cmds(n.rules_tcp, n.rules_udp);
		} else if (rc < 0) {
			/* our waiting must keep libnatpmp's request pending (a late answer of
			 * the other kind is skipped, not the end of the wait) */
			if (n.st.errors != errors + 1 || !n.st.last_error[0] ||
			    strcmp(n.st.state, "error") != 0 ||
			    strstr(n.st.last_error, strnatpmperr(NATPMP_ERR_NOPENDINGREQ))) {
				fprintf(stderr, "natpmp: failure not recorded (%s)\n", n.st.last_error);
				abort();
			}
		} else {
			fprintf(stderr, "natpmp: map_once says stopping, nobody stopped it\n");
			abort();
		}
	}
	if (bad_requests) {
		fprintf(stderr, "natpmp: %u of %u requests malformed\n", bad_requests, requests);
		abort();
	}
	pthread_mutex_destroy(&n.lock);
	pthread_cond_destroy(&n.cond);
	return 0;
}
