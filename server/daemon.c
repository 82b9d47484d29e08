/* daemon.c - start-up, signal loop and orderly shutdown (see daemon.h): the composition
 * root. Start order: log -> state folder -> settings.json over the engine values ->
 * access policies -> torrents (catalog + engine) -> blocklist, NAT-PMP -> library +
 * stream layer -> discovery -> webhook, panel and each handler module's deps -> metrics
 * port -> API port -> stream port (HTTP files + WebDAV) -> FUSE mount when configured;
 * stop in reverse. Every object exists before the first port starts, so no HTTP thread
 * sees a handle being assigned; a start-up failure is in the log and the exit code. Signals are blocked in every thread and
 * taken synchronously here with sigwaitinfo, so no handler runs in async context.
 * Access: the API and metrics ports admit api_token when it is set (cfg_validate
 * refuses a non-loopback listen_address without one); /health, /echo and the webhook
 * (its own webhook_token) stay open so probes and Plex work. The stream port admits the
 * http_auth users (and the token) when http_auth is set, else everyone (Plex must read). */
#include "daemon.h"

#include "api.h"
#include "api_play.h"
#include "auth.h"
#include "blocklist.h"
#include "config.h"
#include "dav.h"
#include "dirs.h"
#include "disc_sync.h"
#include "http_files.h"
#include "http_server.h"
#ifdef HAVE_FUSE
#include "fs.h"
#endif
#include "log.h"
#include "mem.h"
#include "library.h"
#include "nat_pmp.h"
#include "settings.h"
#include "status.h"
#include "stream.h"
#include "torrents.h"
#include "web.h"
#include "webhook.h"
#include "playability.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/xmlerror.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROUTES_MAX 32

typedef struct gs_daemon {
	const struct daemon_opts *opts;
	time_t started;
	char *state_dir;
	gs_torrents *torrents;
	gs_library *library;
	gs_streams *streams;
	gs_settings *settings;
	auth_policy *api_auth;          /* api and metrics ports */
	auth_policy *stream_auth;       /* stream port */
	http_server *metrics;
	http_server *api;
	http_server *stream;
	gs_webhook *webhook;
	gs_disc *disc;
	gs_web *web;                    /* control panel and dashboard */
	int restart;                    /* set by the panel: exec ourselves after the stop */
	gs_blocklist *blocklist;
	gs_natpmp *natpmp;              /* NULL when natpmp.enabled is false */
#ifdef HAVE_FUSE
	fs_mount *fuse;
#endif
	/* Each handler module's handles, made before any port starts (route ctx points here). */
	struct http_ports ports;
	struct status_deps status_deps;
	struct api_deps api_deps;
	struct api_play_deps play_deps;
	struct http_files_deps files_deps;
	struct dav_deps dav_deps;
} gs_daemon;

void daemon_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static const char *config_source(const gs_daemon *d)
{
	return d->opts->config_path ? d->opts->config_path : d->opts->config_source;
}

/* The panel's restart button (web_deps.restart). */
static void request_restart(void *arg)
{
	gs_daemon *d = arg;

	__atomic_store_n(&d->restart, 1, __ATOMIC_SEQ_CST);
	/* Blocked in every thread: the signal loop takes it and stops in order. */
	kill(getpid(), SIGTERM);
}

/* After a clean stop asked for by the panel: the same program with the same arguments
 * (read back from /proc/self/cmdline), same PID, so systemd and test harnesses keep
 * following it. Returns only when exec failed. */
static void reexec(void)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	char buf[8192];
	char *argv[128];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	int argc = 0;

	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		log_error("restart: cannot read /proc/self/cmdline");
		return;
	}
	buf[n] = '\0';
	for (char *p = buf; p < buf + n && argc < 127; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	/* The binary by its path (the process keeps its name); /proc/self/exe when that
	 * path is gone (replaced by an upgrade: the running one is what we can exec). */
	char exe[4096];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[el > 0 ? el : 0] = '\0';
	if (el <= 0 || access(exe, X_OK) < 0)
		snprintf(exe, sizeof exe, "/proc/self/exe");
	log_info("restarting: exec %s", exe);
	log_close();
	execv(exe, argv);
	log_error("restart: exec failed: %s", strerror(errno));
}

/* The blocklist goes into the engine's filter before any torrent is woken (nothing is
 * awake right after torrents_open), NAT-PMP maps in the background. */
