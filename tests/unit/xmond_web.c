/* Unit tests for cmd/xmond/web.c and events.c, without a server: the CSRF
 * check over every combination of the headers that decide it; the
 * embedded files (types, ETag, 304, security headers) and /api/session;
 * the event ring: ids, hello, replay from Last-Event-ID in order, resync
 * for another boot, a future or evicted id, garbage, a replay too large;
 * events_skip(); the byte bound; multi-line data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/xmond/events.h"
#include "../../cmd/xmond/http.h"
#include "../../cmd/xmond/web.h"
#include "tap.h"

static struct http_str S(const char *s)
{
	return (struct http_str){ s, s ? strlen(s) : 0 };
}

static struct http_req post(const char *origin, const char *site, const char *token)
{
	struct http_req r;

	memset(&r, 0, sizeof(r));
	r.method = HTTP_POST;
	r.host = S("127.0.0.1:8080");
	r.origin = S(origin);
	r.sec_fetch_site = S(site);
	r.csrf_token = S(token);
	return r;
}

static void test_csrf(void)
{
	const char *tok = web_csrf_token(), *why = NULL;
	char wrong[65];
	struct http_req r;

	ok(strlen(tok) == 64 && strspn(tok, "0123456789abcdef") == 64, "token: 64 hex digits");
	memcpy(wrong, tok, 65);
	wrong[63] = wrong[63] == '0' ? '1' : '0';

	r = post(NULL, NULL, NULL);
	is_int(web_check_csrf(&r, NULL), 0, "no Origin, no Sec-Fetch-Site (curl, xmonctl): allowed without token");
	r = post("http://127.0.0.1:8080", "same-origin", tok);
	is_int(web_check_csrf(&r, NULL), 0, "same origin with the token: allowed");
	r = post("https://127.0.0.1:8080", NULL, tok);
	is_int(web_check_csrf(&r, NULL), 0, "https Origin for the same Host: allowed");
	r = post(NULL, "same-origin", tok);
	is_int(web_check_csrf(&r, NULL), 0, "Sec-Fetch-Site alone, with the token: allowed");
	r = post("HTTP://127.0.0.1:8080", "SAME-ORIGIN", tok);
	is_int(web_check_csrf(&r, NULL), 0, "scheme and Sec-Fetch-Site are case-insensitive");

	r = post("http://127.0.0.1:8080", "same-origin", NULL);
	is_int(web_check_csrf(&r, &why), -EPERM, "same origin without the token: refused");
	ok(why && strstr(why, "X-CSRF-Token"), "and says why: %s", why ? why : "(null)");
	r = post("http://127.0.0.1:8080", "same-origin", wrong);
	is_int(web_check_csrf(&r, NULL), -EPERM, "a wrong token (last digit): refused");
	r = post("http://127.0.0.1:8080", "same-origin", "");
	is_int(web_check_csrf(&r, NULL), -EPERM, "an empty token: refused");
	r = post("http://evil.example", NULL, tok);
	is_int(web_check_csrf(&r, NULL), -EPERM, "another Origin, even with the token: refused");
	r = post("http://127.0.0.1:8080.evil.example", NULL, tok);
	is_int(web_check_csrf(&r, NULL), -EPERM, "an Origin that only starts with the Host: refused");
	r = post("http://127.0.0.1:808", NULL, tok);
	is_int(web_check_csrf(&r, NULL), -EPERM, "an Origin that is a prefix of the Host: refused");
	r = post("null", NULL, tok);
	is_int(web_check_csrf(&r, NULL), -EPERM, "Origin: null: refused");
	r = post(NULL, "cross-site", tok);
	is_int(web_check_csrf(&r, NULL), -EPERM, "Sec-Fetch-Site: cross-site: refused");
	r = post(NULL, "same-site", tok);
	is_int(web_check_csrf(&r, NULL), -EPERM, "Sec-Fetch-Site: same-site (another port or subdomain): refused");
	r = post(NULL, "none", tok);
	is_int(web_check_csrf(&r, NULL), -EPERM, "Sec-Fetch-Site: none: refused");
	r = post("http://127.0.0.1:8080", "cross-site", tok);
	is_int(web_check_csrf(&r, NULL), -EPERM, "a same Origin does not outvote Sec-Fetch-Site: cross-site");
	r = post("http://127.0.0.1:8080", NULL, tok);
	r.host = S(NULL);
	is_int(web_check_csrf(&r, NULL), -EPERM, "Origin without a Host: refused");
	r = post(NULL, NULL, NULL);
	r.method = HTTP_GET;
	is_int(web_check_csrf(&r, NULL), -EPERM, "not a POST: refused");
}

/* A response as the server prepares it. */
static void resp_for(struct http_resp *resp, const struct http_req *req)
{
	free(resp->body.p);
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	resp->body.max = 1u << 24;
	resp->req = req;
}

