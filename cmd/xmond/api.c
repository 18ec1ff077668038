/* api.c: the JSON API, /metrics and /healthz (api.h).
 *
 * Global state: the bearer token and the stream bound, touched only by the
 * reactor thread (and main() before it starts).
 *
 * Every alert object:
 *   {"key":"42","app_type":"...","instance":"...","alert_id":"7","binnable":true,
 *    "message":"...","state":"open","created":"2026-...Z","updated":"2026-...Z",
 *    "closed":null,"source":"client"|"xmond"}
 * Strings go through json.h, so any bytes a daemon sends come out as valid
 * JSON (invalid UTF-8 replaced, control characters escaped).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "events.h"
#include "forward.h"
#include "http.h"
#include "json.h"
#include "lull/log.h"
#include "metrics.h"
#include "proto.h"
#include "store.h"
#include "web.h"

#define RESP_MAX (512u << 20)
#define FILTER_MAX 4096
#define SEND_CHUNK (128u << 10)   /* a list longer than this goes out as it is written */

static char *api_token;
static size_t stream_max_pending;

void api_init(char *token)
{
	api_token = token;
}

void api_set_token(char *token)
{
	free(api_token);
	api_token = token;
}

static const char *state_name(uint8_t s)
{
	return s == ALERT_OPEN ? "open" : s == ALERT_CLEARED ? "cleared" : "binned";
}

static const char *hist_name(uint8_t k)
{
	static const char *const n[] = { "created", "updated", "cleared", "binned", "notified" };

	return k < 5 ? n[k] : "?";
}

static void alert_json(struct json_writer *w, const struct alert *a)
{
	json_obj_begin(w);
	json_kustr(w, "key", a->key);
	json_kstrn(w, "app_type", a->inst->app_type, a->inst->app_type_len);
	json_kstrn(w, "instance", a->inst->name, a->inst->name_len);
	json_kstrn(w, "alert_id", a->id_text, a->id_len);
	json_kbool(w, "binnable", a->binnable);
	json_kstrn(w, "message", a->msg, a->msg_len);
	json_kstr(w, "state", state_name(a->state));
	json_ktime(w, "created", a->created);
	json_ktime(w, "updated", a->updated);
	json_key(w, "closed");
	if (a->state == ALERT_OPEN)
		json_null(w);
	else
		json_time(w, a->closed);
	json_kstr(w, "source", a->form == FORM_XMOND ? "xmond" : "client");
	json_kstr(w, "form", a->form == FORM_PARENT ? "parent" : a->form == FORM_CHILD ? "child" : "xmond");
}

/* Case-insensitive substring. */
static bool contains(const char *hay, size_t hn, const char *needle, size_t nn)
{
	if (nn == 0)
		return true;
	for (size_t i = 0; i + nn <= hn; i++)
		if (!strncasecmp(hay + i, needle, nn)) {
			/* strncasecmp stops at NUL: check the span has none */
			if (!memchr(hay + i, 0, nn))
				return true;
		}
	return false;
}

struct filter {
	int state;                 /* -1 all, -2 closed, else one state */
	char app_type[FILTER_MAX], instance[FILTER_MAX], q[FILTER_MAX];
	ssize_t at_len, in_len, q_len;  /* -1: not given */
};

static int get_param(const struct http_req *req, const char *name, char *out, ssize_t *len)
{
	ssize_t n = http_query_get(req, name, out, FILTER_MAX);

	if (n == -ENOENT) {
		*len = -1;
		return 0;
	}
	if (n < 0)
		return -1;
	*len = n;
	return 0;
}

