/* xmond: the xmon alert server.
 *
 * main() reads the flags and the config file, takes the state directory,
 * replays the journal, binds both listeners, then runs everything on one
 * reactor loop thread ("xmond") while the main thread waits for signals
 * (loop_main). The journal's fdatasync and the writing of compaction's
 * snapshot run on a second loop thread ("xmond-sync", journal_sync_loop),
 * so the reactor never waits for the disk. READY=1 goes to systemd once the listeners are bound and the
 * journal replayed. See docs/xmond.md.
 *
 * Global state: the options (written before the loop starts, then only
 * by the reload callback on the reactor thread) and the pieces main()
 * hands to the loop.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api.h"
#include "events.h"
#include "forward.h"
#include "http.h"
#include "journal.h"
#include "lull/crash.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/notify.h"
#include "lull/reactor.h"
#include "lull/time.h"
#include "metrics.h"
#include "proto.h"
#include "store.h"
#include "web.h"

#define EXIT_USAGE 100
#define EXIT_SYSTEM 111

enum kind { K_STR, K_DUR, K_NUM, K_LIST };

struct opt {
	const char *name, *arg, *help;
	enum kind kind;
	bool reload;
	const char *def;
	/* values */
	const char *s;
	int64_t v;
	const char **list;     /* K_LIST: every value given (repeatable) */
	size_t nlist;
	bool list_default;     /* the list holds the default: the first value given replaces it */
	bool set_by_flag;
};

#define OPT(n, a, h, k, r, d) { .name = (n), .arg = (a), .help = (h), .kind = (k), .reload = (r), .def = (d) }

static struct opt opts[] = {
	OPT("listen", "ADDR:PORT", "protocol listener (xmon clients connect here)", K_STR, false, "0.0.0.0:5004"),
	OPT("http", "ADDR:PORT", "HTTP listener: JSON API, /metrics, /healthz; a non-loopback address needs --http-token",
	    K_STR, false, "127.0.0.1:8080"),
	OPT("http-token", "FILE", "file holding a bearer token that /api/* and /metrics require (re-read on SIGHUP)",
	    K_STR, true, ""),
	OPT("stream-max-pending", "BYTES", "an event stream (GET /api/events) with more unsent bytes is dropped; the page "
	    "reconnects (0: 1 MiB)", K_NUM, true, "1048576"),
	OPT("state-dir", "DIR", "journal, snapshot and lock file", K_STR, false, "./xmond-state"),
	OPT("down-grace", "DURATION", "how long an instance may be down before xmond raises \"<instance> is down\"",
	    K_DUR, true, "60s"),
	OPT("history", "DURATION", "how long cleared and binned alerts stay, with their history", K_DUR, true, "7d"),
	OPT("max-string", "BYTES", "longest string accepted; longer messages are cut, longer names refused", K_NUM,
	  true, "4096"),
	OPT("max-alerts", "N", "open alerts per instance; more are refused (logged)", K_NUM, true, "10000"),
	OPT("max-conns", "N", "protocol connections at once", K_NUM, true, "16384"),
	OPT("logon-timeout", "DURATION", "a new connection must log on within this", K_DUR, true, "10s"),
	OPT("compact-factor", "N", "write a snapshot when the journal is N times the live state (0: never)", K_NUM,
	  true, "4"),
	OPT("compact-min", "BYTES", "compact only a journal larger than this", K_NUM, true, "8388608"),
	OPT("log", "FILE", "log file (default: stderr; SIGHUP reopens it)", K_STR, false, ""),
	OPT("term-deadline", "DURATION", "on SIGTERM, how long connections may take to close", K_DUR, false, "5s"),
	OPT("alertmanager", "URL", "forward alerts to this Alertmanager (http://HOST:PORT[/PREFIX]); repeat it for every "
	    "replica of a cluster", K_LIST, false, ""),
	OPT("severity", "APP_TYPE=SEV", "severity label of the alerts of an app type; *=SEV sets the default",
	    K_LIST, false, "*=warning"),
	OPT("external-url", "URL", "xmond's page as people reach it, for the links in forwarded alerts (default: from --http)",
	    K_STR, false, ""),
	OPT("alertmanager-resend", "DURATION", "re-send open alerts this often; each says it ends 3 periods later", K_DUR,
	    false, "60s"),
	OPT("alertmanager-timeout", "DURATION", "one request to a replica (connect, send, answer) may take this long",
	    K_DUR, false, "10s"),
	OPT("alertmanager-backoff", "DURATION", "longest wait between retries to a failing replica", K_DUR, false, "30s"),
	OPT("alertmanager-queue", "N", "alerts queued per replica; when full the oldest open alert is dropped", K_NUM,
	    false, "100000"),
	OPT("alertmanager-batch", "N", "alerts per request (a request also stops growing past 1 MiB)", K_NUM, false,
	    "1000"),
	OPT("config", "FILE", "read `key = value` lines (keys are these option names); flags win", K_STR, false, ""),
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static struct opt *opt_find(const char *name)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (!strcmp(opts[i].name, name))
			return &opts[i];
	return NULL;
}

