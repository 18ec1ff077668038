/* tests/sys/xmond_httpd.c: cmd/xmond/http.c's server with fixed handlers,
 * for tests/sys/xmond_http.t.
 *
 *   xmond_httpd PORTFILE [idle_ms request_ms write_ms max_conns stream_max ping_ms]
 *
 * Listens on 127.0.0.1 (an ephemeral port written to PORTFILE once
 * listening) and serves until killed:
 *   GET  /hello            "hello\n"
 *   GET  /big?n=N          N bytes of a known pattern (adopted, not copied)
 *   GET  /sendnow?n=N&chunk=C&announce=A   N pattern bytes sent C at a time
 *                          while the handler runs, A announced (-1: none)
 *   GET  /json?n=N         {"alerts":[...N objects...]} through json.h
 *   POST /echo             the body back, Content-Type as sent
 *   GET  /hdr              the kept headers, one "name=value" line each
 *   GET  /q?name=X         the decoded query parameter X (404 if absent)
 *   GET  /seg              the decoded path segments, one per line (prefix /seg/)
 *   GET  /csp              CSP and Cache-Control overridden
 *   GET  /etag             "tagged\n" with ETag "v1"; 304 for If-None-Match: "v1"
 *   GET  /fail             the handler fails: 500
 *   GET  /huge             over max_response: 500
 *   GET  /events           an event stream, first bytes ": hello\n\n"
 *   POST /broadcast        "data: BODY\n\n" to every stream; answers the count
 *   GET  /stats            the server's counters
 * and 404 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lull/reactor.h"
#include "lull/time.h"

#include "../../cmd/xmond/http.h"
#include "../../cmd/xmond/json.h"

static struct http_server *srv;
static size_t closed_streams;

static long param(const struct http_req *req, const char *name, long dflt)
{
	char v[32];

	return http_query_get(req, name, v, sizeof(v)) > 0 ? strtol(v, NULL, 10) : dflt;
}

static int handle(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	(void)ctx;
	if (http_path_is(req, "/hello")) {
		http_resp_printf(resp, "hello\n");
	} else if (http_path_is(req, "/big")) {
		long n = param(req, "n", 1000);
		char *p = malloc((size_t)n + 1);

		if (!p)
			return -ENOMEM;
		for (long i = 0; i < n; i++)
			p[i] = (char)('a' + i % 26);
		resp->content_type = "application/octet-stream";
		http_resp_adopt(resp, p, (size_t)n);
	} else if (http_path_is(req, "/sendnow")) {
		/* n pattern bytes, sent in chunks while the handler runs
		 * (http_resp_send_now), announcing `announce` bytes (-1: no
		 * length); the last piece is left in the body. HEAD: whole. */
		long n = param(req, "n", 1000), chunk = param(req, "chunk", 65536), ann = param(req, "announce", n);
		char *p = malloc((size_t)chunk);
		long i = 0;

		if (!p)
			return -ENOMEM;
		resp->content_type = "application/octet-stream";
		while (i < n) {
			long k = n - i < chunk ? n - i : chunk;

			for (long j = 0; j < k; j++)
				p[j] = (char)('a' + (i + j) % 26);
			i += k;
			if (i == n || http_resp_send_now(resp, p, (size_t)k,
							 ann < 0 ? HTTP_LENGTH_UNKNOWN : (size_t)ann) == -EINVAL)
				http_resp_append(resp, p, (size_t)k);
		}
		free(p);
	} else if (http_path_is(req, "/json")) {
		struct json_writer w;
		long n = param(req, "n", 3);
		size_t len;
		char *text;

		json_init(&w, (size_t)1 << 30);
		json_obj_begin(&w);
		json_key(&w, "alerts");
		json_arr_begin(&w);
		for (long i = 0; i < n; i++) {
			json_obj_begin(&w);
			json_kint(&w, "key", i);
			json_kstr(&w, "message", "<script>alert(1)</script> \xff\xfe & \xe2\x80\xa8 caf\xc3\xa9");
			json_kbool(&w, "binnable", i % 2);
			json_ktime(&w, "created", (int64_t)1795841467 * 1000000000 + i * 1000000);
			json_obj_end(&w);
		}
		json_arr_end(&w);
		json_obj_end(&w);
		text = json_take(&w, &len);
		if (!text)
			return -errno;
		resp->content_type = "application/json";
		http_resp_adopt(resp, text, len);
	} else if (http_path_is(req, "/echo")) {
		if (req->method != HTTP_POST) {
			http_resp_error(resp, 405, "POST only");
			http_resp_header(resp, "Allow", "POST");
			return 0;
		}
		resp->content_type = req->content_type.p ? "application/octet-stream" : NULL;
		http_resp_append(resp, req->body, req->body_len);
	} else if (http_path_is(req, "/hdr")) {
		const struct http_str *h[] = { &req->host, &req->authorization, &req->origin,
					       &req->sec_fetch_site, &req->content_type, &req->last_event_id,
					       &req->cookie, &req->csrf_token, &req->accept };
		static const char *const names[] = { "host", "authorization", "origin", "sec-fetch-site",
						     "content-type", "last-event-id", "cookie", "x-csrf-token",
						     "accept" };

		for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
			if (h[i]->p)
				http_resp_printf(resp, "%s=%s\n", names[i], h[i]->p);
		http_resp_printf(resp, "keep_alive=%d\n", req->keep_alive);
	} else if (http_path_is(req, "/q")) {
		char name[64], v[256];
		ssize_t n;

		if (http_query_get(req, "name", name, sizeof(name)) < 0) {
			http_resp_error(resp, 400, "no name");
			return 0;
		}
		n = http_query_get(req, name, v, sizeof(v));
		if (n == -ENOENT)
			http_resp_error(resp, 404, "no such parameter");
		else if (n < 0)
			http_resp_error(resp, 400, "malformed");
		else
			http_resp_append(resp, v, (size_t)n);
	} else if (req->path.len >= 5 && memcmp(req->path.p, "/seg/", 5) == 0) {
		char v[256];

		for (size_t i = 0; i < http_path_segments(req); i++) {
			ssize_t n = http_path_segment(req, i, v, sizeof(v));

			if (n < 0) {
				http_resp_error(resp, 400, "bad segment");
				return 0;
			}
			http_resp_printf(resp, "%s\n", v);
		}
	} else if (http_path_is(req, "/csp")) {
		resp->csp = "default-src 'none'";
		resp->cache_control = "";
		http_resp_header(resp, "X-Test", "1");
		http_resp_printf(resp, "csp\n");
	} else if (http_path_is(req, "/etag")) {
		if (req->if_none_match.p && strcmp(req->if_none_match.p, "\"v1\"") == 0)
			resp->status = 304;
		http_resp_header(resp, "ETag", "\"v1\"");
		http_resp_printf(resp, "tagged\n");   /* dropped for the 304 */
	} else if (http_path_is(req, "/fail")) {
		http_resp_printf(resp, "never seen\n");
		return -EIO;
	} else if (http_path_is(req, "/huge")) {
		while (http_resp_printf(resp, "%01000d", 0) == 0)
			;
	} else if (http_path_is(req, "/events")) {
		if (http_resp_stream(resp) < 0) {
			http_resp_error(resp, 405, "GET only");
			return 0;
		}
		http_resp_printf(resp, ": hello\n\n");
	} else if (http_path_is(req, "/broadcast") && req->method == HTTP_POST) {
		char *ev = malloc(req->body_len + 16);
		size_t n;

		if (!ev)
			return -ENOMEM;
		n = (size_t)sprintf(ev, "data: %.*s\n\n", (int)req->body_len, req->body ? (const char *)req->body : "");
		http_resp_printf(resp, "%zu\n", http_server_broadcast(srv, ev, n));
		free(ev);
	} else if (http_path_is(req, "/stats")) {
		struct http_stats st;

		http_server_stats(srv, &st);
		http_resp_printf(resp,
				 "accepted=%llu\nrequests=%llu\nrejected=%llu\ntimeouts=%llu\n"
				 "dropped_streams=%llu\nrefused=%llu\nconns=%zu\nstreams=%zu\nclosed_streams=%zu\n"
				 "stream_bytes=%llu\n",
				 (unsigned long long)st.accepted, (unsigned long long)st.requests,
				 (unsigned long long)st.rejected, (unsigned long long)st.timeouts,
				 (unsigned long long)st.dropped_streams, (unsigned long long)st.refused, st.conns,
				 st.streams, closed_streams, (unsigned long long)st.stream_bytes);
	} else {
		http_resp_error(resp, 404, "not found");
	}
	return 0;
}