static bool match(const struct filter *f, const struct alert *a)
{
	if (f->state >= 0 && a->state != f->state)
		return false;
	if (f->state == -2 && a->state == ALERT_OPEN)
		return false;
	if (f->at_len >= 0 &&
	    ((size_t)f->at_len != a->inst->app_type_len || memcmp(f->app_type, a->inst->app_type, (size_t)f->at_len)))
		return false;
	if (f->in_len >= 0 &&
	    ((size_t)f->in_len != a->inst->name_len || memcmp(f->instance, a->inst->name, (size_t)f->in_len)))
		return false;
	if (f->q_len > 0 && !contains(a->msg, a->msg_len, f->q, (size_t)f->q_len) &&
	    !contains(a->inst->name, a->inst->name_len, f->q, (size_t)f->q_len) &&
	    !contains(a->inst->app_type, a->inst->app_type_len, f->q, (size_t)f->q_len) &&
	    !contains(a->id_text, a->id_len, f->q, (size_t)f->q_len))
		return false;
	return true;
}

static int send_json(struct http_resp *resp, struct json_writer *w, int status)
{
	size_t len;
	char *text = json_take_line(w, &len);

	if (!text) {
		http_resp_error(resp, 500, "cannot build the answer");
		return 0;
	}
	resp->status = status;
	resp->content_type = "application/json";
	(void)http_resp_adopt(resp, text, len);   /* over the cap: a 500 */
	return 0;
}

static int json_error_resp(struct http_resp *resp, int status, const char *msg)
{
	struct json_writer w;

	json_init(&w, 4096);
	json_obj_begin(&w);
	json_kstr(&w, "error", msg);
	json_obj_end(&w);
	return send_json(resp, &w, status);
}

/* A long list goes out in chunks while it is written (http_resp_send_now):
 * the client reads meanwhile, the kernel copies each chunk while it is
 * still in the cache, and the buffer stays small (a 24 MB document written
 * whole into fresh memory cost twice the CPU: every cache line a miss).
 * Its length goes ahead as Content-Length (xmonctl and keep-alive want
 * it), so a list found longer than a chunk is written twice: once to count
 * its bytes, drained as it goes, then to send it; the store cannot change
 * in between (one thread). What the answer shows must be on disk first, so
 * the journal is synced before the first chunk (usually nothing to do: the
 * turn's changes are synced at its end). HEAD is answered whole. */
struct list_out {
	struct json_writer w;
	bool whole;               /* answer at the end of the turn, from one buffer */
	bool counting;            /* longer than a chunk: pass 1 counts the bytes, drained */
	bool sending;             /* pass 2: send the chunks, `length` announced */
	size_t length;            /* pass 1: bytes counted; pass 2: the length announced */
};

/* After each alert. Returns -1 once the answer cannot go on. */
static int list_chunk(struct http_resp *resp, struct list_out *o)
{
	if (o->whole || o->w.len < SEND_CHUNK || json_error(&o->w))
		return 0;
	if (!o->sending) {
		o->counting = true;
		o->length += o->w.len;
		json_drain(&o->w);
		return 0;
	}
	if (!resp->partial && store_sync() < 0) {
		o->whole = true;   /* not durable yet: answer whole, at the end of the turn */
		return 0;
	}
	if (http_resp_send_now(resp, o->w.p, o->w.len, o->length) < 0) {
		o->whole = true;
		return resp->partial ? -1 : 0;
	}
	json_drain(&o->w);
	return 0;
}

/* Write the list (or count it); returns -1 as list_chunk() does. */
static int write_list(const struct filter *f, uint64_t limit, struct http_resp *resp, struct list_out *o)
{
	uint64_t n = 0, total = 0;

	json_init(&o->w, RESP_MAX);
	json_obj_begin(&o->w);
	json_key(&o->w, "alerts");
	json_arr_begin(&o->w);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0 && f->state != ALERT_OPEN && f->state != -1)
			continue;
		if (pass == 1 && f->state == ALERT_OPEN)
			continue;
		for (const struct alert *a = pass == 0 ? store_open_newest() : store_closed_newest(); a; a = a->prev) {
			if (!match(f, a) || total++ >= limit)
				continue;
			alert_json(&o->w, a);
			json_obj_end(&o->w);
			n++;
			if (o->w.len >= SEND_CHUNK && list_chunk(resp, o) < 0) {
				json_free(&o->w);
				return -1;   /* the connection is closed, the answer cut short */
			}
		}
	}
	json_arr_end(&o->w);
	json_kint(&o->w, "count", (int64_t)n);
	json_kint(&o->w, "total", (int64_t)total);
	json_obj_end(&o->w);
	return 0;
}