static int start_net(gs_daemon *d)
{
	const struct gs_config *cfg = d->opts->cfg;
	struct blocklist_opts bo = {
		.url = cfg->blocklist_url,
		.state_dir = d->state_dir,
		.refresh_seconds = (long)cfg->blocklist_refresh_seconds,
		.engine = torrents_engine(d->torrents),
	};

	if (blocklist_start(&bo, &d->blocklist) < 0)
		return -1;
	if (cfg->natpmp.enabled) {
		struct natpmp_opts no = {
			.gateway = cfg->natpmp.gateway,
			.interface = cfg->natpmp.vpn_interface,
			.local_port = (int)cfg->natpmp.local_port,
			.refresh_seconds = (int)cfg->natpmp.refresh_seconds,
			.lifetime_seconds = (int)cfg->natpmp.lifetime_seconds,
			.engine = torrents_engine(d->torrents),
		};
		if (natpmp_start(&no, &d->natpmp) < 0)
			return -1;
	}
	return 0;
}

/* Keeps the library in step with the catalog: runs in the thread that changed it. */
static void on_catalog_change(void *arg, const char *hash, int removed)
{
	gs_daemon *d = arg;
	cat_record *rec = NULL;

	if (removed) {
		library_remove(d->library, hash);
		return;
	}
	if (catalog_get(torrents_catalog(d->torrents), hash, &rec) == 0) {
		int rc = library_put(d->library, rec);
		if (rc < 0)
			log_warn("library: cannot show %s: %s", hash, strerror(-rc));
		cat_record_free(rec);
	}
}

static int start_library(gs_daemon *d)
{
	const struct gs_config *cfg = d->opts->cfg;
	struct streams_opts so;
	int rc = library_open(NULL, &d->library);

	if (rc < 0) {
		log_error("library: cannot create: %s", strerror(-rc));
		return rc;
	}
	catalog_set_observer(torrents_catalog(d->torrents), on_catalog_change, d);
	rc = library_load(d->library, torrents_catalog(d->torrents));
	if (rc < 0) {
		log_error("library: cannot load the catalog: %s", strerror(-rc));
		return rc;
	}
	log_info("library: %zu files", library_file_count(d->library));
	streams_opts_default(&so);
	so.read_ahead_budget = (uint64_t)cfg->read_ahead_budget_mb << 20;
	so.use_warmup = cfg->engine.UseDisk;
	so.warmup_head = (uint64_t)cfg->warmup_head_size_mb << 20;
	so.warmup_tail = (uint64_t)cfg->warmup_tail_size_mb << 20;
	so.warmup_quota = (uint64_t)cfg->disk_warmup_quota_gb << 30;
	so.concurrency_limit = (unsigned)cfg->master_concurrency_limit;
	so.wake_timeout_ms = (int)cfg->engine.ReadTimeoutSeconds * 1000;
	char *wdir = xasprintf("%s/warmup", d->state_dir);
	so.warmup_dir = wdir;
	rc = streams_create(&so, d->torrents, &d->streams);
	free(wdir);
	return rc;
}

char *daemon_state_dir(const struct gs_config *cfg)
{
	const char *env;

	if (cfg->state_dir[0])
		return xstrdup(cfg->state_dir);
	if ((env = getenv("STATE_DIRECTORY")) && *env)    /* systemd StateDirectory= */
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/lib/gostream");
	if ((env = getenv("XDG_STATE_HOME")) && *env)
		return xasprintf("%s/gostream", env);
	env = getenv("HOME");
	return xasprintf("%s/.local/state/gostream", env && *env ? env : "/tmp");
}

/* The handler modules and their deps, once every object they use exists. */
static int make_handlers(gs_daemon *d)
{
	const struct gs_config *cfg = d->opts->cfg;
	struct webhook_deps wd = { cfg, d->torrents, d->library, d->streams };
	struct web_deps pd = {
		.cfg = cfg,
		.config_path = d->opts->config_path,
		.state_dir = d->state_dir,
		.started = d->started,
		.torrents = d->torrents,
		.library = d->library,
		.streams = d->streams,
		.settings = d->settings,
		.disc = d->disc,
		.ports = &d->ports,
		.restart = request_restart,
		.restart_arg = d,
	};

	if (webhook_create(&wd, &d->webhook) < 0)
		return -1;
	if (web_create(&pd, &d->web) < 0)
		return -1;
	d->status_deps = (struct status_deps){
		.cfg = cfg,
		.config_source = config_source(d),
		.started = d->started,
		.torrents = d->torrents,
		.library = d->library,
		.streams = d->streams,
		.webhook = d->webhook,
		.disc = d->disc,
		.blocklist = d->blocklist,
		.natpmp = d->natpmp,
		.ports = &d->ports,
	};
	d->api_deps = (struct api_deps){ d->torrents, d->streams, d->settings, d->disc };
	d->play_deps = (struct api_play_deps){ d->torrents, d->library, d->streams };
	d->files_deps = (struct http_files_deps){ d->library, d->streams };
	d->dav_deps = (struct dav_deps){ d->library };
	return 0;
}

