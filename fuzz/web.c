/* fuzz/web.c: libFuzzer harness for what xmond's page side reads from any
 * HTTP client (cmd/xmond/web.c, events.c): the CSRF check's headers
 * (Origin, Sec-Fetch-Site, Host, X-CSRF-Token), If-None-Match, and
 * Last-Event-ID; and for the SSE framing of whatever JSON text a caller
 * publishes.
 *
 * The input is split at '\n' into Origin, Sec-Fetch-Site, Host,
 * X-CSRF-Token, Last-Event-ID, If-None-Match and the rest (a field that is
 * exactly "-" is absent); the first byte's low bit picks GET or POST.
 * Checks, any failure aborts:
 *  - web_check_csrf() lets a request through only when it carries neither
 *    Origin nor Sec-Fetch-Site, or carries the process's token (which the
 *    fuzzer cannot know: so never, in practice) from the same origin;
 *    never through for anything but POST;
 *  - events_subscribe() always opens a stream that starts with
 *    "retry: 1000\n\n" and then holds only whole events, each of "id: ",
 *    "event: " and "data: " lines, ids of the form <16 hex>-<decimal>;
 *  - the rest, published as an event, comes back by replay as data lines
 *    with no CR, whose text (lines joined by '\n') is the input minus CRs;
 *  - every file of the page answers 200 or 304, and 304 only when
 *    If-None-Match holds its ETag or "*".
 *
 * The three files are included (fuzz/run links only lib/); the server half
 * of http.c is linked against lib/reactor.c and not run. Seeds:
 * fuzz/corpus/web/.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/xmond/http.c"
#include "../cmd/xmond/web.c"
#include "../cmd/xmond/events.c"
#include "feed.h"

static void resp_reset(struct http_resp *resp, const struct http_req *req)
{
	free(resp->body.p);
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	resp->body.max = 1u << 24;
	resp->req = req;
}

static bool is_id(const char *p, size_t n)
{
	if (n < 18 || p[16] != '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (i != 16 && !(i < 16 ? strchr("0123456789abcdef", p[i]) && p[i] : p[i] >= '0' && p[i] <= '9'))
			return false;
	return true;
}

/* The stream's text: the preamble, then whole events only. Returns the
 * data of the last event, joined, in data (malloc'd). */
static void check_stream(const char *s, size_t n, char **data)
{
	const char *p = s, *end = s + n;

	CHECK(n >= 13 && !memcmp(s, "retry: 1000\n\n", 13));
	p += 13;
	*data = NULL;
	while (p < end) {
		size_t dl = 0, lines = 0;
		char *d = malloc(n + 1);

		CHECK(d);
		CHECK((size_t)(end - p) > 4 && !memcmp(p, "id: ", 4));
		for (;;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			CHECK(nl);   /* whole lines */
			if (nl == p) {   /* blank line: end of the event */
				p++;
				break;
			}
			CHECK(!memchr(p, '\r', (size_t)(nl - p)));
			if (!memcmp(p, "id: ", 4)) {
				CHECK(is_id(p + 4, (size_t)(nl - p - 4)));
			} else if (!memcmp(p, "event: ", 7)) {
				CHECK(nl - p > 7);
			} else {
				CHECK(!memcmp(p, "data: ", 6));
				if (lines++)
					d[dl++] = '\n';
				memcpy(d + dl, p + 6, (size_t)(nl - p - 6));
				dl += (size_t)(nl - p - 6);
			}
			p = nl + 1;
		}
		d[dl] = 0;
		free(*data);
		*data = d;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	static bool ready;
	char *in, *field[7] = { 0 }, *p, *data;
	struct http_req req;
	struct http_resp resp = { 0 };
	char id[48];
	size_t nf = 0;
	const char *why = NULL;

	if (!ready) {
		CHECK(web_init() == 0);
		CHECK(events_init(16, 1u << 16) == 0);
		ready = true;
	}
	if (len == 0)
		return 0;
	in = malloc(len);
	CHECK(in);
	memcpy(in, buf + 1, len - 1);
	in[len - 1] = 0;
	for (p = in; nf < 6; nf++) {
		char *nl = strchr(p, '\n');

		field[nf] = p;
		if (!nl)
			break;
		*nl = 0;
		p = nl + 1;
	}
	if (nf == 6)
		field[6] = p;

	memset(&req, 0, sizeof(req));
	req.method = buf[0] & 1 ? HTTP_POST : HTTP_GET;
#define FIELD(i) ((struct http_str){ field[i] && strcmp(field[i], "-") ? field[i] : NULL, \
				     field[i] && strcmp(field[i], "-") ? strlen(field[i]) : 0 })
	req.origin = FIELD(0);
	req.sec_fetch_site = FIELD(1);
	req.host = FIELD(2);
	req.csrf_token = FIELD(3);
	req.last_event_id = FIELD(4);
	req.if_none_match = FIELD(5);

	/* CSRF */
	if (web_check_csrf(&req, &why) == 0) {
		CHECK(req.method == HTTP_POST);
		CHECK((!req.origin.p && !req.sec_fetch_site.p) ||
		      (req.csrf_token.p && !strcmp(req.csrf_token.p, web_csrf_token())));
	} else {
		CHECK(why && *why);
	}

	/* the page's files */
	req.method = HTTP_GET;
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		req.target = req.path = (struct http_str){ assets[i].path, strlen(assets[i].path) };
		resp_reset(&resp, &req);
		CHECK(web_handle(&req, &resp));
		CHECK(resp.status == 200 || resp.status == 304);
		if (resp.status == 304)
			CHECK(req.if_none_match.p &&
			      (strstr(req.if_none_match.p, assets[i].etag) || strchr(req.if_none_match.p, '*')));
		else
			CHECK(resp.body.len == (size_t)(assets[i].end - assets[i].p));
	}

	/* Last-Event-ID */
	req.target = req.path = (struct http_str){ "/api/events", 11 };
	resp_reset(&resp, &req);
	CHECK(events_subscribe(&req, &resp) == 0 && resp.stream);
	check_stream(resp.body.p, resp.body.len, &data);
	free(data);
	events_stream_closed(NULL, NULL);

	/* the rest as an event's JSON text, back through a replay */
	if (field[6]) {
		char *want = malloc(strlen(field[6]) + 1), *w = want;

		CHECK(want);
		for (const char *s = field[6]; *s; s++)
			if (*s != '\r')
				*w++ = *s;
		*w = 0;
		events_last_id(id, sizeof(id));
		events_publish("alert", field[6]);
		req.last_event_id = (struct http_str){ id, strlen(id) };
		resp_reset(&resp, &req);
		CHECK(events_subscribe(&req, &resp) == 0 && resp.stream);
		check_stream(resp.body.p, resp.body.len, &data);
		/* kept (and so replayed) unless its text is larger than a
		 * quarter of the ring: each line costs "data: " and '\n' more */
		size_t sse = strlen(field[6]) + 128;

		for (const char *s = field[6]; *s; s++)
			sse += *s == '\n' ? 7 : 0;
		if (sse < (1u << 16) / 4) {
			CHECK(data && !strcmp(data, want));
		}
		events_stream_closed(NULL, NULL);
		free(data);
		free(want);
	}
	resp_reset(&resp, NULL);
	free(in);
	return 0;
}
