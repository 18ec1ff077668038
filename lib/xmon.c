/* xmon.c: the alerting agent's calling side: raise, update, clear, stats,
 * start. The connection side (the "xmon" loop) is lib/xmon_loop.c; the
 * pipe between them is described in lib/xmon_internal.h.
 *
 * Global state: `xmon_ag` (the pipe, the id and drop counters, the copied
 * configuration and the loop's counters), written once by xmon_start() and
 * then only through atomics.
 *
 * Any thread: format into a stack buffer, log, then one non-blocking
 * write of a record (header + message, at most PIPE_BUF, so atomic) to
 * the pipe. No lock, no allocation; a full pipe drops the request.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "internal.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/resolve.h"
#include "lull/xmon_wire.h"
#include "xmon_internal.h"

#define TRUNC_MARK "...[truncated]"

struct xmon_agent xmon_ag = { .pipe_r = -1, .pipe_w = -1, .next_id = 1 };

const char *xmon_app_name(int app)
{
	return app == XMON_PARENT ? xmon_ag.app_type : xmon_ag.child[app - 1];
}

static int submit(uint32_t type, int app, int binnable, int64_t id, int64_t quiet_ns, const char *fmt,
		  va_list ap)
{
	char rec[PIPE_BUF];
	struct xmon_rec_hdr *h = (struct xmon_rec_hdr *)rec;
	char *msg = rec + sizeof(*h);
	int n = 0;

	if (fmt) {
		n = vsnprintf(msg, XMON_MESSAGE_MAX + 1, fmt, ap);
		if (n < 0)
			n = 0;
		if (n > XMON_MESSAGE_MAX) {
			memcpy(msg + XMON_MESSAGE_MAX - (sizeof(TRUNC_MARK) - 1), TRUNC_MARK, sizeof(TRUNC_MARK) - 1);
			n = XMON_MESSAGE_MAX;
		}
	}
	h->id = id;
	h->quiet_ns = quiet_ns;
	h->type = type;
	h->app = (uint8_t)app;
	h->binnable = (uint8_t)binnable;
	h->len = (uint16_t)n;
	if (type == XMON_CLEAR)
		log_info("alert %lld cleared (%s)", (long long)id, xmon_app_name(app));
	else
		log_write(binnable ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "alert %lld%s (%s): %.*s", (long long)id,
			  binnable ? "" : type == XMON_UPDATE ? " updated" : " raised", xmon_app_name(app), n, msg);
	if (!xmon_ag.enabled)
		return 0;
	for (;;) {
		ssize_t w = write(xmon_ag.pipe_w, rec, sizeof(*h) + (size_t)n);

		if (w >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		atomic_fetch_add(&xmon_ag.dropped, 1);
		return -EAGAIN;
	}
}

static int valid_app(int app)
{
	return atomic_load(&xmon_ag.started) && app >= 0 && app <= xmon_ag.nchild;
}

int64_t xmon_raise(int app, const char *fmt, ...)
{
	int64_t id;
	va_list ap;
	int r;

	if (!valid_app(app))
		return -EINVAL;
	id = atomic_fetch_add(&xmon_ag.next_id, 1);
	va_start(ap, fmt);
	r = submit(XMON_CREATE, app, 1, id, 0, fmt, ap);
	va_end(ap);
	return r < 0 ? r : id;
}

int64_t xmon_alert_raise(struct xmon_alert *a, const char *fmt, ...)
{
	int64_t id = atomic_load(&a->id), fresh = 0;
	uint32_t type = XMON_UPDATE;
	va_list ap;
	int r;

	if (!valid_app(a->app))
		return -EINVAL;
	if (id == 0) {
		fresh = atomic_fetch_add(&xmon_ag.next_id, 1);
		if (atomic_compare_exchange_strong(&a->id, &id, fresh)) {
			id = fresh;
			type = XMON_CREATE;
		}
		/* else another thread created it first: update theirs */
	}
	va_start(ap, fmt);
	r = submit(type, a->app, 0, id, type == XMON_CREATE ? a->quiet_ns : 0, fmt, ap);
	va_end(ap);
	return r < 0 ? r : id;
}

static int submit_clear(int app, int64_t id, ...)
{
	va_list ap;
	int r;

	va_start(ap, id);
	r = submit(XMON_CLEAR, app, 0, id, 0, NULL, ap);
	va_end(ap);
	return r;
}