static bool has_header(const struct http_resp *resp, const char *line)
{
	return memmem(resp->headers, resp->headers_len, line, strlen(line)) != NULL;
}

static void test_assets(void)
{
	static const struct {
		const char *path, *type, *needle;
	} files[] = {
		{ "/", "text/html; charset=utf-8", "<script src=\"/app.js\" defer></script>" },
		{ "/index.html", "text/html; charset=utf-8", "<!doctype html>" },
		{ "/app.js", "text/javascript; charset=utf-8", "'use strict';" },
		{ "/style.css", "text/css; charset=utf-8", "prefers-color-scheme: dark" },
		{ "/favicon.svg", "image/svg+xml", "<svg" },
	};
	struct http_req req;
	struct http_resp resp = { 0 };
	char etag[64];

	for (size_t i = 0; i < TAP_COUNT(files); i++) {
		memset(&req, 0, sizeof(req));
		req.method = HTTP_GET;
		req.target = req.path = S(files[i].path);
		resp_for(&resp, &req);
		ok(web_handle(&req, &resp), "%s: served", files[i].path);
		is_str(resp.content_type, files[i].type, "its content type");
		ok(resp.body.len > 0 && memmem(resp.body.p, resp.body.len, files[i].needle, strlen(files[i].needle)),
		   "%s: the embedded file (%zu bytes)", files[i].path, resp.body.len);
		ok(resp.csp && strstr(resp.csp, "default-src 'self'") && strstr(resp.csp, "frame-ancestors 'none'") &&
			   !strstr(resp.csp, "unsafe"),
		   "CSP: %s", resp.csp ? resp.csp : "(none)");
		ok(has_header(&resp, "X-Frame-Options: DENY\r\n"), "X-Frame-Options: DENY");
		is_str(resp.cache_control, "no-cache", "revalidated every time");
		{
			const char *e = memmem(resp.headers, resp.headers_len, "ETag: ", 6);
			size_t n = e ? strcspn(e + 6, "\r") : 0;

			ok(e && n > 2 && n < sizeof(etag), "an ETag");
			snprintf(etag, sizeof(etag), "%.*s", (int)n, e ? e + 6 : "");
		}
		req.if_none_match = S(etag);
		resp_for(&resp, &req);
		ok(web_handle(&req, &resp) && resp.status == 304 && resp.body.len == 0, "If-None-Match: the ETag: 304, no body");
		req.if_none_match = S("\"0000000000000000\", W/\"x\"");
		resp_for(&resp, &req);
		ok(web_handle(&req, &resp) && resp.status == 200, "another ETag: 200");
	}
	memset(&req, 0, sizeof(req));
	req.method = HTTP_POST;
	req.target = req.path = S("/");
	resp_for(&resp, &req);
	ok(!web_handle(&req, &resp), "POST / is not the page's");
	req.method = HTTP_GET;
	req.target = req.path = S("/nope.js");
	ok(!web_handle(&req, &resp), "an unknown file is not answered (404 from the API)");
	req.target = req.path = S("/api/session");
	resp_for(&resp, &req);
	ok(web_handle(&req, &resp), "GET /api/session");
	{
		char want[128];

		snprintf(want, sizeof(want), "{\"csrf\":\"%s\"}\n", web_csrf_token());
		ok(resp.body.len == strlen(want) && !memcmp(resp.body.p, want, resp.body.len), "gives the token as JSON");
		is_str(resp.content_type, "application/json", "as application/json");
	}
	resp_for(&resp, NULL);
}

/* Subscribe with Last-Event-ID `last` (NULL: none); the stream's first
 * bytes in out. */