static const char *S(const char *name)
{
	return opt_find(name)->s;
}

static int64_t V(const char *name)
{
	return opt_find(name)->v;
}

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_error("%s", buf);
	if (log_fd() != STDERR_FILENO)
		fprintf(stderr, "xmond: %s\n", buf);
	_exit(status);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: xmond [OPTION]...\n"
		   "The xmon alert server: xmon clients (lull daemons, xmonctl, TernFS C++ and Go\n"
		   "clients) log on to --listen; people and scripts use the JSON API on --http.\n\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char head[64];

		snprintf(head, sizeof(head), "--%s %s", opts[i].name, opts[i].arg);
		fprintf(f, "  %-26s %s", head, opts[i].help);
		if (opts[i].def[0])
			fprintf(f, " [%s]", opts[i].def);
		if (opts[i].reload)
			fprintf(f, " (reloadable)");
		if (opts[i].kind == K_LIST)
			fprintf(f, " (repeatable)");
		fputc('\n', f);
	}
	fprintf(f, "  %-26s %s\n\n", "--help", "this text");
	fprintf(f, "DURATION is a number with a unit: ms, s, m, h or d (a bare number is seconds).\n"
		   "Signals: SIGTERM/SIGINT stop (journal synced), SIGHUP reopens the log and\n"
		   "re-reads the config file's reloadable keys, SIGUSR2 toggles debug logging.\n"
		   "Exit status: 0 stopped, 100 usage or permanent error (bad flag, state directory\n"
		   "in use or corrupt), 111 temporary or system error.\n");
}

/* Parse a value for o; returns 0 or -EINVAL. */
static int opt_value(struct opt *o, const char *val)
{
	char *end;
	int64_t v;

	if (o->kind == K_STR) {
		o->s = val;
		return 0;
	}
	if (o->kind == K_LIST) {
		const char **l;

		if (!val[0])
			return 0;
		if (o->list_default)
			o->nlist = 0;
		o->list_default = val == o->def;
		l = realloc(o->list, (o->nlist + 1) * sizeof(*l));
		if (!l)
			return -EINVAL;
		l[o->nlist++] = val;
		o->list = l;
		return 0;
	}
	errno = 0;
	v = strtoll(val, &end, 10);
	if (errno || end == val || v < 0)
		return -EINVAL;
	if (o->kind == K_NUM) {
		if (*end)
			return -EINVAL;
		o->v = v;
		return 0;
	}
	if (!*end || !strcmp(end, "s"))
		v *= LULL_NSEC_PER_SEC;
	else if (!strcmp(end, "ms"))
		v *= LULL_NSEC_PER_MSEC;
	else if (!strcmp(end, "m"))
		v *= 60 * LULL_NSEC_PER_SEC;
	else if (!strcmp(end, "h"))
		v *= 3600 * LULL_NSEC_PER_SEC;
	else if (!strcmp(end, "d"))
		v *= 86400 * LULL_NSEC_PER_SEC;
	else
		return -EINVAL;
	if (v < 0 || v > 3650 * 86400 * LULL_NSEC_PER_SEC)
		return -EINVAL;
	o->v = v;
	return 0;
}

