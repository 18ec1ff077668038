/* cmd/xmond/web.c: the page's files, embedded; /api/session; the CSRF
 * check (see web.h for the design).
 *
 * Global state: the token and the ETags, written once by web_init().
 *
 * Embedding: the assembler includes each file's bytes with `.incbin`
 * between two symbols. Paths are relative to the directory make runs in
 * (the top of the tree); the Makefile makes web.o depend on the files.
 * Both gcc (gas) and clang's integrated assembler support it, so there is
 * no generated source and no tool beyond the compiler.
 */
#include "web.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "http.h"

#define ASSET(sym, file)                                                                           \
	__asm__(".section .rodata\n"                                                               \
		".balign 16\n"                                                                     \
		".globl " #sym "\n"                                                                \
		".hidden " #sym "\n" #sym ":\n"                                                    \
		".incbin \"cmd/xmond/web/" file "\"\n"                                             \
		".globl " #sym "_end\n"                                                            \
		".hidden " #sym "_end\n" #sym "_end:\n"                                            \
		".previous\n");                                                                    \
	extern const char sym[] __attribute__((visibility("hidden")));                            \
	extern const char sym##_end[] __attribute__((visibility("hidden")))

ASSET(web_index_html, "index.html");
ASSET(web_app_js, "app.js");
ASSET(web_style_css, "style.css");
ASSET(web_favicon_svg, "favicon.svg");

struct asset {
	const char *path;
	const char *type;
	const char *p, *end;
	char etag[24];
};

static struct asset assets[] = {
	{ "/", "text/html; charset=utf-8", web_index_html, web_index_html_end, "" },
	{ "/index.html", "text/html; charset=utf-8", web_index_html, web_index_html_end, "" },
	{ "/app.js", "text/javascript; charset=utf-8", web_app_js, web_app_js_end, "" },
	{ "/style.css", "text/css; charset=utf-8", web_style_css, web_style_css_end, "" },
	{ "/favicon.svg", "image/svg+xml", web_favicon_svg, web_favicon_svg_end, "" },
};

static char token[65];

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

int web_init(void)
{
	unsigned char raw[32];
	size_t got = 0;

	while (got < sizeof raw) {
		ssize_t n = getrandom(raw + got, sizeof raw - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++) {
		struct asset *a = &assets[i];

		snprintf(a->etag, sizeof a->etag, "\"%016" PRIx64 "\"", fnv1a(a->p, (size_t)(a->end - a->p)));
	}
	return 0;
}

const char *web_csrf_token(void)
{
	return token;
}

/* If-None-Match lists the ETag (or is "*"): a 304 will do. */
static bool etag_matches(const struct http_str *inm, const char *etag)
{
	size_t el = strlen(etag);
	const char *p, *end;

	if (!inm->p)
		return false;
	p = inm->p;
	end = p + inm->len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
			p += 2;
		if (p < end && *p == '*')
			return true;
		if ((size_t)(end - p) >= el && !memcmp(p, etag, el))
			return true;
		while (p < end && *p != ',')
			p++;
	}
	return false;
}

static void security_headers(struct http_resp *resp)
{
	resp->csp = WEB_CSP;
	http_resp_header(resp, "X-Frame-Options", "DENY");
	http_resp_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	http_resp_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
}

bool web_handle(const struct http_req *req, struct http_resp *resp)
{
	if (req->method != HTTP_GET && req->method != HTTP_HEAD)
		return false;
	for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++) {
		const struct asset *a = &assets[i];

		if (!http_path_is(req, a->path))
			continue;
		security_headers(resp);
		resp->content_type = a->type;
		/* revalidate every time: a new binary serves new files */
		resp->cache_control = "no-cache";
		http_resp_header(resp, "ETag", a->etag);
		if (etag_matches(&req->if_none_match, a->etag)) {
			resp->status = 304;
			return true;
		}
		http_resp_append(resp, a->p, (size_t)(a->end - a->p));
		return true;
	}
	if (http_path_is(req, "/api/session")) {
		if (req->method != HTTP_GET)
			return false;
		security_headers(resp);
		resp->content_type = "application/json";
		http_resp_printf(resp, "{\"csrf\":\"%s\"}\n", token);
		return true;
	}
	return false;
}

static bool str_is(const struct http_str *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->p && s->len == n && !strncasecmp(s->p, lit, n);
}

/* Origin is exactly scheme://Host for this request's Host header. */
static bool same_origin(const struct http_req *req)
{
	const struct http_str *o = &req->origin;
	size_t skip;

	if (!req->host.p || !req->host.len)
		return false;
	if (o->len > 7 && !strncasecmp(o->p, "http://", 7))
		skip = 7;
	else if (o->len > 8 && !strncasecmp(o->p, "https://", 8))
		skip = 8;
	else
		return false;   /* "null" (sandboxed, file:), other schemes */
	return o->len - skip == req->host.len && !strncasecmp(o->p + skip, req->host.p, req->host.len);
}

/* Constant time in the length of the token. */
static bool token_ok(const struct http_str *t)
{
	unsigned char diff = 0;

	if (!t->p || t->len != 64 || !token[0])
		return false;
	for (size_t i = 0; i < 64; i++)
		diff |= (unsigned char)(t->p[i] ^ token[i]);
	return diff == 0;
}

int web_check_csrf(const struct http_req *req, const char **why)
{
	const char *w = NULL;

	if (req->method != HTTP_POST)
		w = "state changes need POST";
	else if (!req->origin.p && !req->sec_fetch_site.p)
		return 0;   /* not a browser: curl, xmonctl, scripts */
	else if (req->sec_fetch_site.p && !str_is(&req->sec_fetch_site, "same-origin"))
		w = "cross-site request refused";
	else if (req->origin.p && !same_origin(req))
		w = "cross-origin request refused";
	else if (!token_ok(&req->csrf_token))
		w = "missing or wrong X-CSRF-Token (GET /api/session gives it)";
	if (!w)
		return 0;
	if (why)
		*why = w;
	return -EPERM;
}

bool web_csrf_ok(const struct http_req *req, struct http_resp *resp)
{
	const char *why = "";

	if (web_check_csrf(req, &why) == 0)
		return true;
	http_resp_error(resp, 403, why);
	return false;
}
