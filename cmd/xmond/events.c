/* cmd/xmond/events.c: server-sent events for the web page (see events.h).
 *
 * Global state: the ring below, owned by the loop thread.
 *
 * The ring is an array of slots used in circular order; each slot keeps
 * its buffer when it is reused, so a steady stream of events allocates
 * nothing once the slots have grown to the usual event size. Each event is
 * stored already formatted as the SSE text, so a replay is a copy and a
 * publish formats once for every stream.
 */
#include "events.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "http.h"
#include "lull/log.h"
#include "lull/time.h"

struct ev {
	uint64_t seq;
	char *text;
	size_t len, cap;
};

static struct {
	struct ev *slot;
	size_t nslots;          /* capacity */
	size_t head;            /* index of the oldest event */
	size_t count;           /* events held */
	size_t bytes, max_bytes;
	uint64_t boot, seq;     /* seq: id of the last event published */
	struct http_server *srv;
	size_t streams;
	int64_t last_close;     /* CLOCK_MONOTONIC ns when the last stream closed */
	struct events_stats st;
	char *tmp;              /* scratch for an event that is not kept */
	size_t tmp_cap;
} E;

static uint64_t draw_boot(void)
{
	uint64_t b = 0;
	struct timespec ts;

	if (getrandom(&b, sizeof b, GRND_NONBLOCK) == (ssize_t)sizeof b && b)
		return b;
	/* no entropy yet (early boot): the clock still differs per start */
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ 1;
}

int events_init(size_t max_events, size_t max_bytes)
{
	events_free();
	E.nslots = max_events ? max_events : EVENTS_RING_DEFAULT;
	E.max_bytes = max_bytes ? max_bytes : EVENTS_RING_BYTES_DEFAULT;
	E.slot = calloc(E.nslots, sizeof *E.slot);
	if (!E.slot) {
		E.nslots = 0;
		return -ENOMEM;
	}
	E.boot = draw_boot();
	return 0;
}

void events_attach(struct http_server *s)
{
	E.srv = s;
}

static int fmt_id(char *buf, size_t cap, uint64_t seq)
{
	return snprintf(buf, cap, "%016" PRIx64 "-%" PRIu64, E.boot, seq);
}

void events_last_id(char *buf, size_t cap)
{
	fmt_id(buf, cap, E.seq);
}

/* Size of the SSE text for kind/json: "id: ...\nevent: K\n" then one
 * "data: " line per line of json, then the blank line. */
static size_t sse_len(const char *kind, const char *json, size_t jlen)
{
	size_t n = 4 + 40 + 1 + 7 + strlen(kind) + 1 + 1, lines = 1;

	for (size_t i = 0; i < jlen; i++)
		lines += json[i] == '\n';
	return n + jlen + lines * 7;
}

static size_t sse_format(char *out, uint64_t seq, const char *kind, const char *json, size_t jlen)
{
	const char *s = json, *end = json + jlen;
	char *p = out;

	p += sprintf(p, "id: ");
	p += fmt_id(p, 41, seq);
	p += sprintf(p, "\nevent: %s\n", kind);
	for (;;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;

		/* a CR would end the line for the client; JSON writers escape
		 * it, so it only comes from a caller's bug: drop it */
		memcpy(p, "data: ", 6);
		p += 6;
		for (; s < le; s++)
			if (*s != '\r')
				*p++ = *s;
		*p++ = '\n';
		if (!nl)
			break;
		s = nl + 1;
	}
	*p++ = '\n';
	return (size_t)(p - out);
}

static void drop_oldest(void)
{
	struct ev *e = &E.slot[E.head];

	E.bytes -= e->len;
	e->len = 0;
	E.head = (E.head + 1) % E.nslots;
	E.count--;
}

static char *grow(char **p, size_t *cap, size_t need)
{
	if (*cap < need) {
		char *n = realloc(*p, need);

		if (!n)
			return NULL;
		*p = n;
		*cap = need;
	}
	return *p;
}