static int list_alerts(const struct http_req *req, struct http_resp *resp)
{
	static struct filter f;
	char state[16];
	ssize_t sl;
	char lim[24];
	uint64_t limit = UINT64_MAX;
	struct list_out o = { .whole = req->method != HTTP_GET };   /* HEAD: whole */

	if (get_param(req, "app_type", f.app_type, &f.at_len) < 0 ||
	    get_param(req, "instance", f.instance, &f.in_len) < 0 || get_param(req, "q", f.q, &f.q_len) < 0)
		return json_error_resp(resp, 400, "malformed query parameter");
	sl = http_query_get(req, "state", state, sizeof(state));
	if (sl == -ENOENT || (sl >= 0 && !strcmp(state, "open")))
		f.state = ALERT_OPEN;
	else if (sl >= 0 && !strcmp(state, "all"))
		f.state = -1;
	else if (sl >= 0 && !strcmp(state, "closed"))
		f.state = -2;
	else if (sl >= 0 && !strcmp(state, "cleared"))
		f.state = ALERT_CLEARED;
	else if (sl >= 0 && !strcmp(state, "binned"))
		f.state = ALERT_BINNED;
	else
		return json_error_resp(resp, 400, "state must be open, closed, cleared, binned or all");
	sl = http_query_get(req, "limit", lim, sizeof(lim));
	if (sl >= 0) {
		char *end;

		errno = 0;
		limit = strtoull(lim, &end, 10);
		if (sl == 0 || errno || *end || lim[0] < '0' || lim[0] > '9' || limit == 0)
			return json_error_resp(resp, 400, "limit must be a positive number");
	} else if (sl != -ENOENT) {
		return json_error_resp(resp, 400, "limit must be a positive number");
	}

	if (write_list(&f, limit, resp, &o) < 0)
		return -1;
	if (o.counting) {
		size_t len;
		char *text = json_take_line(&o.w, &len);

		if (!text)   /* too large or out of memory: as the whole answer would */
			return json_error_resp(resp, 500, "cannot build the answer");
		free(text);
		o.length += len;
		o.sending = true;
		if (write_list(&f, limit, resp, &o) < 0)
			return -1;
	}
	if (resp->partial) {
		size_t len;
		char *text = json_take_line(&o.w, &len);

		if (!text || http_resp_adopt(resp, text, len) < 0)
			return -1;
		return 0;
	}
	return send_json(resp, &o.w, 200);
}

static struct alert *key_alert(const struct http_req *req, uint64_t *key)
{
	char seg[32], *end;
	ssize_t n = http_path_segment(req, 2, seg, sizeof(seg));

	if (n <= 0 || seg[0] < '0' || seg[0] > '9')
		return NULL;
	errno = 0;
	*key = strtoull(seg, &end, 10);
	if (errno || *end)
		return NULL;
	return store_alert_by_key(*key);
}

static int show_alert(const struct http_req *req, struct http_resp *resp)
{
	uint64_t key;
	struct alert *a = key_alert(req, &key);
	struct json_writer w;

	if (!a)
		return json_error_resp(resp, 404, "no such alert");
	json_init(&w, RESP_MAX);
	alert_json(&w, a);
	json_key(&w, "history");
	json_arr_begin(&w);
	for (uint32_t i = 0; i < a->nhist; i++) {
		const struct hist_ev *e = &a->hist[i];

		json_obj_begin(&w);
		json_kstr(&w, "event", hist_name(e->kind));
		json_ktime(&w, "time", e->t);
		json_kstr(&w, "by", e->who);
		if (e->msg) {
			json_kstrn(&w, "message", e->msg, e->msg_len);
			json_kbool(&w, "binnable", e->binnable);
		}
		json_obj_end(&w);
	}
	json_arr_end(&w);
	json_kbool(&w, "notice_pending", a->notify_pending);
	json_obj_end(&w);
	return send_json(resp, &w, 200);
}