static int subscribe(const char *last, char *out, size_t cap)
{
	struct http_req req;
	struct http_resp resp = { 0 };
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = HTTP_GET;
	req.target = req.path = S("/api/events");
	req.last_event_id = S(last);
	resp_for(&resp, &req);
	rc = events_subscribe(&req, &resp);
	snprintf(out, cap, "%.*s", (int)resp.body.len, resp.body.p ? resp.body.p : "");
	if (rc == 0 && !resp.stream)
		rc = -EPROTO;
	events_stream_closed(NULL, NULL);
	resp_for(&resp, NULL);
	return rc;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_events(void)
{
	static char out[1 << 20];
	char id0[48], id[48], bad[96], *p;
	struct events_stats st;

	is_int(events_init(8, 4096), 0, "events_init: 8 events, 4 KiB");
	events_last_id(id0, sizeof(id0));
	ok(strlen(id0) == 18 && id0[16] == '-' && id0[17] == '0', "first id: <16 hex>-0 (%s)", id0);

	is_int(subscribe(NULL, out, sizeof(out)), 0, "subscribe without Last-Event-ID");
	ok(!strncmp(out, "retry: 1000\n\n", 13), "the stream starts with retry: 1000");
	ok(strstr(out, "event: hello\n") && strstr(out, id0), "then hello with the current id");

	events_publish("alert", "{\"n\":1}");
	events_publish("alert", "{\"n\":2}");
	events_publish("instance", "{\"n\":3}");
	is_int(subscribe(id0, out, sizeof(out)), 0, "subscribe with the id before the three");
	p = strstr(out, "{\"n\":1}");
	ok(p && strstr(p, "{\"n\":2}") && strstr(strstr(p, "{\"n\":2}"), "{\"n\":3}"), "replays all three, in order");
	ok(strstr(out, "event: instance\ndata: {\"n\":3}\n\n") != NULL, "with their kinds");
	ok(!strstr(out, "hello") && !strstr(out, "resync"), "and no hello or resync");
	events_last_id(id, sizeof(id));
	ok(id[17] == '3', "the id counts events: %s", id);
	is_int(subscribe(id, out, sizeof(out)), 0, "subscribe up to date");
	is_str(out, "retry: 1000\n\n", "nothing to replay");

	/* the ring keeps 8: after 10 more, the first ids are gone */
	for (int i = 0; i < 10; i++)
		events_publish("alert", "{}");
	is_int(subscribe(id, out, sizeof(out)), 0, "subscribe with an id evicted from the ring");
	ok(strstr(out, "event: resync\n") && count(out, "event: alert") == 0, "resync, no partial replay");
	snprintf(bad, sizeof(bad), "%.16s-%d", id, 5 + 2);   /* seq 7: 3 + 10 = 13 now, 6..13 kept */
	is_int(subscribe(bad, out, sizeof(out)), 0, "subscribe with the oldest replayable id");
	is_int(count(out, "event: alert"), 6, "replays the 6 after it");

	snprintf(bad, sizeof(bad), "%.16s-99", id);
	subscribe(bad, out, sizeof(out));
	ok(strstr(out, "event: resync\n") != NULL, "an id from the future: resync");
	snprintf(bad, sizeof(bad), "%c%.15s-3", id[0] == 'f' ? 'e' : 'f', id + 1);
	subscribe(bad, out, sizeof(out));
	ok(strstr(out, "event: resync\n") != NULL, "another boot (xmond restarted): resync");
	{
		static const char *const garbage[] = {
			"", "x", "-", "0123456789abcdef", "0123456789ABCDEF-1", "0123456789abcdef-",
			"0123456789abcdef-1x", "0123456789abcdef-99999999999999999999999",
		};

		for (size_t i = 0; i < TAP_COUNT(garbage); i++) {
			subscribe(garbage[i], out, sizeof(out));
			ok(strstr(out, "event: resync\n") != NULL, "Last-Event-ID \"%s\": resync", garbage[i]);
		}
	}

	/* nobody listening: skip takes an id and forgets the ring */
	events_last_id(id, sizeof(id));
	events_skip();
	events_publish("alert", "{\"after\":1}");
	subscribe(id, out, sizeof(out));
	ok(strstr(out, "event: resync\n") && !strstr(out, "after"), "after events_skip(), an older id resyncs");

	/* data lines: a newline in the JSON becomes another data: line */
	events_last_id(id, sizeof(id));
	events_publish("alert", "{\n\"a\":1\n}");
	subscribe(id, out, sizeof(out));
	ok(strstr(out, "data: {\ndata: \"a\":1\ndata: }\n\n") != NULL, "multi-line JSON: one data: line each");

	/* bytes: 4 KiB ring, replays bounded by it */
	events_last_id(id, sizeof(id));
	{
		char big[900];

		memset(big, 'x', sizeof(big) - 1);
		big[0] = '"';
		big[sizeof(big) - 2] = '"';
		big[sizeof(big) - 1] = 0;
		for (int i = 0; i < 6; i++)
			events_publish("alert", big);
	}
	events_stats(&st);
	ok(st.ring_bytes <= 4096 && st.ring_events >= 1, "the ring stays within its bytes (%zu in %zu events)",
	   st.ring_bytes, st.ring_events);
	subscribe(id, out, sizeof(out));
	ok(strstr(out, "event: resync\n") != NULL, "what the byte bound evicted: resync");
	events_stats(&st);
	ok(st.published > 0 && st.subscribed > 0 && st.replayed > 0 && st.resynced > 0 && st.skipped == 1,
	   "stats: published %llu, subscribed %llu, replayed %llu, resynced %llu, skipped %llu",
	   (unsigned long long)st.published, (unsigned long long)st.subscribed, (unsigned long long)st.replayed,
	   (unsigned long long)st.resynced, (unsigned long long)st.skipped);
	events_free();
}

int main(int argc, char **argv)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_csrf),
		TAP_TEST(test_assets),
		TAP_TEST(test_events),
	};

	if (web_init() < 0) {
		printf("Bail out! web_init failed\n");
		return 1;
	}
	return tap_run(argc, argv, tests, TAP_COUNT(tests));
}