/* libxml2 reports parse problems through a global hook: route them to our log. */
static void xml_log(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	if (e && e->message)
		log_debug("libxml2: line %d: %s", e->line, e->message);
}

/* Paths each port serves without credentials. */
static const char *const api_open_paths[] = { "/echo", NULL };
static const char *const metrics_open_paths[] = { "/health", "/plex-webhook", NULL };

/* The route table of each port, in match order: the one place that says which module
 * answers what where. Every ctx is a module's own object or deps, alive until stop_all. */
static size_t routes_of(gs_daemon *d, const char *name, struct http_route *out, size_t max)
{
	size_t n = 0;

	if (strcmp(name, "metrics") == 0) {
		struct http_route api[ROUTES_MAX];
		size_t na = api_routes(&d->api_deps, api, ROUTES_MAX);

		n += status_routes(&d->status_deps, out + n, max - n);
		n += webhook_routes(d->webhook, out + n, max - n);
		n += web_routes(d->web, api, na, out + n, max - n);
	} else if (strcmp(name, "api") == 0) {
		n += api_routes(&d->api_deps, out + n, max - n);
		n += api_play_routes(&d->play_deps, out + n, max - n);
	} else if (strcmp(name, "stream") == 0) {
		n += http_files_routes(&d->files_deps, out + n, max - n);
		n += dav_routes(&d->dav_deps, out + n, max - n);
	}
	return n;
}

static int start_port(gs_daemon *d, const char *name, long long port, http_server **out)
{
	struct http_route routes[ROUTES_MAX];
	size_t n = routes_of(d, name, routes, ROUTES_MAX);
	const char *metrics_open[32];
	size_t no = 0;

	for (size_t i = 0; metrics_open_paths[i] && no < 31; i++)
		metrics_open[no++] = metrics_open_paths[i];
	for (size_t i = 0; web_open_paths[i] && no < 31; i++)
		metrics_open[no++] = web_open_paths[i];
	metrics_open[no] = NULL;
	struct http_server_opts o = {
		.name = name,
		.address = d->opts->cfg->listen_address,
		.port = (unsigned)port,
		/* The metrics port takes Plex's webhook: a JSON payload and a JPEG thumb. */
		.max_body = strcmp(name, "metrics") == 0 ? WEBHOOK_MAX_BODY :
			    strcmp(name, "api") == 0 ? API_MAX_BODY : 1 << 20,
		.connection_limit = 512,
		.timeout_seconds = 120,
		.auth = strcmp(name, "stream") == 0 ? d->stream_auth : d->api_auth,
		.open_paths = strcmp(name, "api") == 0 ? api_open_paths :
			      strcmp(name, "metrics") == 0 ? metrics_open : NULL,
	};
	int rc = http_server_start(&o, routes, n, out);

	if (rc < 0)
		log_error("cannot listen on %s port %s:%lld: %s", name, o.address, port,
			  strerror(-rc));
	else
		http_ports_set(&d->ports, name, http_server_port(*out));
	return rc;
}

static void stop_all(gs_daemon *d)
{
#ifdef HAVE_FUSE
	fs_stop(d->fuse);       /* first: ends in-flight FUSE reads, unmounts */
	d->fuse = NULL;
#endif
	http_server_stop(d->stream);
	http_server_stop(d->api);
	http_server_stop(d->metrics);
	d->stream = d->api = d->metrics = NULL;
	memset(&d->ports, 0, sizeof d->ports);
}

static int signal_loop(void)
{
	sigset_t set;
	siginfo_t si;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	for (;;) {
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			log_error("sigwaitinfo: %s", strerror(errno));
			return 1;
		}
		if (sig == SIGHUP) {
			int rc = log_reopen();
			if (rc < 0)
				log_error("SIGHUP: cannot reopen the log file: %s", strerror(-rc));
			else
				log_info("SIGHUP: log file reopened");
			continue;
		}
		log_info("%s received: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
		return 0;
	}
}