static int bin_alert(const struct http_req *req, struct http_resp *resp)
{
	uint64_t key;
	struct alert *a = key_alert(req, &key);
	struct json_writer w;
	int r;

	if (!a)
		return json_error_resp(resp, 404, "no such alert");
	r = store_alert_bin(key, api_token ? "api (bearer token)" : "api");
	if (r == -EPERM)
		return json_error_resp(resp, 409, "the alert is not binnable");
	if (r == -EALREADY)
		return json_error_resp(resp, 409, a->state == ALERT_BINNED ? "the alert is binned already"
									   : "the alert is cleared already");
	if (r < 0)
		return json_error_resp(resp, 500, "cannot bin the alert");
	store_flush();
	log_info("alert %llu (%.*s, id %.*s) binned through the API", (unsigned long long)key,
		 (int)a->inst->name_len, a->inst->name, (int)a->id_len, a->id_text);
	json_init(&w, RESP_MAX);
	alert_json(&w, a);
	json_kbool(&w, "notice_pending", a->notify_pending);
	json_obj_end(&w);
	return send_json(resp, &w, 200);
}

static void instance_json(struct json_writer *w, const struct instance *in)
{
	json_obj_begin(w);
	json_kstrn(w, "app_type", in->app_type, in->app_type_len);
	json_kstrn(w, "instance", in->name, in->name_len);
	json_kstr(w, "state", in->up ? "up" : "down");
	json_ktime(w, "since", in->since);
	json_kbool(w, "parent", in->parent);
	json_kbool(w, "steady", in->steady);
	json_kint(w, "open_alerts", in->open_alerts);
	json_key(w, "peer");
	if (in->conn)
		json_str(w, proto_peer(in->conn));
	else
		json_null(w);
	json_obj_end(w);
}

/* Live updates (events.h): the objects the API shows, after a change. */
static void publish(const char *kind, struct json_writer *w)
{
	size_t len;
	char *text = json_take(w, &len);

	if (text)
		events_publish(kind, text);
	free(text);
}

void api_publish_alert(const struct alert *a)
{
	struct json_writer w;

	if (!events_wanted()) {
		events_skip();
		return;
	}
	json_init(&w, RESP_MAX);
	alert_json(&w, a);
	json_obj_end(&w);
	publish("alert", &w);
}

void api_publish_expired(const struct alert *a)
{
	struct json_writer w;

	if (!events_wanted()) {
		events_skip();
		return;
	}
	json_init(&w, 4096);
	json_obj_begin(&w);
	json_kustr(&w, "key", a->key);
	json_obj_end(&w);
	publish("expired", &w);
}

void api_publish_instance(const struct instance *in)
{
	struct json_writer w;

	if (!events_wanted()) {
		events_skip();
		return;
	}
	json_init(&w, RESP_MAX);
	instance_json(&w, in);
	publish("instance", &w);
}

static int list_instances(struct http_resp *resp)
{
	struct json_writer w;
	uint64_t n = 0;

	json_init(&w, RESP_MAX);
	json_obj_begin(&w);
	json_key(&w, "instances");
	json_arr_begin(&w);
	for (const struct instance *in = store_instances(); in; in = in->next, n++)
		instance_json(&w, in);
	json_arr_end(&w);
	json_kint(&w, "count", (int64_t)n);
	json_obj_end(&w);
	return send_json(resp, &w, 200);
}

