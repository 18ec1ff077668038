/* cmd/xmond/web.h: xmond's page, its security headers and the CSRF check.
 *
 * The page's files (cmd/xmond/web/) are embedded in the binary at build
 * time by `.incbin` in web.c: no generator, no build step beyond make.
 *
 * CSRF design. State-changing requests are POST only (the API refuses
 * other methods on them). A request is from a browser when it carries an
 * Origin or a Sec-Fetch-Site header: every current browser sends one of
 * them on a cross-origin or a non-GET fetch, and non-browser clients
 * (curl, xmonctl, scripts) send neither. A browser's POST must then come
 * from the same origin (Sec-Fetch-Site: same-origin when present; Origin,
 * when present, equal to http(s)://<Host>) and carry the page's CSRF token
 * in X-CSRF-Token. The token is 32 random bytes drawn once per process and
 * handed out by GET /api/session, which another origin cannot read (no
 * CORS). A custom header also forces a CORS preflight, which xmond never
 * grants. Non-browser clients are not asked for the token; where
 * --http-token is set they, and the page, need the bearer token anyway.
 *
 * Global state (the token and the assets' ETags), loop thread only after
 * web_init().
 */
#ifndef XMOND_WEB_H
#define XMOND_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct http_req;
struct http_resp;

/* The page's Content-Security-Policy: no inline script or style, no eval,
 * nothing from another origin, no framing. */
#define WEB_CSP "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

/* Draw the CSRF token and compute the assets' ETags. Returns 0 or -errno
 * (no entropy source: -errno from getrandom). */
int web_init(void);

/* Answer the requests that are the page's: GET and HEAD of /, /index.html,
 * /app.js, /style.css, /favicon.svg (with ETag and If-None-Match when the
 * parser keeps it), and GET /api/session (the CSRF token: call it after
 * the bearer-token check). Returns true when it filled `resp`, false when
 * the path is not one of these (resp untouched). */
bool web_handle(const struct http_req *req, struct http_resp *resp);

/* The CSRF check, in one place, for every state-changing handler (POST
 * /api/alerts/KEY/bin): returns 0 when the request may go on, or -EPERM
 * with *why (if not NULL) set to a short static reason; the caller then
 * answers 403 and changes nothing. See the design above. */
int web_check_csrf(const struct http_req *req, const char **why);

/* web_check_csrf(), and on refusal a 403 answer in resp. Returns true
 * when the request may go on. */
bool web_csrf_ok(const struct http_req *req, struct http_resp *resp);

/* The current token (64 hex digits), for tests. */
const char *web_csrf_token(void);

#endif