/* Read the config file: keys not set by a flag take its values. With
 * only_reload, only reloadable keys are taken (SIGHUP). Returns 0, or -1
 * with err set. The file's strings are kept (leaked on reload: a few
 * bytes per SIGHUP). */
static int read_config(const char *path, bool only_reload, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	int lineno = 0;

	if (!f) {
		snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *eq, *v, *e;
		struct opt *o;

		lineno++;
		k += strspn(k, " \t");
		if (*k == '#' || *k == '\n' || *k == '\0')
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: want `key = value`", path, lineno);
			goto fail;
		}
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		v = eq + 1 + strspn(eq + 1, " \t");
		for (e = v + strlen(v); e > v && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		o = opt_find(k);
		if (!o || !strcmp(k, "config")) {
			snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, k);
			goto fail;
		}
		if (o->set_by_flag || (only_reload && !o->reload))
			continue;
		if (opt_value(o, o->kind == K_STR || o->kind == K_LIST ? strdup(v) : v) < 0) {
			snprintf(err, errlen, "%s:%d: bad value '%s' for %s", path, lineno, v, k);
			goto fail;
		}
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

/* Read the bearer token; NULL with err set on failure. */
static char *read_token(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char buf[1024];
	size_t n;

	if (!f) {
		snprintf(err, errlen, "cannot read --http-token %s: %s", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < 16) {
		snprintf(err, errlen, "--http-token %s: the token must be one line of at least 16 bytes", path);
		return NULL;
	}
	return strdup(buf);
}

/* store_config.on_alert: the page's live updates and the forwarding. */
static void on_alert(const struct alert *a)
{
	api_publish_alert(a);
	forward_alert(a);
}

static void configs(struct store_config *sc, struct proto_config *pc)
{
	*sc = (struct store_config){
		.down_grace_ns = V("down-grace"),
		.history_ns = V("history"),
		.max_alerts = (uint32_t)V("max-alerts"),
		.compact_factor = (unsigned)V("compact-factor"),
		.compact_min = (uint64_t)V("compact-min"),
		.notify = proto_notify,
		.kick = proto_kick,
		.on_alert = on_alert,
		.on_instance = api_publish_instance,
		.on_expire = api_publish_expired,
	};
	api_set_stream_max_pending((size_t)V("stream-max-pending"));
	*pc = (struct proto_config){
		.max_string = (size_t)V("max-string"),
		.max_conns = (size_t)V("max-conns"),
		.logon_timeout_ns = V("logon-timeout"),
	};
}

static int check_values(char *err, size_t errlen)
{
	if (V("max-string") < 16 || V("max-string") > 65535) {
		snprintf(err, errlen, "--max-string must be 16..65535");
		return -1;
	}
	if (V("max-alerts") < 1 || V("max-conns") < 1 || V("logon-timeout") < LULL_NSEC_PER_MSEC) {
		snprintf(err, errlen, "--max-alerts, --max-conns and --logon-timeout must be positive");
		return -1;
	}
	return 0;
}

/* ---- the loop --------------------------------------------------------------------- */

static struct reactor *R;
static struct http_server *H;
static struct journal *J;
static struct reactor_watch reload_w;
static int reload_fd = -1;

static void reload_cb(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	uint64_t n;
	char err[512];
	struct store_config sc;
	struct proto_config pc;
	char *token = NULL;

	(void)r;
	(void)ev;
	if (read(w->fd, &n, sizeof(n)) < 0)
		return;
	if (S("config")[0] && read_config(S("config"), true, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	if (check_values(err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	if (S("http-token")[0]) {
		token = read_token(S("http-token"), err, sizeof(err));
		if (!token) {
			log_error("reload: %s; keeping the running configuration", err);
			return;
		}
	}
	configs(&sc, &pc);
	store_reconfigure(&sc);
	proto_reconfigure(&pc);
	if (H)
		http_server_set_stream_max_pending(H, (size_t)V("stream-max-pending"));
	if (token)
		api_set_token(token);
	log_info("reload: configuration re-read");
}

/* SIGHUP hook (main thread, after the log was reopened): wake the
 * reactor, which re-reads the config file on its own thread. */
static void request_reload(void *arg)
{
	uint64_t one = 1;

	(void)arg;
	if (reload_fd >= 0 && write(reload_fd, &one, sizeof(one)) < 0)
		log_warn("reload: %s", strerror(errno));
}

static int xmond_loop(void *arg)
{
	int r;

	(void)arg;
	r = reactor_run(R);
	proto_stop();
	forward_stop();
	events_attach(NULL);
	if (H)
		http_server_stop(H);
	H = NULL;
	if (store_sync() < 0)
		log_error("final journal sync failed");
	if (r < 0) {
		log_error("reactor: %s", strerror(-r));
		return EXIT_SYSTEM;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct option lo[NOPTS + 2];
	char err[1024], pbound[80], hbound[80];
	struct store_config sc;
	struct proto_config pc;
	struct journal_stats js;
	struct store_stats ss;
	int64_t t0 = time_mono_ns(), t_replay;
	int c, r, pfd, hfd;
	char *token = NULL;

	for (size_t i = 0; i < NOPTS; i++) {
		lo[i] = (struct option){ opts[i].name, required_argument, NULL, (int)(i + 1) };
		if (opt_value(&opts[i], opts[i].def) < 0)
			abort();
	}
	lo[NOPTS] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[NOPTS + 1] = (struct option){ NULL, 0, NULL, 0 };

	r = loop_init();
	if (r < 0) {
		fprintf(stderr, "xmond: cannot set up signals: %s\n", strerror(-r));
		return EXIT_SYSTEM;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c < 1 || c > (int)NOPTS) {
			fprintf(stderr, "xmond: unknown or incomplete option '%s' (see --help)\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (opt_value(&opts[c - 1], optarg) < 0) {
			fprintf(stderr, "xmond: bad value '%s' for --%s (%s)\n", optarg, opts[c - 1].name,
				opts[c - 1].kind == K_DUR ? "a number and a unit: ms s m h d" : "a number");
			return EXIT_USAGE;
		}
		opts[c - 1].set_by_flag = true;
	}
	if (optind < argc) {
		fprintf(stderr, "xmond: unexpected argument '%s' (see --help)\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (S("config")[0] && read_config(S("config"), false, err, sizeof(err)) < 0) {
		fprintf(stderr, "xmond: %s\n", err);
		return EXIT_USAGE;
	}
	r = log_open(S("log")[0] ? S("log") : NULL);
	if (r < 0) {
		fprintf(stderr, "xmond: cannot open log file %s: %s\n", S("log"), strerror(-r));
		return EXIT_SYSTEM;
	}
	r = crash_init();
	if (r < 0)
		log_warn("crash reports disabled: %s", strerror(-r));
	if (check_values(err, sizeof(err)) < 0)
		die(EXIT_USAGE, "%s", err);
	if (S("http-token")[0]) {
		token = read_token(S("http-token"), err, sizeof(err));
		if (!token)
			die(EXIT_USAGE, "%s", err);
	} else if (!net_is_loopback(S("http"))) {
		die(EXIT_USAGE, "--http %s is not a loopback address: give --http-token FILE so that the API is not open to the network",
		    S("http"));
	}

	/* descriptors for --max-conns connections */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

	R = reactor_new();
	if (!R)
		die(EXIT_SYSTEM, "cannot create the reactor: %s", strerror(errno));
	r = journal_open(&J, S("state-dir"), err, sizeof(err));
	if (r < 0)
		die(r == -EBUSY ? EXIT_USAGE : EXIT_SYSTEM, "%s", err);
	configs(&sc, &pc);
	store_init(R, J, &sc);
	metrics_set_journal(J);
	struct timespec c0, c1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	r = journal_replay(J, store_apply, NULL, err, sizeof(err));
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	if (r < 0)
		die(r == -EBADMSG ? EXIT_USAGE : EXIT_SYSTEM, "cannot start from %s: %s", S("state-dir"), err);
	t_replay = time_mono_ns();

	pfd = net_listen(S("listen"), pbound, sizeof(pbound), err, sizeof(err));
	if (pfd < 0)
		die(pfd == -EINVAL ? EXIT_USAGE : EXIT_SYSTEM, "protocol: %s", err);
	hfd = net_listen(S("http"), hbound, sizeof(hbound), err, sizeof(err));
	if (hfd < 0)
		die(hfd == -EINVAL ? EXIT_USAGE : EXIT_SYSTEM, "http: %s", err);
	if (proto_start(R, pfd, &pc) < 0)
		die(EXIT_SYSTEM, "cannot watch the protocol listener");
	api_init(token);
	r = web_init();
	if (r < 0 || (r = events_init(0, 0)) < 0)
		die(EXIT_SYSTEM, "cannot set up the web page: %s", strerror(-r));
	H = api_start_http(R, hfd);
	if (!H)
		die(EXIT_SYSTEM, "cannot start the HTTP server: %s", strerror(errno));
	reload_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (reload_fd < 0 || reactor_watch_add(R, &reload_w, reload_fd, EPOLLIN, reload_cb) < 0)
		die(EXIT_SYSTEM, "cannot set up reloads: %s", strerror(errno));
	struct forward_config fc = {
		.urls = opt_find("alertmanager")->list,
		.nurls = opt_find("alertmanager")->nlist,
		.severity = opt_find("severity")->list,
		.nseverity = opt_find("severity")->nlist,
		.external_url = S("external-url"),
		.http_listen = hbound,
		.resend_ns = V("alertmanager-resend"),
		.timeout_ns = V("alertmanager-timeout"),
		.backoff_max_ns = V("alertmanager-backoff"),
		.queue_max = (size_t)V("alertmanager-queue"),
		.batch_max = (size_t)V("alertmanager-batch"),
	};
	r = forward_init(R, &fc, err, sizeof(err));
	if (r < 0)
		die(r == -EINVAL || r == -ENOENT ? EXIT_USAGE : EXIT_SYSTEM, "%s", err);
	r = store_sync_loop_init();
	if (r < 0)
		die(EXIT_SYSTEM, "cannot set up the journal's sync loop: %s", strerror(-r));
	store_start();
	forward_start();

	journal_get_stats(J, &js);
	store_get_stats(&ss);
	log_info("xmond ready: protocol on %s, HTTP on %s, state in %s (%llu records replayed in %.1f ms, "
		 "%.1f ms CPU; %llu open alerts, %llu instances)",
		 pbound, hbound, S("state-dir"), (unsigned long long)js.records,
		 (double)(t_replay - t0) / 1e6,
		 (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6,
		 (unsigned long long)ss.alerts_open,
		 (unsigned long long)ss.instances);
	loop_on_reload(request_reload, NULL);
	r = loop_spawn("xmond-sync", journal_sync_loop, J);
	if (r < 0)
		die(EXIT_SYSTEM, "cannot start the sync loop: %s", strerror(-r));
	r = loop_spawn("xmond", xmond_loop, NULL);
	if (r < 0)
		die(EXIT_SYSTEM, "cannot start the loop: %s", strerror(-r));
	notify_status("serving: protocol on %s, HTTP on %s", pbound, hbound);
	notify_ready();

	r = loop_main(LOOP_TERM_GRACEFUL, V("term-deadline"));
	if (r < 0)
		die(EXIT_SYSTEM, "cannot wait for signals: %s", strerror(-r));
	journal_close(J);
	log_info("xmond stopped");
	return r;
}
