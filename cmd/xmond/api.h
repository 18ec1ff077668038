/* api.h: xmond's HTTP routes: the JSON API, /metrics and /healthz.
 *
 *   GET  /healthz                    "ok"
 *   GET  /metrics                    Prometheus text (token required when set)
 *   GET  /api/alerts                 open alerts, newest first; ?state=open|closed|all,
 *                                    app_type=, instance=, q= (text, case-insensitive)
 *   GET  /api/alerts/KEY             one alert with its history
 *   POST /api/alerts/KEY/bin         bin a binnable alert (409 if it is not, or closed)
 *   GET  /api/instances              instances with liveness and since when
 *   GET  /api/forwarding             Alertmanager forwarding: replicas, queues, errors (forward.h)
 *   GET  /api/events                 the page's live updates (events.h)
 *
 * Runs on the reactor thread, as the HTTP server's handler (http.h).
 */
#ifndef XMOND_API_H
#define XMOND_API_H

#include <stddef.h>

struct reactor;
struct http_server;
struct http_req;
struct http_resp;

/* Set the bearer token (malloc'd, taken over; NULL: no auth). */
void api_init(char *token);
void api_set_token(char *token);

/* Unsent bytes after which an event stream is dropped (--stream-max-pending;
 * 0: the HTTP layer's default, 1 MiB). Takes effect at api_start_http. */
void api_set_stream_max_pending(size_t bytes);

/* Start the HTTP server with the API's routes on listening socket fd. */
struct http_server *api_start_http(struct reactor *r, int fd);

/* Publish the alert or instance as it is now to the page's event stream
 * (events.h); store_config's on_alert and on_instance. */
struct alert;
struct instance;
void api_publish_alert(const struct alert *a);
void api_publish_instance(const struct instance *in);

/* Tell the page that a closed alert's history expired (store_config's
 * on_expire): event `expired`, data {"key":"KEY"}. */
void api_publish_expired(const struct alert *a);

/* The handler (http_handle_fn). */
int api_handle(void *ctx, const struct http_req *req, struct http_resp *resp);

#endif