/* Constant-time comparison of the presented token. */
static bool authorized(const struct http_req *req)
{
	const char *p;
	size_t n, tn;
	unsigned diff = 0;

	if (!api_token)
		return true;
	if (!req->authorization.p || req->authorization.len < 7 || strncasecmp(req->authorization.p, "Bearer ", 7))
		return false;
	p = req->authorization.p + 7;
	n = req->authorization.len - 7;
	tn = strlen(api_token);
	diff = n != tn;
	for (size_t i = 0; i < tn; i++)
		diff |= (unsigned)(api_token[i] ^ (i < n ? p[i] : 0));
	return diff == 0;
}

int api_handle(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	size_t nseg = http_path_segments(req);
	char s0[16] = "", s1[16] = "", s3[16] = "";
	bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;
	const char *why = "";

	(void)ctx;
	metrics.http_requests++;
	/* whatever a handler shows must be in the journal first */
	store_flush();
	if (http_path_is(req, "/healthz")) {
		if (!get)
			goto method;
		http_resp_printf(resp, "ok\n");
		return 0;
	}
	if (nseg >= 1)
		(void)http_path_segment(req, 0, s0, sizeof(s0));
	if (strcmp(s0, "api") && !http_path_is(req, "/metrics")) {
		if (web_handle(req, resp))   /* the page's files */
			return 0;
		http_resp_error(resp, 404, "not found");
		return 0;
	}
	if (!authorized(req)) {
		http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"xmond\"");
		return json_error_resp(resp, 401, "a bearer token is required (Authorization: Bearer ...)");
	}
	if (http_path_is(req, "/metrics")) {
		char *text;
		size_t len;

		if (!get)
			goto method;
		len = metrics_render(&text);
		if (!text) {
			http_resp_error(resp, 500, "out of memory");
			return 0;
		}
		resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
		http_resp_adopt(resp, text, len);
		return 0;
	}
	if (web_handle(req, resp))   /* GET /api/session */
		return 0;
	if (http_path_is(req, "/api/events")) {
		if (req->method != HTTP_GET)
			goto method;
		return events_subscribe(req, resp);
	}
	if (nseg >= 2)
		(void)http_path_segment(req, 1, s1, sizeof(s1));
	if (nseg >= 4)
		(void)http_path_segment(req, 3, s3, sizeof(s3));
	if (nseg == 2 && !strcmp(s1, "alerts")) {
		if (!get)
			goto method;
		return list_alerts(req, resp);
	}
	if (nseg == 2 && !strcmp(s1, "forwarding")) {   /* forward.h: Alertmanager replicas */
		struct json_writer w;

		if (!get)
			goto method;
		json_init(&w, RESP_MAX);
		forward_write_json(&w);
		return send_json(resp, &w, 200);
	}
	if (nseg == 2 && !strcmp(s1, "instances")) {
		if (!get)
			goto method;
		return list_instances(resp);
	}
	if (nseg == 3 && !strcmp(s1, "alerts")) {
		if (!get)
			goto method;
		return show_alert(req, resp);
	}
	if (nseg == 4 && !strcmp(s1, "alerts") && !strcmp(s3, "bin")) {
		if (req->method != HTTP_POST) {
			http_resp_header(resp, "Allow", "POST");
			return json_error_resp(resp, 405, "use POST to bin an alert");
		}
		if (web_check_csrf(req, &why) < 0)
			return json_error_resp(resp, 403, why);
		return bin_alert(req, resp);
	}
	return json_error_resp(resp, 404, "no such route");
method:
	http_resp_header(resp, "Allow", "GET, HEAD");
	return json_error_resp(resp, 405, "method not allowed here");
}

void api_set_stream_max_pending(size_t bytes)
{
	stream_max_pending = bytes;
}

struct http_server *api_start_http(struct reactor *r, int fd)
{
	struct http_handlers h = { .handle = api_handle, .stream_closed = events_stream_closed, .ctx = NULL };
	struct http_config cfg = { .stream_max_pending = stream_max_pending };
	struct http_server *s = http_server_start(r, fd, &h, &cfg);

	events_attach(s);
	return s;
}
