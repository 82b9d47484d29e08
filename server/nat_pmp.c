/* nat_pmp.c - NAT-PMP port mapping (see nat_pmp.h; not natpmp.h, which is libnatpmp's).
 * One thread: map UDP then TCP (RFC 6886 3.3), check the gateway's epoch (3.6), put the
 * iptables REDIRECT rules in step with the external ports, move the engine's listen
 * socket to local_port, sleep refresh_seconds; on any failure log once per change of
 * error, record it for /metrics and retry with a doubling back-off. libnatpmp's own
 * retransmissions (250 ms doubling, 9 tries) are cut short by our deadline per request
 * so a silent gateway costs seconds, not a minute. stats are guarded by n->lock. */
#include "nat_pmp.h"

#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
/* Debian's libnatpmp exports strnatpmperr but declares it only under this macro */
#define ENABLE_STRNATPMPERR 1
#include <natpmp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQUEST_DEADLINE_MS 4000        /* libnatpmp tries at 0, 250, 750, 1750, 3750 ms */
#define RELEASE_DEADLINE_MS 400         /* per protocol on stop */
#define IPTABLES_DEADLINE_MS 10000

extern char **environ;

struct gs_natpmp {
	char *gateway, *interface;
	int local_port, refresh_seconds, lifetime_seconds;
	bt_engine *engine;
	pthread_t thread;
	bool thread_started;

	/* the mapping thread's own state (no lock: only it and stop, after the join) */
	in_addr_t gw;
	uint32_t epoch;
	double epoch_at;                /* monotonic s when epoch was received; 0 = none */
	int rules_tcp, rules_udp;       /* external ports our rules redirect now, 0 = none */
	bool listen_moved;

	pthread_mutex_t lock;           /* stop and st */
	pthread_cond_t cond;
	bool stop;
	struct natpmp_stats st;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool stopping(gs_natpmp *n)
{
	pthread_mutex_lock(&n->lock);
	bool s = n->stop;
	pthread_mutex_unlock(&n->lock);
	return s;
}

static void set_error(gs_natpmp *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(gs_natpmp *n, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&n->lock);
	/* the same failure every retry: log it once, not every few seconds */
	if (strcmp(msg, n->st.last_error) != 0)
		log_warn("natpmp: %s; retrying with back-off (streaming is not affected)", msg);
	snprintf(n->st.last_error, sizeof n->st.last_error, "%s", msg);
	snprintf(n->st.state, sizeof n->st.state, "error");
	n->st.errors++;
	pthread_mutex_unlock(&n->lock);
}

/* ---- iptables ---- */

/* Runs argv (PATH search), collecting stdout+stderr into out. Returns the exit status
 * (0..255), or -errno when it could not run (-ENOENT: not installed), -ETIMEDOUT. */
static int run_cmd(char *const argv[], char *out, size_t outlen)
{
	posix_spawn_file_actions_t fa;
	int pfd[2], rc, status = 0;
	size_t used = 0;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		return -rc;
	}
	double deadline = mono_s() + IPTABLES_DEADLINE_MS / 1000.0;
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int left = (int)((deadline - mono_s()) * 1000);
		if (left <= 0) {
			kill(pid, SIGKILL);     /* our own child, by PID */
			waitpid(pid, NULL, 0);
			close(pfd[0]);
			return -ETIMEDOUT;
		}
		if (poll(&p, 1, left) <= 0)
			continue;
		char tmp[512];
		ssize_t k = read(pfd[0], tmp, sizeof tmp);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (used + 1 < outlen) {
			size_t c = (size_t)k < outlen - 1 - used ? (size_t)k : outlen - 1 - used;
			memcpy(out + used, tmp, c);
			used += c;
			out[used] = '\0';
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status))
		return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

static void one_line(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	size_t l = strlen(s);
	while (l && s[l - 1] == ' ')
		s[--l] = '\0';
}