void events_publish(const char *kind, const char *json)
{
	size_t jlen = strlen(json), need = sse_len(kind, json, jlen), len;
	uint64_t seq = ++E.seq;
	struct ev *e;
	char *buf;

	E.st.published++;
	if (!E.nslots || need > E.max_bytes / 4) {
		/* not kept: a later reconnect that needs it resyncs */
		while (E.count)
			drop_oldest();
		if (!grow(&E.tmp, &E.tmp_cap, need)) {
			log_error("events: out of memory for a %zu-byte event", need);
			return;
		}
		len = sse_format(E.tmp, seq, kind, json, jlen);
		if (E.srv)
			http_server_broadcast(E.srv, E.tmp, len);
		return;
	}
	if (E.count == E.nslots)
		drop_oldest();
	e = &E.slot[(E.head + E.count) % E.nslots];
	buf = grow(&e->text, &e->cap, need);
	if (!buf) {
		/* keep the ring consistent: everything before is unreplayable */
		while (E.count)
			drop_oldest();
		log_error("events: out of memory for a %zu-byte event", need);
		return;
	}
	len = sse_format(buf, seq, kind, json, jlen);
	e->seq = seq;
	e->len = len;
	E.count++;
	E.bytes += len;
	while (E.bytes > E.max_bytes && E.count > 1)
		drop_oldest();
	if (E.srv)
		http_server_broadcast(E.srv, e->text, e->len);
}

bool events_wanted(void)
{
	return E.streams > 0 || (E.last_close && time_mono_ns() - E.last_close < EVENTS_LINGER_NS);
}

void events_skip(void)
{
	E.seq++;
	E.st.skipped++;
	while (E.count)
		drop_oldest();
}

void events_stream_closed(void *ctx, struct http_conn *c)
{
	(void)ctx;
	(void)c;
	if (E.streams && --E.streams == 0)
		E.last_close = time_mono_ns();
}

/* Parse "<16 hex>-<decimal>". Returns 0 or -EINVAL. */
static int parse_id(const char *s, size_t n, uint64_t *boot, uint64_t *seq)
{
	uint64_t b = 0, q = 0;
	size_t i;

	if (n < 18 || n > 16 + 1 + 20 || s[16] != '-')
		return -EINVAL;
	for (i = 0; i < 16; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return -EINVAL;
		b = b << 4 | (uint64_t)v;
	}
	for (i = 17; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || q > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		q = q * 10 + (uint64_t)(s[i] - '0');
	}
	*boot = b;
	*seq = q;
	return 0;
}

static int marker(struct http_resp *resp, const char *kind)
{
	char id[48];

	fmt_id(id, sizeof id, E.seq);
	return http_resp_printf(resp, "id: %s\nevent: %s\ndata: {\"id\":\"%s\"}\n\n", id, kind, id);
}

int events_subscribe(const struct http_req *req, struct http_resp *resp)
{
	uint64_t boot, last;
	int rc;

	resp->cache_control = "no-store";
	rc = http_resp_printf(resp, "retry: 1000\n\n");
	E.st.subscribed++;
	if (!req->last_event_id.p) {
		rc = rc ? rc : marker(resp, "hello");
	} else if (parse_id(req->last_event_id.p, req->last_event_id.len, &boot, &last) < 0 ||
		   boot != E.boot || last > E.seq) {
		/* another process (xmond restarted) or garbage */
		E.st.resynced++;
		rc = rc ? rc : marker(resp, "resync");
	} else if (last == E.seq) {
		E.st.replayed++;   /* nothing missed */
	} else {
		uint64_t oldest = E.count ? E.slot[E.head].seq : E.seq + 1;
		size_t bytes = 0, i, from;

		if (last + 1 < oldest) {
			E.st.resynced++;
			rc = rc ? rc : marker(resp, "resync");
		} else {
			from = (size_t)(last + 1 - oldest);
			for (i = from; i < E.count; i++)
				bytes += E.slot[(E.head + i) % E.nslots].len;
			if (bytes > EVENTS_REPLAY_MAX) {
				E.st.resynced++;
				rc = rc ? rc : marker(resp, "resync");
			} else {
				E.st.replayed++;
				for (i = from; i < E.count && !rc; i++) {
					const struct ev *e = &E.slot[(E.head + i) % E.nslots];

					rc = http_resp_append(resp, e->text, e->len);
				}
			}
		}
	}
	if (rc)
		return rc;
	rc = http_resp_stream(resp);
	if (rc == 0)
		E.streams++;
	return rc;
}

void events_stats(struct events_stats *st)
{
	*st = E.st;
	if (E.srv) {
		struct http_stats hs;

		http_server_stats(E.srv, &hs);
		st->dropped = hs.dropped_streams;
		st->bytes_sent = hs.stream_bytes;
	}
	st->ring_events = E.count;
	st->ring_bytes = E.bytes;
	st->streams = E.streams;
}

void events_free(void)
{
	for (size_t i = 0; i < E.nslots; i++)
		free(E.slot[i].text);
	free(E.slot);
	free(E.tmp);
	memset(&E, 0, sizeof E);
}
