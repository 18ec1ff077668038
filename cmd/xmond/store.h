/* store.h: xmond's state: instances, alerts and their history.
 *
 * Everything here lives on the reactor thread (replay runs on the main
 * thread before that thread starts). Every change is journaled (journal.h)
 * before it is made, so what any reader sees is already in the journal.
 *
 * An instance is one (app type, app instance) pair, as a logon or child
 * logon names it. An alert is keyed by (instance, id text) while it is
 * open; once cleared or binned it is closed, keeps its history, and is
 * forgotten --history after it closed. Each alert has a stable key, a
 * number xmond assigns (the API's KEY), never reused.
 */
#ifndef XMOND_STORE_H
#define XMOND_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "lull/reactor.h"
#include "lull/xmon_wire.h"

struct journal;
struct conn;

enum alert_state { ALERT_OPEN = 0, ALERT_CLEARED = 1, ALERT_BINNED = 2 };
/* How the alert reached xmond: the binned notice uses the same form. */
enum alert_form { FORM_PARENT = 0, FORM_CHILD = 1, FORM_XMOND = 2 };
enum hist_kind { HIST_CREATED = 0, HIST_UPDATED = 1, HIST_CLEARED = 2, HIST_BINNED = 3, HIST_NOTIFIED = 4 };

#define STORE_HIST_MAX 64      /* events kept per alert: the creation and the newest */
#define STORE_DOWN_ID "down"   /* id text of xmond's own liveness alert */

struct hist_ev {
	int64_t t;                 /* CLOCK_REALTIME ns */
	uint8_t kind;              /* enum hist_kind */
	uint8_t binnable;
	uint16_t msg_len;
	char *who;                 /* NUL-terminated, shared (interned): not freed */
	char *msg;                 /* created/updated: the message then; else NULL */
};

struct instance {
	struct instance *hnext;
	struct instance *next;     /* all instances, in order of first sight */
	char *app_type, *name;     /* NUL-terminated copies (may hold other NULs) */
	uint16_t app_type_len, name_len;
	bool up;                   /* a connection is logged on as it */
	bool parent;               /* it was the parent logon of that connection */
	bool steady;               /* a connection of it lasted a heartbeat interval:
				    * liveness alerts are for steady instances only,
				    * not for one-shot clients (xmonctl, cron jobs) */
	int64_t since;             /* CLOCK_REALTIME ns of the last up/down change */
	struct conn *conn;         /* the current connection, NULL when down */
	struct reactor_timer grace;
	uint32_t open_alerts;
	bool limit_logged;
	struct alert *notify_head, *notify_tail;  /* binned notices not delivered */
};

struct alert {
	struct alert *knext, *inext;          /* by-key and by-ident hash chains */
	struct alert *prev, *next;            /* open list, or closed list (by close time) */
	struct alert *nnext;                  /* pending notices of its instance */
	uint64_t key;
	struct instance *inst;
	char *id_text;
	uint16_t id_len;
	uint16_t msg_len;
	int64_t id;                           /* -1 when the text is not decimal */
	uint8_t form, binnable, state;
	bool notify_pending;
	bool notify_sent;                     /* its notice is in flight on the connection */
	char *msg;                            /* the newest message, owned by its history event */
	int64_t created, updated, closed;     /* CLOCK_REALTIME ns */
	struct hist_ev *hist;
	uint32_t nhist, hcap;
	uint32_t rec_bytes;                   /* journal bytes of its records, for compaction */
};

struct store_config {
	int64_t down_grace_ns;     /* down -> liveness alert */
	int64_t history_ns;        /* closed alerts kept this long */
	uint32_t max_alerts;       /* open alerts per instance */
	unsigned compact_factor;   /* journal > factor x live state: compact */
	uint64_t compact_min;      /* ... and > this many bytes */
	/* Hand a binned notice to the connection. Returns 0 when it is on
	 * its way: the connection then calls store_notice_done() once it
	 * knows the peer has it, or that it may not; <0 to keep it queued. */
	int (*notify)(struct conn *c, const struct alert *a, bool parent_form);
	/* The store replaced `old` (newest connection wins): close it. */
	void (*kick)(struct conn *old, const char *why);
	/* Optional: a change was made on the live path (not replay): the
	 * alert or the instance as it is now (the web page's live updates). */
	void (*on_alert)(const struct alert *a);
	void (*on_instance)(const struct instance *in);
	/* Optional: a closed alert's history expired (--history); `a` is
	 * freed when this returns. Set at store_init only. */
	void (*on_expire)(const struct alert *a);
};