/* iptables -w 5 -t nat OP PREROUTING -i IF -p PROTO --dport EXT -j REDIRECT --to-port LOCAL */
static int rule_cmd(gs_natpmp *n, const char *op, const char *proto, int ext, char *err, size_t errlen)
{
	char sext[8], slocal[8], out[512];
	snprintf(sext, sizeof sext, "%d", ext);
	snprintf(slocal, sizeof slocal, "%d", n->local_port);
	char *argv[] = { "iptables", "-w", "5", "-t", "nat", (char *)op, "PREROUTING",
			 "-i", n->interface, "-p", (char *)proto, "--dport", sext,
			 "-j", "REDIRECT", "--to-port", slocal, NULL };
	int rc = run_cmd(argv, out, sizeof out);

	if (rc != 0 && err) {
		one_line(out);
		if (rc == -ENOENT)
			snprintf(err, errlen, "iptables not found in PATH (install the iptables package)");
		else if (rc < 0)
			snprintf(err, errlen, "iptables %s: %s", op, strerror(-rc));
		else
			snprintf(err, errlen, "iptables %s %s --dport %d: exit %d: %.160s", op, proto,
				 ext, rc, out);
	}
	return rc;
}

bool natpmp_rule_parse(const char *line, const char *interface, int local_port,
		       char proto[4], int *ext_port)
{
	char ifc[64], p1[8], m[8], target[16];
	int dport, to, used = 0;

	/* "-A PREROUTING -i gw0 -p tcp -m tcp --dport 40000 -j REDIRECT --to-ports 8091" */
	if (sscanf(line, "-A PREROUTING -i %63s -p %7s -m %7s --dport %d -j %15s --to-ports %d%n",
		   ifc, p1, m, &dport, target, &to, &used) != 6)
		return false;
	if (strcmp(ifc, interface) != 0 || strcmp(p1, m) != 0 ||
	    (strcmp(p1, "tcp") != 0 && strcmp(p1, "udp") != 0) ||
	    strcmp(target, "REDIRECT") != 0 || to != local_port || dport < 1 || dport > 65535)
		return false;
	while (line[used] == ' ' || line[used] == '\n' || line[used] == '\r')
		used++;
	if (line[used])
		return false;           /* more matches than ours: not our rule */
	memcpy(proto, p1, 4);          /* "tcp" or "udp" and its NUL */
	*ext_port = dport;
	return true;
}

/* Makes the rules exactly: one REDIRECT per protocol from its external port (0 = none)
 * to local_port on the interface. Stale ones (an old external port, a previous run that
 * died, duplicates) are deleted. 0 or -1 with err filled. */
static int sync_rules(gs_natpmp *n, int want_tcp, int want_udp, char *err, size_t errlen)
{
	static char out[64 << 10];      /* only the mapping thread calls this */
	char *argv[] = { "iptables", "-w", "5", "-t", "nat", "-S", "PREROUTING", NULL };
	int rc = run_cmd(argv, out, sizeof out);
	bool have_tcp = false, have_udp = false;

	if (rc != 0) {
		one_line(out);
		if (rc == -ENOENT)
			snprintf(err, errlen, "iptables not found in PATH (install the iptables package)");
		else if (rc < 0)
			snprintf(err, errlen, "iptables -S: %s", strerror(-rc));
		else
			snprintf(err, errlen, "iptables -t nat -S: exit %d: %.160s", rc, out);
		return -1;
	}
	for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char proto[4];
		int ext;
		if (!natpmp_rule_parse(line, n->interface, n->local_port, proto, &ext))
			continue;
		bool tcp = strcmp(proto, "tcp") == 0;
		int want = tcp ? want_tcp : want_udp;
		bool *have = tcp ? &have_tcp : &have_udp;
		if (ext == want && !*have) {
			*have = true;
			continue;
		}
		if (rule_cmd(n, "-D", proto, ext, err, errlen) != 0)
			return -1;
		log_info("natpmp: removed iptables rule %s %d -> %d on %s", proto, ext,
			 n->local_port, n->interface);
	}
	if (want_tcp && !have_tcp) {
		if (rule_cmd(n, "-A", "tcp", want_tcp, err, errlen) != 0)
			return -1;
		log_info("natpmp: iptables REDIRECT tcp %d -> %d on %s", want_tcp, n->local_port,
			 n->interface);
	}
	if (want_udp && !have_udp) {
		if (rule_cmd(n, "-A", "udp", want_udp, err, errlen) != 0)
			return -1;
		log_info("natpmp: iptables REDIRECT udp %d -> %d on %s", want_udp, n->local_port,
			 n->interface);
	}
	n->rules_tcp = want_tcp;
	n->rules_udp = want_udp;
	return 0;
}