int xmon_alert_clear(struct xmon_alert *a)
{
	int64_t id = atomic_exchange(&a->id, 0);

	if (id == 0 || !valid_app(a->app))
		return 0;
	return submit_clear(a->app, id);
}

uint64_t xmon_dropped(void)
{
	return atomic_load(&xmon_ag.dropped);
}

void xmon_stats(struct xmon_stats *s)
{
	s->connects = atomic_load(&xmon_ag.st.connects);
	s->disconnects = atomic_load(&xmon_ag.st.disconnects);
	s->heartbeats = atomic_load(&xmon_ag.st.heartbeats);
	s->sent = atomic_load(&xmon_ag.st.sent);
	s->received_binned = atomic_load(&xmon_ag.st.binned);
	s->dropped_pipe = atomic_load(&xmon_ag.dropped);
	s->dropped_limit = atomic_load(&xmon_ag.st.dropped_limit);
	s->lookups = atomic_load(&xmon_ag.st.lookups);
	s->local_errors = atomic_load(&xmon_ag.st.local_errors);
	s->connected = atomic_load(&xmon_ag.st.connected);
}

/* ---- start ------------------------------------------------------------------------- */

static void copy_name(char *dst, const char *src)
{
	lull_strlcpy(dst, src ? src : "", XMON_NAME_CAP);
}

int xmon_start(const struct xmon_config *cfg)
{
	struct utsname u;
	int fds[2], r;

	if (!cfg || !cfg->app_type || !cfg->app_type[0])
		return -EINVAL;
	if (atomic_load(&xmon_ag.started))
		return -EALREADY;
	copy_name(xmon_ag.app_type, cfg->app_type);
	for (xmon_ag.nchild = 0; xmon_ag.nchild < XMON_MAX_CHILDREN && cfg->child_types[xmon_ag.nchild]; xmon_ag.nchild++)
		copy_name(xmon_ag.child[xmon_ag.nchild], cfg->child_types[xmon_ag.nchild]);
	xmon_ag.heartbeat_s = cfg->heartbeat_s ? cfg->heartbeat_s : XMON_DEFAULT_HEARTBEAT_S;
	if (xmon_ag.heartbeat_s > 255)
		xmon_ag.heartbeat_s = 255;
	xmon_ag.limit = cfg->binnable_limit ? cfg->binnable_limit : XMON_DEFAULT_BINNABLE_LIMIT;
	if (uname(&u) == 0) {
		char *dot = strchr(u.nodename, '.');

		if (dot)
			*dot = '\0';
		copy_name(xmon_ag.hostname, u.nodename);
	}
	if (cfg->app_instance && cfg->app_instance[0]) {
		copy_name(xmon_ag.app_instance, cfg->app_instance);
	} else {
		snprintf(xmon_ag.app_instance, XMON_NAME_CAP, "%.120s@%.120s", program_invocation_short_name, xmon_ag.hostname);
	}
	xmon_ag.enabled = cfg->server && cfg->server[0];
	r = xmon_crash_load(cfg->crash_dir);
	if (r < 0)
		log_warn("xmon: cannot read the crash directory %s: %s", cfg->crash_dir, strerror(-r));
	if (!xmon_ag.enabled) {
		atomic_store(&xmon_ag.started, true);
		log_info("xmon: no server configured: alerts are only logged");
		if (xmon_crash.pending)
			log_error("%.*s (not sent: no xmon server; the report stays in %s)",
				  (int)strcspn(xmon_crash.msg, "\n"), xmon_crash.msg, cfg->crash_dir);
		return 0;
	}
	copy_name(xmon_ag.server, cfg->server);
	if (resolve_split(xmon_ag.server, xmon_ag.host, sizeof(xmon_ag.host), &xmon_ag.port) < 0)
		return -EINVAL;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* more room before requests are dropped (best effort) */
	fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	xmon_ag.pipe_r = fds[0];
	xmon_ag.pipe_w = fds[1];
	/* Everything the loop needs is allocated here, so that a local
	 * failure is this call's error and never the loop's. */
	r = xmon_loop_prepare();
	if (r < 0)
		goto fail;
	atomic_store(&xmon_ag.started, true);
	r = loop_spawn("xmon", xmon_loop, NULL);
	if (r < 0) {
		atomic_store(&xmon_ag.started, false);
		xmon_loop_release();
		goto fail;
	}
	return 0;
fail:
	close(xmon_ag.pipe_r);
	close(xmon_ag.pipe_w);
	xmon_ag.pipe_r = xmon_ag.pipe_w = -1;
	return r;
}