static void stream_closed(void *ctx, struct http_conn *c)
{
	(void)ctx;
	(void)c;
	closed_streams++;
}

int main(int argc, char **argv)
{
	struct http_config cfg = { 0 };
	struct http_handlers h = { .handle = handle, .stream_closed = stream_closed };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct reactor *r;
	FILE *f;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: xmond_httpd PORTFILE [idle_ms request_ms write_ms max_conns stream_max ping_ms]\n");
		return 100;
	}
	if (argc > 2)
		cfg.idle_ns = atol(argv[2]) * LULL_NSEC_PER_MSEC;
	if (argc > 3)
		cfg.request_ns = atol(argv[3]) * LULL_NSEC_PER_MSEC;
	if (argc > 4)
		cfg.write_ns = atol(argv[4]) * LULL_NSEC_PER_MSEC;
	if (argc > 5)
		cfg.max_conns = (size_t)atol(argv[5]);
	if (argc > 6)
		cfg.stream_max_pending = (size_t)atol(argv[6]);
	if (argc > 7)
		cfg.stream_ping_ns = atol(argv[7]) * LULL_NSEC_PER_MSEC;
	cfg.max_response = 64 << 20;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("xmond_httpd: listen");
		return 111;
	}
	r = reactor_new();
	if (!r || !(srv = http_server_start(r, fd, &h, &cfg))) {
		perror("xmond_httpd: start");
		return 111;
	}
	f = fopen(argv[1], "w");
	if (!f || fprintf(f, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0) {
		perror("xmond_httpd: port file");
		return 111;
	}
	reactor_run(r);
	http_server_stop(srv);
	reactor_free(r);
	close(fd);
	return 0;
}