int daemon_run(const struct daemon_opts *o)
{
	gs_daemon d = { .opts = o, .started = time(NULL) };
	const struct gs_config *cfg = o->cfg;
	int rc, code = 1;

	xmlSetStructuredErrorFunc(NULL, xml_log);
	d.state_dir = daemon_state_dir(cfg);
	rc = dirs_make(d.state_dir, 0700, false);
	if (rc < 0) {
		log_error("state_dir %s: cannot create: %s", d.state_dir, strerror(-rc));
		goto err_state;
	}
	log_info("gostream %s starting (config: %s, state: %s)", PACKAGE_VERSION,
		 config_source(&d), d.state_dir);
	char err[1024];
	/* Before the engine starts, so it starts with the values /settings last set. */
	if (settings_open(o->cfg, d.state_dir, &d.settings, err, sizeof err) < 0) {
		log_error("%s", err);
		goto err_state;
	}
	d.api_auth = auth_policy_new(cfg->api_token, NULL);
	d.stream_auth = auth_policy_new(cfg->http_auth[0] ? cfg->api_token : NULL,
					(const char *const *)cfg->http_auth);
	if (!auth_address_is_loopback(cfg->listen_address) && !cfg->http_auth[0])
		log_info("stream port: open to the network on %s (no http_auth users)",
			 cfg->listen_address);

	/* Every object first, then the ports: a handler never sees a handle being made. */
	if (torrents_open(cfg, d.state_dir, &d.torrents) < 0)
		goto err_ports;
	if (start_net(&d) < 0)
		goto err_ports;
	if (start_library(&d) < 0)
		goto err_ports;
	if (disc_open(cfg, d.torrents, d.library, d.state_dir, &d.disc) < 0)
		goto err_ports;
	playability_attach(d.streams);
	if (make_handlers(&d) < 0)
		goto err_ports;
	if (web_start(d.web) < 0)
		goto err_ports;
	if (start_port(&d, "metrics", cfg->metrics_port, &d.metrics) < 0)
		goto err_ports;
	if (start_port(&d, "api", cfg->api_port, &d.api) < 0)
		goto err_ports;
	if (start_port(&d, "stream", cfg->proxy_listen_port, &d.stream) < 0)
		goto err_ports;
	if (cfg->fuse_mount_path[0]) {
#ifdef HAVE_FUSE
		struct fs_opts fo = {
			.mount_path = cfg->fuse_mount_path,
			.allow_other = cfg->fuse_allow_other,
			.attr_timeout = cfg->attr_timeout,
			.entry_timeout = cfg->entry_timeout,
		};
		if (fs_start(&fo, d.library, d.streams, &d.fuse) < 0)
			goto err_ports;
		http_ports_set(&d.ports, "fuse", 1);
		log_info("FUSE: library mounted at %s", cfg->fuse_mount_path);
#else
		log_error("fuse_mount_path is set but this gostream was built with --disable-fuse");
		goto err_ports;
#endif
	}
	log_info("listening: stream http://%s:%u/  api http://%s:%u/  metrics http://%s:%u/",
		 cfg->listen_address, http_server_port(d.stream), cfg->listen_address,
		 http_server_port(d.api), cfg->listen_address, http_server_port(d.metrics));

	struct daemon_ready ready = { cfg, d.torrents, &d.ports };
	if (o->on_ready && o->on_ready(&ready, o->on_ready_arg) < 0)
		goto err_ports;
	code = signal_loop();
	log_info("stopped cleanly");
err_ports:
	stop_all(&d);
	disc_close(d.disc);             /* after the API: no handler uses it any more */
	webhook_destroy(d.webhook);
	web_destroy(d.web);
	playability_attach(NULL);
	if (d.torrents)
		catalog_set_observer(torrents_catalog(d.torrents), NULL, NULL);
	streams_destroy(d.streams);
	library_close(d.library);
	natpmp_stop(d.natpmp);
	blocklist_stop(d.blocklist);
	torrents_close(d.torrents);
	auth_policy_free(d.stream_auth);
	auth_policy_free(d.api_auth);
	settings_close(d.settings);
err_state:
	free(d.state_dir);
	if (__atomic_load_n(&d.restart, __ATOMIC_SEQ_CST) && code == 0)
		reexec();
	return code;
}