/* ---- NAT-PMP ---- */

/* The default route's gateway on interface, from /proc/net/route. */
static int default_gateway(const char *interface, in_addr_t *gw)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifc[64];
	unsigned dest, g, flags;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%63s %x %x %x", ifc, &dest, &g, &flags) != 4)
			continue;
		/* RTF_UP | RTF_GATEWAY; the kernel prints addresses in network order as hex */
		if (strcmp(ifc, interface) == 0 && dest == 0 && (flags & 3) == 3) {
			*gw = (in_addr_t)g;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static const char *proto_name(int proto)
{
	return proto == NATPMP_PROTOCOL_TCP ? "TCP" : "UDP";
}

/* One request and its answer, within deadline_ms. 0 with *resp, or a libnatpmp error
 * (< 0), or 1 when stopping. */
static int request(gs_natpmp *n, natpmp_t *np, int proto, int ext, int lifetime,
		   int deadline_ms, natpmpresp_t *resp)
{
	int rc = sendnewportmappingrequest(np, proto, (uint16_t)n->local_port, (uint16_t)ext,
					   (uint32_t)lifetime);
	double deadline = mono_s() + deadline_ms / 1000.0;

	if (rc < 0)
		return rc;
	for (;;) {
		struct timeval tv;
		fd_set fds;
		if (lifetime && stopping(n))
			return 1;
		double left = deadline - mono_s();
		if (left <= 0)
			return NATPMP_ERR_NOGATEWAYSUPPORT;     /* silence */
		getnatpmprequesttimeout(np, &tv);
		/* wake at least every 200 ms to notice a stop */
		double wait = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
		if (wait > left)
			wait = left;
		if (wait > 0.2)
			wait = 0.2;
		if (wait < 0)
			wait = 0;
		tv.tv_sec = (time_t)wait;
		tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
		FD_ZERO(&fds);
		FD_SET(np->s, &fds);
		select(np->s + 1, &fds, NULL, NULL, &tv);
		rc = readnatpmpresponseorretry(np, resp);
		if (rc == NATPMP_TRYAGAIN)
			continue;
		if (rc < 0)
			return rc;
		/* a late answer to an earlier request of the other protocol: wait for ours.
		 * libnatpmp took it as the answer and dropped our request as pending (its next
		 * read would fail "no pending request"): mark it pending again. */
		if (resp->type != (proto == NATPMP_PROTOCOL_TCP ? NATPMP_RESPTYPE_TCPPORTMAPPING
				   : NATPMP_RESPTYPE_UDPPORTMAPPING)) {
			np->has_pending_request = 1;
			continue;
		}
		return 0;
	}
}

/* RFC 6886 3.6: the gateway's seconds-since-epoch must advance at least 7/8 as fast as
 * our clock (2 s slack); less means it restarted and lost every mapping. */
static bool epoch_check(gs_natpmp *n, uint32_t epoch)
{
	double now = mono_s();
	bool reset = false;

	if (n->epoch_at > 0) {
		double expect = (double)n->epoch + (now - n->epoch_at) * 7 / 8 - 2;
		if ((double)epoch < expect) {
			reset = true;
			log_warn("natpmp: gateway epoch went from %u to %u s: it restarted and lost "
				 "its mappings; mapping again", n->epoch, epoch);
			pthread_mutex_lock(&n->lock);
			n->st.epoch_resets++;
			pthread_mutex_unlock(&n->lock);
		}
	}
	n->epoch = epoch;
	n->epoch_at = now;
	return reset;
}

/* Maps both protocols, syncs the rules and the listen port. 0, or -1 (error recorded),
 * or 1 when stopping. *granted_out: the shortest lifetime granted. */
static int map_once(gs_natpmp *n, int *granted_out)
{
	natpmp_t np;
	natpmpresp_t resp;
	int ext[2] = { 0, 0 }, granted = n->lifetime_seconds, rc;
	int protos[2] = { NATPMP_PROTOCOL_UDP, NATPMP_PROTOCOL_TCP };
	char gws[INET_ADDRSTRLEN], err[256];
	bool redo = false;

	if (n->gateway[0]) {
		inet_pton(AF_INET, n->gateway, &n->gw);        /* checked by cfg */
	} else if ((rc = default_gateway(n->interface, &n->gw)) < 0) {
		set_error(n, "no gateway: natpmp.gateway is empty and %s has no default route",
			  n->interface);
		return -1;
	}
	inet_ntop(AF_INET, &n->gw, gws, sizeof gws);
	rc = initnatpmp(&np, 1, n->gw);
	if (rc < 0) {
		set_error(n, "gateway %s: %s", gws, strnatpmperr(rc));
		return -1;
	}
again:
	for (int i = 0; i < 2; i++) {
		/* ask for the external port we hold (keeps it across refreshes), else the
		 * local one */
		int cur = protos[i] == NATPMP_PROTOCOL_TCP ? n->rules_tcp : n->rules_udp;
		rc = request(n, &np, protos[i], cur ? cur : n->local_port, n->lifetime_seconds,
			     REQUEST_DEADLINE_MS, &resp);
		if (rc == 1)
			goto stop;
		if (rc == NATPMP_ERR_NOGATEWAYSUPPORT) {
			set_error(n, "gateway %s did not answer the %s mapping request within %d s",
				  gws, proto_name(protos[i]), REQUEST_DEADLINE_MS / 1000);
			goto fail;
		}
		if (rc < 0) {
			set_error(n, "gateway %s refused the %s mapping of port %d: %s", gws,
				  proto_name(protos[i]), n->local_port, strnatpmperr(rc));
			goto fail;
		}
		if (epoch_check(n, resp.epoch) && !redo && i == 1) {
			/* detected on the second answer: the first mapping may predate the restart */
			redo = true;
			goto again;
		}
		ext[i] = resp.pnu.newportmapping.mappedpublicport;
		if (ext[i] == 0) {
			set_error(n, "gateway %s granted the %s mapping with external port 0", gws,
				  proto_name(protos[i]));
			goto fail;
		}
		if ((int)resp.pnu.newportmapping.lifetime < granted)
			granted = (int)resp.pnu.newportmapping.lifetime;
	}
	closenatpmp(&np);
	int old_tcp = n->rules_tcp, old_udp = n->rules_udp;
	if ((old_tcp && old_tcp != ext[1]) || (old_udp && old_udp != ext[0])) {
		log_warn("natpmp: external port changed from %d/%d to %d/%d (tcp/udp)", old_tcp,
			 old_udp, ext[1], ext[0]);
		pthread_mutex_lock(&n->lock);
		n->st.port_changes++;
		pthread_mutex_unlock(&n->lock);
	}
	pthread_mutex_lock(&n->lock);
	n->st.external_port = ext[1];
	n->st.external_port_udp = ext[0];
	pthread_mutex_unlock(&n->lock);
	if (sync_rules(n, ext[1], ext[0], err, sizeof err) < 0) {
		set_error(n, "%s", err);
		return -1;
	}
	if (n->engine) {
		rc = bt_engine_set_listen_port(n->engine, n->local_port);
		if (rc < 0) {
			set_error(n, "engine: cannot listen on port %d: %s", n->local_port,
				  strerror(-rc));
			return -1;
		}
		if (rc > 0)
			log_info("natpmp: engine listen port moved to %d live (torrents stay up)",
				 n->local_port);
	}
	pthread_mutex_lock(&n->lock);
	if (strcmp(n->st.state, "mapped") != 0 || old_tcp != ext[1] || old_udp != ext[0])
		log_info("natpmp: gateway %s maps external port %d/%d (tcp/udp) to local port %d "
			 "for %d s", gws, ext[1], ext[0], n->local_port, granted);
	snprintf(n->st.state, sizeof n->st.state, "mapped");
	n->st.last_error[0] = '\0';
	n->st.last_refresh = time(NULL);
	n->st.refreshes++;
	pthread_mutex_unlock(&n->lock);
	*granted_out = granted;
	return 0;
stop:
	closenatpmp(&np);
	return 1;
fail:
	closenatpmp(&np);
	return -1;
}

static void *natpmp_main(void *arg)
{
	gs_natpmp *n = arg;
	unsigned fails = 0;
	int delay = 0;

	pthread_mutex_lock(&n->lock);
	while (!n->stop) {
		if (delay > 0) {
			struct timespec dl;
			clock_gettime(CLOCK_MONOTONIC, &dl);
			dl.tv_sec += delay;
			while (!n->stop && pthread_cond_timedwait(&n->cond, &n->lock, &dl) != ETIMEDOUT)
				;
			if (n->stop)
				break;
		}
		pthread_mutex_unlock(&n->lock);
		int granted = 0, rc = map_once(n, &granted);
		pthread_mutex_lock(&n->lock);
		if (rc == 0) {
			fails = 0;
			delay = n->refresh_seconds;
			/* a gateway may grant less than asked: renew at half of what it gave */
			if (granted > 0 && delay > granted / 2)
				delay = granted / 2 > 1 ? granted / 2 : 1;
		} else if (rc < 0) {
			int backoff = 2 << (fails < 5 ? fails : 5);  /* 2, 4 ... 64 s */
			fails++;
			delay = backoff < n->refresh_seconds ? backoff : n->refresh_seconds;
		}
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int natpmp_start(const struct natpmp_opts *o, gs_natpmp **out)
{
	gs_natpmp *n = xcalloc(1, sizeof *n);
	pthread_condattr_t ca;
	int rc;

	n->gateway = xstrdup(o->gateway ? o->gateway : "");
	n->interface = xstrdup(o->interface && o->interface[0] ? o->interface : "wg0");
	n->local_port = o->local_port;
	n->lifetime_seconds = o->lifetime_seconds;
	n->refresh_seconds = o->refresh_seconds;
	if (n->refresh_seconds >= n->lifetime_seconds) {
		n->refresh_seconds = n->lifetime_seconds / 2;
		log_warn("natpmp: refresh_seconds is not below lifetime_seconds (%d s): refreshing "
			 "every %d s", o->lifetime_seconds, n->refresh_seconds);
	}
	n->engine = o->engine;
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	n->st.enabled = true;
	snprintf(n->st.state, sizeof n->st.state, "starting");
	rc = pthread_create(&n->thread, NULL, natpmp_main, n);
	if (rc) {
		log_error("natpmp: cannot start its thread: %s", strerror(rc));
		snprintf(n->st.state, sizeof n->st.state, "error");
		snprintf(n->st.last_error, sizeof n->st.last_error, "no thread: %s", strerror(rc));
	} else {
		n->thread_started = true;
	}
	log_info("natpmp: mapping local port %d via %s on %s (refresh %d s, lifetime %d s)",
		 n->local_port, n->gateway[0] ? n->gateway : "the default gateway", n->interface,
		 n->refresh_seconds, n->lifetime_seconds);
	*out = n;
	return 0;
}

void natpmp_stop(gs_natpmp *n)
{
	char err[256];

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	if (n->thread_started)
		pthread_join(n->thread, NULL);
	/* RFC 6886 3.4: a mapping is given back with lifetime 0 (external port 0) */
	if (n->rules_tcp || n->rules_udp || n->st.external_port || n->st.external_port_udp) {
		natpmp_t np;
		natpmpresp_t resp;
		if (initnatpmp(&np, 1, n->gw) == 0) {
			int p[2] = { NATPMP_PROTOCOL_UDP, NATPMP_PROTOCOL_TCP };
			for (int i = 0; i < 2; i++) {
				int rc = request(n, &np, p[i], 0, 0, RELEASE_DEADLINE_MS, &resp);
				if (rc < 0)
					log_info("natpmp: giving back the %s mapping: %s", proto_name(p[i]),
						 strnatpmperr(rc));
			}
			closenatpmp(&np);
		}
		if (sync_rules(n, 0, 0, err, sizeof err) < 0)
			log_warn("natpmp: cannot remove the iptables rules: %s", err);
		else
			log_info("natpmp: mappings given back, iptables rules removed");
	}
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n->gateway);
	free(n->interface);
	free(n);
}

void natpmp_stats_get(gs_natpmp *n, struct natpmp_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!n) {
		snprintf(out->state, sizeof out->state, "off");
		return;
	}
	pthread_mutex_lock(&n->lock);
	*out = n->st;
	pthread_mutex_unlock(&n->lock);
}