struct store_stats {
	uint64_t instances, instances_up, alerts_open, alerts_closed;
	uint64_t creates, updates, clears, bins, unknown_updates, unknown_clears, limit_refused;
	uint64_t liveness_raised, liveness_cleared, pruned, notices_queued;
	uint64_t pool_bytes, pool_free_bytes;  /* memory mapped for alerts, and free in it */
};

/* Set up (before replay). The store keeps pointers to r and j. */
void store_init(struct reactor *r, struct journal *j, const struct store_config *cfg);

/* Apply one journal record (journal_apply_fn). */
int store_apply(void *arg, const uint8_t *p, size_t len);

/* After replay: instances recorded up are down since now (their
 * connections are gone), with the grace period running; expired history
 * goes. Call on the thread that owns the store, once the reactor is
 * there to arm timers. */
void store_start(void);

/* Apply a reloaded configuration (grace, history, limits). */
void store_reconfigure(const struct store_config *cfg);

/* The instance (type, name), created when `create`. NULL when absent or
 * out of memory. */
struct instance *store_instance(struct xmon_str type, struct xmon_str name, bool create);

/* A connection logged on as `in` (parent logon or child logon): `in`
 * goes up, its liveness alert is cleared, an older connection of the same
 * instance is kicked, and queued binned notices are delivered. */
void store_logon(struct instance *in, struct conn *c, bool parent);

/* Try again to deliver queued binned notices of `in` (its connection's
 * output buffer has room again). */
void store_deliver(struct instance *in);

/* The notice of alert `key`, handed to connection c, was delivered (it is
 * recorded so), or c died before it surely was: it stays pending and goes
 * to the instance's next connection (or its current one, if not c). */
void store_notice_done(uint64_t key, struct conn *c, bool delivered);

/* Connection c, current for `in`, has lasted one heartbeat interval. */
void store_steady(struct instance *in, struct conn *c);

/* Connection c is gone or stopped answering: if it is still the current
 * connection of `in`, the instance goes down and its grace period starts. */
void store_lost(struct instance *in, struct conn *c, const char *why);

/* Create or update the alert (in, id_text): a create for an open alert
 * updates it; an update for an unknown one creates it. `who` names the
 * source for the history. Returns 0, or -ENOSPC when the instance holds
 * the maximum of open alerts (refused, logged once per episode). */
int store_alert_set(struct instance *in, enum alert_form form, struct xmon_str id_text, int64_t id,
		    bool binnable, struct xmon_str msg, bool create, const char *who);

/* Clear the open alert (in, id_text). Returns 0, or -ENOENT (counted). */
int store_alert_clear(struct instance *in, struct xmon_str id_text, const char *who);

/* A person bins alert `key`: -ENOENT (no such key), -EPERM (not
 * binnable), -EALREADY (closed already), or 0: closed, and the notice
 * goes to the instance's connection or waits for the next logon. */
int store_alert_bin(uint64_t key, const char *who);

struct alert *store_alert_by_key(uint64_t key);

/* Iteration: open alerts newest first; closed alerts newest first;
 * instances in order of first sight. */
struct alert *store_open_newest(void);
struct alert *store_closed_newest(void);
struct instance *store_instances(void);

/* Sync the journal now, on the calling thread (shutdown: the final sync,
 * which first finishes a compaction job that is out; the end of each turn
 * without a sync loop), compacting when it has grown enough (at shutdown
 * the job is run by journal_close()). Returns 0 or -errno. */
int store_sync(void);

/* Sync on a sync loop from now on: the reactor only writes records and
 * hands fdatasync to the thread running journal_sync_loop(j), which the
 * caller starts; the reactor watches for its results (counted in the
 * journal's stats). Compaction too: between syncs the reactor serializes
 * the live state into memory and the sync loop writes the snapshot. Call
 * before the reactor runs. Returns 0 or -errno. */
int store_sync_loop_init(void);
/* Write queued records before a change becomes visible. */
void store_flush(void);

void store_get_stats(struct store_stats *s);

/* Per app type counts of open alerts, for /metrics: calls fn for each. */
void store_count_by_app_type(void (*fn)(void *arg, const char *type, uint16_t len, uint64_t n), void *arg);

#endif
