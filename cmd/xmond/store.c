/* store.c: instances, alerts, history (store.h), journaled.
 *
 * Global state: the store below and its memory pool, owned by the reactor
 * thread (by the main thread during replay, before that thread exists).
 *
 * Every change is made the same way: encode a journal record, queue it,
 * then apply that very record to memory with the function replay uses.
 * So what replay rebuilds is what was there, by construction, and a change
 * is in the journal's queue before anyone can see it (the API and the
 * notices flush the queue before they answer).
 *
 * Records (little-endian; str = u16 length + bytes):
 *   'O' open      u64 key, i64 t, u8 form, u8 binnable, str app_type, str instance,
 *                 str id_text, str message, str who
 *   'U' update    u64 key, i64 t, u8 binnable, str message, str who
 *   'C' close     u64 key, i64 t, u8 state (1 cleared, 2 binned), u8 notify, str who
 *   'D' notified  u64 key, i64 t, str who (the binned notice went out)
 *   'I' instance  i64 t, u8 up, u8 flags (1 parent, 2 steady), str app_type, str instance
 *   'K' next key  u64 (snapshots: keys are never reused)
 * Replay ignores records about keys it does not hold (pruned history).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "buf.h"
#include "journal.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/time.h"
#include "store.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

struct table {
	void **b;
	size_t n, mask;
};

static struct store {
	struct reactor *r;
	struct journal *j;
	struct store_config cfg;
	struct table by_key, by_ident, by_inst;
	struct instance *inst_head, *inst_tail;
	struct alert *open_head, *open_tail, *closed_head, *closed_tail;
	uint64_t next_key;
	uint64_t live_bytes;
	struct reactor_timer prune;
	struct reactor_defer sync;
	struct reactor_watch sync_w;   /* the sync loop's "done" eventfd */
	bool started;
	struct alert *applied;         /* the alert the last record named, for changed() */
	struct store_stats st;
} S = { .next_key = 1 };

/* ---- hashing ---------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint64_t inst_hash(const char *t, size_t tl, const char *n, size_t nl)
{
	uint64_t h = fnv(0xcbf29ce484222325u, &tl, sizeof(tl));

	h = fnv(h, t, tl);
	return fnv(h, n, nl);
}

static uint64_t ident_hash(const struct instance *in, const char *id, size_t len, bool xmond)
{
	uint64_t h = mix64((uint64_t)(uintptr_t)in + xmond);

	return fnv(h, id, len);
}

/* Chained tables: each entry type has its own chain link; `link` is the
 * offset of that link in the entry. */
static void *oom(size_t n)
{
	log_error("store: out of memory (%zu bytes)", n);
	abort();
}

static void *xcalloc(size_t n, size_t s)
{
	void *p = calloc(n, s);

	return p ? p : oom(n * s);
}

static void *xmemdup(const void *src, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		oom(n + 1);
	if (n)
		memcpy(p, src, n);
	p[n] = '\0';
	return p;
}

/* Alerts, their history arrays and their messages come from a pool of
 * size classes (16 bytes apart, blocks up to POOL_MAX with their header):
 * a freed block goes on its class's free list and the next allocation of
 * that class takes it (a pruned alert's memory serves the next ones); a
 * class with none carves a block from the current chunk. musl's malloc
 * cost some 15 % of the reactor's time per operation, spent on exactly
 * these. Chunks are mapped with MAP_POPULATE (64 KiB, doubling up to
 * 2 MiB): one call maps their pages, where first touches cost a page fault
 * each (8 % of the time, on this VM), and their memory is zero already.
 * Each block has an 8-byte header naming its class (0: a plain malloc,
 * for larger ones), so blocks are 8-byte aligned (asserted below for what
 * is stored in them).
 *
 * Chunks are never returned to the system: memory freed by pruned
 * history serves the next alerts, but after a spike xmond keeps the
 * memory of its peak. /metrics shows both figures (xmond_pool_bytes, and
 * how much of it is free: on free lists, or not yet carved).
 *
 * Under AddressSanitizer the pool stays (so sanitized runs execute it),
 * and a block on a free list is poisoned: a use after free or a double
 * free through the pool is reported like one through malloc. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(POOL_ASAN)
#define POOL_ASAN 1
#endif
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#define LSAN_ROOT(p, n) __lsan_register_root_region(p, n)  /* its pointers keep blocks alive */
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define LSAN_ROOT(p, n) ((void)(p), (void)(n))
#endif

#define POOL_MAX 1040           /* a 32-event history array and its header */
#define POOL_CLASSES (POOL_MAX / 16)
#define POOL_CHUNK_MIN (64 * 1024)
#define POOL_CHUNK_MAX (2 * 1024 * 1024)

struct pool_block {
	uint64_t class;
	struct pool_block *next;
};

static struct {
	struct pool_block *free[POOL_CLASSES + 1];
	char *cur, *end;
	size_t chunk;
	uint64_t mapped, used;  /* bytes in chunks; of them in blocks handed out */
} pool;

/* n bytes, zeroed when `zero`; freed with pool_free. */
static void *pool_alloc(size_t n, bool zero)
{
	size_t c = (n + 8 + 15) / 16;
	uint64_t *h;

	if (c > POOL_CLASSES) {
		if (!(h = zero ? calloc(1, n + 8) : malloc(n + 8)))
			oom(n + 8);
		*h = 0;
		return h + 1;
	}
	if (pool.free[c]) {
		struct pool_block *b = pool.free[c];

		UNPOISON(b, c * 16);
		pool.free[c] = b->next;
		h = &b->class;
		if (zero)
			memset(h + 1, 0, c * 16 - 8);
	} else {
		if ((size_t)(pool.end - pool.cur) < c * 16) {
			/* the rest of the chunk is lost: under POOL_MAX bytes */
			void *m;

			pool.chunk = pool.chunk ? pool.chunk : POOL_CHUNK_MIN;
			m = mmap(NULL, pool.chunk, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
			if (m == MAP_FAILED)
				oom(pool.chunk);
			POISON(m, pool.chunk);  /* uncarved memory */
			LSAN_ROOT(m, pool.chunk);
			pool.cur = m;
			pool.end = pool.cur + pool.chunk;
			pool.mapped += pool.chunk;
			if (pool.chunk < POOL_CHUNK_MAX)
				pool.chunk *= 2;
		}
		h = (uint64_t *)(void *)pool.cur;  /* zero: never used */
		UNPOISON(h, c * 16);
		pool.cur += c * 16;
	}
	*h = c;
	pool.used += c * 16;
	return h + 1;
}

/* Give back a block of pool_alloc (NULL: nothing). */
static void pool_free(void *p)
{
	uint64_t *h;
	struct pool_block *b;

	/* the header's address only once p is known not NULL: NULL - 1 is
	 * undefined (UBSan stops xmond on it) */
	if (!p)
		return;
	h = (uint64_t *)p - 1;
	if (*h == 0) {
		free(h);
		return;
	}
	if (*h > POOL_CLASSES) {
		log_error("store: freeing a block with a corrupt header (class %" PRIu64 ")", *h);
		abort();
	}
	b = container_of(h, struct pool_block, class);
	b->next = pool.free[*h];
	pool.free[*h] = b;
	pool.used -= *h * 16;
	POISON(b, *h * 16);
}

/* A NUL-terminated copy of n bytes, from the pool. */
static char *pool_memdup(const void *src, size_t n)
{
	char *p = pool_alloc(n + 1, false);

	buf_copy(p, src, n);
	p[n] = '\0';
	return p;
}

#define LINK(e, off) (*(void **)((char *)(e) + (off)))

static void table_grow(struct table *t, size_t link, uint64_t (*hash)(const void *))
{
	size_t nb = t->mask ? 2 * (t->mask + 1) : 1024;
	void **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; t->mask && i <= t->mask; i++) {
		void *e = t->b[i];

		while (e) {
			void *next = LINK(e, link);
			size_t k = hash(e) & (nb - 1);

			LINK(e, link) = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(t->b);
	t->b = b;
	t->mask = nb - 1;
}

static void table_add(struct table *t, void *e, size_t link, uint64_t h, uint64_t (*hash)(const void *))
{
	if (t->n + 1 > (t->mask ? t->mask + 1 : 0))
		table_grow(t, link, hash);
	h &= t->mask;
	LINK(e, link) = t->b[h];
	t->b[h] = e;
	t->n++;
}

static void table_del(struct table *t, void *e, size_t link, uint64_t h)
{
	void **pp = &t->b[h & t->mask];

	while (*pp && *pp != e)
		pp = &LINK(*pp, link);
	if (*pp) {
		*pp = LINK(e, link);
		t->n--;
	}
}

static uint64_t h_inst(const void *e)
{
	const struct instance *in = e;

	return inst_hash(in->app_type, in->app_type_len, in->name, in->name_len);
}

/* Keys are handed out in sequence (and come back in sequence from our
 * own journal): the key itself spreads them evenly over the buckets, and
 * the alerts of one stretch of time share cache lines of the bucket array
 * (a mixed hash scattered every new key to a cold line). */
static uint64_t key_hash(uint64_t key)
{
	return key;
}

static uint64_t h_key(const void *e)
{
	return key_hash(((const struct alert *)e)->key);
}

static uint64_t h_ident(const void *e)
{
	const struct alert *a = e;

	return ident_hash(a->inst, a->id_text, a->id_len, a->form == FORM_XMOND);
}

/* ---- lookups ---------------------------------------------------------------------- */

static struct instance *inst_find(const char *t, size_t tl, const char *n, size_t nl, bool create)
{
	uint64_t h = inst_hash(t, tl, n, nl);
	struct instance *in;

	if (S.by_inst.mask)
		for (in = S.by_inst.b[h & S.by_inst.mask]; in; in = in->hnext)
			if (in->app_type_len == tl && in->name_len == nl && !memcmp(in->app_type, t, tl) &&
			    !memcmp(in->name, n, nl))
				return in;
	if (!create)
		return NULL;
	in = xcalloc(1, sizeof(*in));
	in->app_type = xmemdup(t, tl);
	in->app_type_len = (uint16_t)tl;
	in->name = xmemdup(n, nl);
	in->name_len = (uint16_t)nl;
	table_add(&S.by_inst, in, offsetof(struct instance, hnext), h, h_inst);
	if (S.inst_tail)
		S.inst_tail->next = in;
	else
		S.inst_head = in;
	S.inst_tail = in;
	S.st.instances++;
	return in;
}

struct instance *store_instance(struct xmon_str type, struct xmon_str name, bool create)
{
	return inst_find(type.p, type.len, name.p, name.len, create);
}

static struct alert *find_open(const struct instance *in, const char *id, size_t len, bool xmond)
{
	struct alert *a;

	if (!S.by_ident.mask)
		return NULL;
	for (a = S.by_ident.b[ident_hash(in, id, len, xmond) & S.by_ident.mask]; a; a = a->inext)
		if (a->inst == in && a->id_len == len && (a->form == FORM_XMOND) == xmond &&
		    !memcmp(a->id_text, id, len))
			return a;
	return NULL;
}

struct alert *store_alert_by_key(uint64_t key)
{
	struct alert *a;

	if (!S.by_key.mask)
		return NULL;
	for (a = S.by_key.b[key_hash(key) & S.by_key.mask]; a; a = a->knext)
		if (a->key == key)
			return a;
	return NULL;
}

/* ---- lists ------------------------------------------------------------------------ */

static void list_add(struct alert **head, struct alert **tail, struct alert *a)
{
	a->next = NULL;
	a->prev = *tail;
	if (*tail)
		(*tail)->next = a;
	else
		*head = a;
	*tail = a;
}

static void list_del(struct alert **head, struct alert **tail, struct alert *a)
{
	if (a->prev)
		a->prev->next = a->next;
	else
		*head = a->next;
	if (a->next)
		a->next->prev = a->prev;
	else
		*tail = a->prev;
	a->prev = a->next = NULL;
}

static void notify_del(struct instance *in, struct alert *a)
{
	struct alert **pp = &in->notify_head, *prev = NULL;

	while (*pp && *pp != a) {
		prev = *pp;
		pp = &(*pp)->nnext;
	}
	if (!*pp)
		return;
	*pp = a->nnext;
	if (in->notify_tail == a)
		in->notify_tail = prev;
	a->nnext = NULL;
}

/* ---- records: encoding ------------------------------------------------------------ */

static uint8_t rb[6 * 65540 + 64];
static size_t rlen;

static void w_u8(uint8_t v)
{
	rb[rlen++] = v;
}

static void w_u64(uint64_t v)
{
	for (int i = 0; i < 8; i++)
		rb[rlen++] = (uint8_t)(v >> (8 * i));
}

static void w_str(const void *p, size_t n)
{
	if (n > 65535)
		n = 65535;
	rb[rlen++] = (uint8_t)n;
	rb[rlen++] = (uint8_t)(n >> 8);
	buf_copy(rb + rlen, p, n);
	rlen += n;
}

/* ---- records: decoding and applying ----------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t n;
	bool bad;
};

static uint8_t r_u8(struct rd *r)
{
	if (r->n < 1) {
		r->bad = true;
		return 0;
	}
	r->n--;
	return *r->p++;
}

static uint64_t r_u64(struct rd *r)
{
	uint64_t v = 0;

	if (r->n < 8) {
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	r->n -= 8;
	return v;
}

static struct xmon_str r_str(struct rd *r)
{
	struct xmon_str s = { "", 0 };
	size_t len;

	if (r->n < 2) {
		r->bad = true;
		return s;
	}
	len = (size_t)r->p[0] | (size_t)r->p[1] << 8;
	if (r->n < 2 + len) {
		r->bad = true;
		return s;
	}
	s.p = (const char *)r->p + 2;
	s.len = (uint16_t)len;
	r->p += 2 + len;
	r->n -= 2 + len;
	return s;
}

/* "Who" strings of the history are few (one per client address, "api",
 * "xmond"): kept once each, never freed, so that an event costs no
 * allocation for them. */
static struct {
	char **s;
	size_t n, mask;
	char *last;        /* the last one asked for: a connection's operations */
	size_t last_len;   /* come in runs, so this spares the hash and probe */
} whos;

static char *who_intern(struct xmon_str w)
{
	uint64_t h;
	size_t i;

	if (whos.last && whos.last_len == w.len && !memcmp(whos.last, w.p, w.len))
		return whos.last;
	h = fnv(0xcbf29ce484222325u, w.p, w.len);

	if (2 * (whos.n + 1) > whos.mask + 1) {
		size_t nm = whos.mask ? 2 * (whos.mask + 1) - 1 : 255;
		char **ns = xcalloc(nm + 1, sizeof(*ns));

		for (size_t k = 0; whos.mask && k <= whos.mask; k++) {
			if (!whos.s[k])
				continue;
			for (i = fnv(0xcbf29ce484222325u, whos.s[k], strlen(whos.s[k])) & nm; ns[i]; i = (i + 1) & nm)
				;
			ns[i] = whos.s[k];
		}
		free(whos.s);
		whos.s = ns;
		whos.mask = nm;
	}
	for (i = h & whos.mask; whos.s[i]; i = (i + 1) & whos.mask)
		if (strlen(whos.s[i]) == w.len && !memcmp(whos.s[i], w.p, w.len))
			break;
	if (!whos.s[i]) {
		whos.n++;
		whos.s[i] = xmemdup(w.p, w.len);
	}
	whos.last = whos.s[i];
	whos.last_len = w.len;
	return whos.s[i];
}

/* The first HIST_INLINE events live in the alert's own allocation, and so
 * do its id text and its first message (most alerts are opened, maybe
 * updated, and closed: one allocation, not four). */
#define HIST_INLINE 4
_Static_assert(sizeof(struct alert) % _Alignof(struct hist_ev) == 0, "inline events follow the alert");
_Static_assert(_Alignof(struct alert) <= 8 && _Alignof(struct hist_ev) <= 8, "pool blocks are 8-byte aligned");

static struct hist_ev *hist_inline(const struct alert *a)
{
	return (struct hist_ev *)(uintptr_t)(a + 1);
}

/* The creation's message, after the id text (not freed on its own). */
static char *msg_inline(const struct alert *a)
{
	return a->id_text + a->id_len + 1;
}

/* Add an event; returns it. Its message (a copy, at `copy` if not NULL)
 * is what a->msg points to when the event is the alert's newest message:
 * the alert does not own a->msg, its history does. */
static struct hist_ev *hist_add(struct alert *a, int64_t t, uint8_t kind, bool binnable, struct xmon_str who,
				const struct xmon_str *msg, char *copy)
{
	struct hist_ev *e;

	if (a->nhist == STORE_HIST_MAX) {
		/* keep the creation, drop the oldest event after it (never the
		 * newest message: only a close and a notice carry none) */
		struct hist_ev *d = &a->hist[1];

		a->rec_bytes -= (uint32_t)(40 + d->msg_len);
		S.live_bytes -= 40 + d->msg_len;
		if (d->msg != a->msg)  /* never the creation's, hist[0] */
			pool_free(d->msg);
		memmove(&a->hist[1], &a->hist[2], (a->nhist - 2) * sizeof(*a->hist));
		a->nhist--;
	}
	if (a->nhist == a->hcap) {
		uint32_t n = 2 * a->hcap;
		struct hist_ev *h;

		h = pool_alloc(n * sizeof(*h), false);
		memcpy(h, a->hist, a->nhist * sizeof(*h));
		if (a->hist != hist_inline(a))
			pool_free(a->hist);
		a->hist = h;
		a->hcap = n;
	}
	e = &a->hist[a->nhist++];
	e->t = t;
	e->kind = kind;
	e->binnable = binnable;
	e->who = who_intern(who);
	if (msg && copy) {
		buf_copy(copy, msg->p, msg->len);
		copy[msg->len] = '\0';
		e->msg = copy;
	} else {
		e->msg = msg ? pool_memdup(msg->p, msg->len) : NULL;
	}
	e->msg_len = msg ? msg->len : 0;
	return e;
}

static void alert_free(struct alert *a)
{
	for (uint32_t i = 0; i < a->nhist; i++)
		if (a->hist[i].msg != msg_inline(a))
			pool_free(a->hist[i].msg);
	if (a->hist != hist_inline(a))
		pool_free(a->hist);
	pool_free(a);
}

static void account(struct alert *a, size_t len)
{
	a->rec_bytes += (uint32_t)(len + JOURNAL_HDR);
	S.live_bytes += len + JOURNAL_HDR;
}

static int apply_open(struct rd *r, size_t len)
{
	uint64_t key = r_u64(r);
	int64_t t = (int64_t)r_u64(r);
	uint8_t form = r_u8(r), binnable = r_u8(r);
	struct xmon_str type = r_str(r), name = r_str(r), id = r_str(r), msg = r_str(r), who = r_str(r);
	struct instance *in;
	struct alert *a, *old;
	size_t asz;

	/* keys only grow: one at or past next_key cannot be held yet; the
	 * largest is refused, so that next_key cannot wrap to a held one */
	if (r->bad || form > FORM_XMOND || key == UINT64_MAX || (key < S.next_key && store_alert_by_key(key)))
		return -EINVAL;
	in = inst_find(type.p, type.len, name.p, name.len, true);
	/* the first events, the id text and the first message live in the
	 * same allocation */
	asz = sizeof(*a) + HIST_INLINE * sizeof(struct hist_ev) + id.len + 1 + msg.len + 1;
	a = pool_alloc(asz, true);
	a->key = key;
	a->inst = in;
	a->hist = hist_inline(a);
	a->hcap = HIST_INLINE;
	a->id_text = (char *)(a->hist + HIST_INLINE);
	buf_copy(a->id_text, id.p, id.len);
	a->id_len = id.len;
	a->id = -1;
	if (id.len && id.len <= 19) {
		int64_t v = 0;
		size_t i;

		for (i = 0; i < id.len && id.p[i] >= '0' && id.p[i] <= '9'; i++)
			v = v * 10 + (id.p[i] - '0');
		if (i == id.len && (id.len < 19 || v >= 0))
			a->id = v;
	}
	a->form = form;
	a->binnable = binnable;
	a->state = ALERT_OPEN;
	a->msg = hist_add(a, t, HIST_CREATED, binnable, who, &msg, msg_inline(a))->msg;
	a->msg_len = msg.len;
	a->created = a->updated = t;
	account(a, len);
	/* an open alert of the same ident cannot be (the live path updates
	 * it); if a damaged journal says so, the newer one wins */
	old = find_open(in, id.p, id.len, form == FORM_XMOND);
	if (old)
		table_del(&S.by_ident, old, offsetof(struct alert, inext), h_ident(old));
	table_add(&S.by_key, a, offsetof(struct alert, knext), key_hash(key), h_key);
	table_add(&S.by_ident, a, offsetof(struct alert, inext), h_ident(a), h_ident);
	list_add(&S.open_head, &S.open_tail, a);
	S.applied = a;
	in->open_alerts++;
	S.st.alerts_open++;
	if (key >= S.next_key)
		S.next_key = key + 1;
	return 0;
}

static int apply_update(struct rd *r, size_t len)
{
	uint64_t key = r_u64(r);
	int64_t t = (int64_t)r_u64(r);
	uint8_t binnable = r_u8(r);
	struct xmon_str msg = r_str(r), who = r_str(r);
	struct alert *a;

	if (r->bad)
		return -EINVAL;
	a = S.applied = store_alert_by_key(key);
	if (!a || a->state != ALERT_OPEN)
		return 0;
	a->msg = hist_add(a, t, HIST_UPDATED, binnable, who, &msg, NULL)->msg;
	a->msg_len = msg.len;
	a->binnable = binnable;
	a->updated = t;
	account(a, len);
	return 0;
}

static int apply_close(struct rd *r, size_t len)
{
	uint64_t key = r_u64(r);
	int64_t t = (int64_t)r_u64(r);
	uint8_t state = r_u8(r), notify = r_u8(r);
	struct xmon_str who = r_str(r);
	struct alert *a;

	if (r->bad || (state != ALERT_CLEARED && state != ALERT_BINNED))
		return -EINVAL;
	a = S.applied = store_alert_by_key(key);
	if (!a || a->state != ALERT_OPEN)
		return 0;
	table_del(&S.by_ident, a, offsetof(struct alert, inext), h_ident(a));
	list_del(&S.open_head, &S.open_tail, a);
	list_add(&S.closed_head, &S.closed_tail, a);
	a->state = state;
	a->closed = a->updated = t;
	a->inst->open_alerts--;
	if (a->inst->open_alerts < S.cfg.max_alerts)
		a->inst->limit_logged = false;
	S.st.alerts_open--;
	S.st.alerts_closed++;
	hist_add(a, t, state == ALERT_BINNED ? HIST_BINNED : HIST_CLEARED, a->binnable, who, NULL, NULL);
	account(a, len);
	if (notify) {
		a->notify_pending = true;
		a->nnext = NULL;
		if (a->inst->notify_tail)
			a->inst->notify_tail->nnext = a;
		else
			a->inst->notify_head = a;
		a->inst->notify_tail = a;
	}
	return 0;
}

static int apply_notified(struct rd *r, size_t len)
{
	uint64_t key = r_u64(r);
	int64_t t = (int64_t)r_u64(r);
	struct xmon_str who = r_str(r);
	struct alert *a;

	if (r->bad)
		return -EINVAL;
	a = S.applied = store_alert_by_key(key);
	if (!a || !a->notify_pending)
		return 0;
	a->notify_pending = false;
	notify_del(a->inst, a);
	hist_add(a, t, HIST_NOTIFIED, a->binnable, who, NULL, NULL);
	account(a, len);
	return 0;
}

static int apply_instance(struct rd *r)
{
	int64_t t = (int64_t)r_u64(r);
	uint8_t up = r_u8(r), parent = r_u8(r);
	struct xmon_str type = r_str(r), name = r_str(r);
	struct instance *in;

	if (r->bad)
		return -EINVAL;
	in = inst_find(type.p, type.len, name.p, name.len, true);
	if (in->up != !!up)
		S.st.instances_up += up ? 1 : (uint64_t)-1;
	in->up = up;
	in->parent = parent & 1;
	in->steady |= (parent & 2) != 0;
	in->since = t;
	return 0;
}

int store_apply(void *arg, const uint8_t *p, size_t len)
{
	struct rd r = { p + 1, len - 1, false };

	(void)arg;
	S.applied = NULL;
	if (len < 1)
		return -EINVAL;
	switch (p[0]) {
	case 'O': return apply_open(&r, len);
	case 'U': return apply_update(&r, len);
	case 'C': return apply_close(&r, len);
	case 'D': return apply_notified(&r, len);
	case 'I': return apply_instance(&r);
	case 'K': {
		uint64_t k = r_u64(&r);

		if (r.bad || k == UINT64_MAX)
			return -EINVAL;
		if (k > S.next_key)
			S.next_key = k;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/* ---- the live path: journal, then apply the same record ----------------------------- */

static bool compact_due(void);
static void compact(void);

/* End of a turn: write the turn's records and have them synced (on the
 * sync loop when there is one, else here). */
static void sync_cb(struct reactor *r, struct reactor_defer *d)
{
	(void)r;
	(void)d;
	if (!S.sync_w.active) {
		(void)store_sync();
		return;
	}
	if (!journal_sync_busy(S.j) && compact_due())
		compact();
	(void)journal_sync_start(S.j);
}

/* The sync loop finished a sync or a compaction job: compact if due (one
 * request at a time: the sync loop is idle now), and start the next sync
 * if records were written meanwhile. */
static void sync_done_cb(struct reactor *r, struct reactor_watch *w, uint32_t ev)
{
	(void)r;
	(void)w;
	(void)ev;
	/* a failed sync (logged) is retried with the next change's turn,
	 * not at once: a failing disk must not spin the two threads */
	if (journal_sync_done(S.j) < 0 || journal_sync_busy(S.j))
		return;
	if (compact_due())
		compact();
	if (journal_dirty(S.j))
		(void)journal_sync_start(S.j);
}

/* Tell the listeners (store_config.on_alert/on_instance) what the record
 * just applied changed. */
static void changed(void)
{
	struct rd r = { rb + 1, rlen - 1, false };

	if (rb[0] == 'I' && S.cfg.on_instance) {
		struct xmon_str type, name;
		struct instance *in;

		(void)r_u64(&r);
		(void)r_u8(&r);
		(void)r_u8(&r);
		type = r_str(&r);
		name = r_str(&r);
		in = r.bad ? NULL : inst_find(type.p, type.len, name.p, name.len, false);
		if (in)
			S.cfg.on_instance(in);
	} else if ((rb[0] == 'O' || rb[0] == 'U' || rb[0] == 'C' || rb[0] == 'D') && S.cfg.on_alert) {
		/* the alert store_apply() just found or made: no second lookup */
		if (S.applied)
			S.cfg.on_alert(S.applied);
	}
}

static void commit(void)
{
	journal_append(S.j, rb, rlen);
	if (store_apply(NULL, rb, rlen) < 0) {
		log_error("store: a record of type '%c' did not apply", rb[0]);
		rb[0] = 0;
	}
	if (S.started)
		reactor_defer(S.r, &S.sync, sync_cb);
	/* after the sync is queued: deferred calls run in order, so the
	 * group commit goes before the event stream's flush */
	changed();
	S.applied = NULL;  /* it may be pruned before the next record */
}

static void rec_instance(struct instance *in, bool up, bool parent)
{
	rlen = 0;
	w_u8('I');
	w_u64((uint64_t)time_real_ns());
	w_u8(up);
	w_u8((uint8_t)(parent | (in->steady ? 2 : 0)));
	w_str(in->app_type, in->app_type_len);
	w_str(in->name, in->name_len);
	commit();
}

static void rec_open(uint64_t key, int64_t t, uint8_t form, bool binnable, const struct instance *in,
		     struct xmon_str id, struct xmon_str msg, struct xmon_str who)
{
	rlen = 0;
	w_u8('O');
	w_u64(key);
	w_u64((uint64_t)t);
	w_u8(form);
	w_u8(binnable);
	w_str(in->app_type, in->app_type_len);
	w_str(in->name, in->name_len);
	w_str(id.p, id.len);
	w_str(msg.p, msg.len);
	w_str(who.p, who.len);
}

static void rec_update(uint64_t key, int64_t t, bool binnable, struct xmon_str msg, struct xmon_str who)
{
	rlen = 0;
	w_u8('U');
	w_u64(key);
	w_u64((uint64_t)t);
	w_u8(binnable);
	w_str(msg.p, msg.len);
	w_str(who.p, who.len);
}

static void rec_close(uint64_t key, int64_t t, uint8_t state, bool notify, struct xmon_str who)
{
	rlen = 0;
	w_u8('C');
	w_u64(key);
	w_u64((uint64_t)t);
	w_u8(state);
	w_u8(notify);
	w_str(who.p, who.len);
}

static void rec_notified(uint64_t key, int64_t t, struct xmon_str who)
{
	rlen = 0;
	w_u8('D');
	w_u64(key);
	w_u64((uint64_t)t);
	w_str(who.p, who.len);
}

static struct xmon_str cs(const char *s)
{
	return xmon_str_of(s, strlen(s));
}

static void arm_prune(void);

void store_deliver(struct instance *in)
{
	for (struct alert *a = in->notify_head; a && in->conn; a = a->nnext) {
		bool parent_form = a->form == FORM_PARENT && in->parent && a->id >= 0;

		if (a->notify_sent)
			continue;  /* in flight: the connection reports (store_notice_done) */
		if (!S.cfg.notify || S.cfg.notify(in->conn, a, parent_form) < 0)
			return;
		a->notify_sent = true;
	}
}

void store_notice_done(uint64_t key, struct conn *c, bool delivered)
{
	struct alert *a = store_alert_by_key(key);

	if (!a || !a->notify_pending || !a->notify_sent)
		return;
	a->notify_sent = false;
	if (delivered) {
		rec_notified(a->key, time_real_ns(), cs("xmond"));
		commit();
	} else if (a->inst->conn && a->inst->conn != c) {
		store_deliver(a->inst);
	}
}

int store_alert_set(struct instance *in, enum alert_form form, struct xmon_str id_text, int64_t id,
		    bool binnable, struct xmon_str msg, bool create, const char *who)
{
	struct alert *a = find_open(in, id_text.p, id_text.len, form == FORM_XMOND);

	(void)id;
	if (create)
		S.st.creates++;
	else
		S.st.updates++;
	if (a) {
		if (a->binnable == binnable && a->msg_len == msg.len && !memcmp(a->msg, msg.p, msg.len))
			return 0;  /* a retried or repeated message: nothing changes */
		rec_update(a->key, time_real_ns(), binnable, msg, cs(who));
		commit();
		return 0;
	}
	if (!create)
		S.st.unknown_updates++;
	if (in->open_alerts >= S.cfg.max_alerts && form != FORM_XMOND) {
		S.st.limit_refused++;
		if (!in->limit_logged)
			log_warn("instance %s (%s) holds %u open alerts, the limit: new alerts refused until some close",
				 in->name, in->app_type, in->open_alerts);
		in->limit_logged = true;
		return -ENOSPC;
	}
	rec_open(S.next_key, time_real_ns(), (uint8_t)form, binnable, in, id_text, msg, cs(who));
	commit();
	return 0;
}

int store_alert_clear(struct instance *in, struct xmon_str id_text, const char *who)
{
	struct alert *a = find_open(in, id_text.p, id_text.len, false);

	S.st.clears++;
	if (!a) {
		S.st.unknown_clears++;
		return -ENOENT;
	}
	rec_close(a->key, time_real_ns(), ALERT_CLEARED, false, cs(who));
	commit();
	arm_prune();
	return 0;
}

int store_alert_bin(uint64_t key, const char *who)
{
	struct alert *a = store_alert_by_key(key);

	if (!a)
		return -ENOENT;
	if (a->state != ALERT_OPEN)
		return -EALREADY;
	if (!a->binnable)
		return -EPERM;
	S.st.bins++;
	rec_close(a->key, time_real_ns(), ALERT_BINNED, a->form != FORM_XMOND, cs(who));
	commit();
	if (a->notify_pending)
		S.st.notices_queued++;
	arm_prune();
	store_deliver(a->inst);
	return 0;
}

/* ---- liveness --------------------------------------------------------------------- */

static void raise_down(struct instance *in)
{
	char msg[65535 + 16];
	int n = snprintf(msg, sizeof(msg), "%.*s is down", (int)in->name_len, in->name);

	if (store_alert_set(in, FORM_XMOND, cs(STORE_DOWN_ID), -1, false, xmon_str_of(msg, (size_t)n), true,
			    "xmond") == 0) {
		S.st.liveness_raised++;
		log_warn("instance %s (%s) down for the grace period: alert raised", in->name, in->app_type);
	}
}

static void grace_cb(struct reactor *r, struct reactor_timer *t)
{
	struct instance *in = container_of(t, struct instance, grace);

	(void)r;
	if (!in->up)
		raise_down(in);
}

static void arm_grace(struct instance *in)
{
	int64_t left = in->since + S.cfg.down_grace_ns - time_real_ns();

	if (!in->grace.fn)
		reactor_timer_init(&in->grace, grace_cb);
	reactor_timer_set_in(S.r, &in->grace, left > 0 ? left : 0);
}

void store_logon(struct instance *in, struct conn *c, bool parent)
{
	struct alert *down;
	struct conn *old = in->conn;

	/* the new one first, so that the old one's close leaves `in` alone */
	in->conn = c;
	if (old && old != c && S.cfg.kick)
		S.cfg.kick(old, "a newer connection logged on as the same instance");
	if (!in->up || in->parent != parent)
		rec_instance(in, true, parent);
	if (in->grace.fn)
		reactor_timer_cancel(S.r, &in->grace);
	down = find_open(in, STORE_DOWN_ID, strlen(STORE_DOWN_ID), true);
	if (down) {
		rec_close(down->key, time_real_ns(), ALERT_CLEARED, false, cs("xmond"));
		commit();
		S.st.liveness_cleared++;
		arm_prune();
		log_info("instance %s (%s) is back: liveness alert cleared", in->name, in->app_type);
	}
	store_deliver(in);
}

void store_lost(struct instance *in, struct conn *c, const char *why)
{
	if (in->conn != c)
		return;
	in->conn = NULL;
	rec_instance(in, false, in->parent);
	if (in->parent && in->steady) {
		log_info("instance %s (%s) down: %s; alert in %.3g s unless it comes back", in->name,
			 in->app_type, why, (double)S.cfg.down_grace_ns / 1e9);
		arm_grace(in);
	} else {
		log_info("instance %s (%s) gone: %s", in->name, in->app_type, why);
	}
}

void store_steady(struct instance *in, struct conn *c)
{
	if (in->conn != c || in->steady)
		return;
	in->steady = true;
	rec_instance(in, true, in->parent);
}

/* ---- history expiry --------------------------------------------------------------- */

static void prune_cb(struct reactor *r, struct reactor_timer *t);

static void prune_now(void)
{
	int64_t now = time_real_ns();

	while (S.closed_head && S.closed_head->closed + S.cfg.history_ns <= now) {
		struct alert *a = S.closed_head;

		/* A notice still pending after the whole history period (the
		 * instance never came back) goes with the alert: waiting on it
		 * would keep this alert, and every one closed after it, forever. */
		if (a->notify_pending) {
			log_info("store: alert %" PRIu64 " of %.*s expired with its binned notice never delivered "
				 "(the instance has not been back since)",
				 a->key, (int)a->inst->name_len, a->inst->name);
			a->notify_pending = false;
			notify_del(a->inst, a);
		}
		list_del(&S.closed_head, &S.closed_tail, a);
		table_del(&S.by_key, a, offsetof(struct alert, knext), key_hash(a->key));
		S.live_bytes -= a->rec_bytes;
		S.st.alerts_closed--;
		S.st.pruned++;
		if (S.cfg.on_expire)
			S.cfg.on_expire(a);
		alert_free(a);
	}
}

static void arm_prune(void)
{
	int64_t left;

	if (!S.started || !S.closed_head)
		return;
	left = S.closed_head->closed + S.cfg.history_ns - time_real_ns();
	if (!reactor_timer_pending(&S.prune) || S.prune.deadline > time_mono_ns() + left)
		reactor_timer_set_in(S.r, &S.prune, left > 0 ? left : 0);
}

static void prune_cb(struct reactor *r, struct reactor_timer *t)
{
	(void)r;
	(void)t;
	prune_now();
	arm_prune();
}

/* ---- set-up, sync, compaction ----------------------------------------------------- */

void store_init(struct reactor *r, struct journal *j, const struct store_config *cfg)
{
	S.r = r;
	S.j = j;
	S.cfg = *cfg;
	reactor_timer_init(&S.prune, prune_cb);
}

void store_reconfigure(const struct store_config *cfg)
{
	S.cfg.down_grace_ns = cfg->down_grace_ns;
	S.cfg.history_ns = cfg->history_ns;
	S.cfg.max_alerts = cfg->max_alerts;
	S.cfg.compact_factor = cfg->compact_factor;
	S.cfg.compact_min = cfg->compact_min;
	if (!S.started)
		return;
	for (struct instance *in = S.inst_head; in; in = in->next)
		if (in->grace.fn && reactor_timer_pending(&in->grace))
			arm_grace(in);
	reactor_timer_cancel(S.r, &S.prune);
	prune_now();
	arm_prune();
}

void store_start(void)
{
	S.started = true;
	for (struct instance *in = S.inst_head; in; in = in->next) {
		if (in->up) {
			/* xmond stopped while it was connected: down since now */
			rec_instance(in, false, in->parent);
		}
		if (!in->up && in->parent && in->steady && !find_open(in, STORE_DOWN_ID, strlen(STORE_DOWN_ID), true))
			arm_grace(in);
	}
	prune_now();
	arm_prune();
	reactor_defer(S.r, &S.sync, sync_cb);
}

static int emit_alert(struct journal *j, const struct alert *a)
{
	int r = 0;

	for (uint32_t i = 0; i < a->nhist && !r; i++) {
		const struct hist_ev *e = &a->hist[i];
		struct xmon_str who = cs(e->who), msg = xmon_str_of(e->msg ? e->msg : "", e->msg_len);

		switch (e->kind) {
		case HIST_CREATED:
			rec_open(a->key, e->t, a->form, e->binnable, a->inst, xmon_str_of(a->id_text, a->id_len), msg,
				 who);
			break;
		case HIST_UPDATED:
			rec_update(a->key, e->t, e->binnable, msg, who);
			break;
		case HIST_CLEARED:
		case HIST_BINNED: {
			/* pending if a notice was asked for: a later NOTIFIED
			 * event, or a notice still pending */
			bool notify = a->notify_pending;

			for (uint32_t k = i + 1; k < a->nhist; k++)
				notify |= a->hist[k].kind == HIST_NOTIFIED;
			rec_close(a->key, e->t, e->kind == HIST_BINNED ? ALERT_BINNED : ALERT_CLEARED, notify, who);
			break;
		}
		case HIST_NOTIFIED:
			rec_notified(a->key, e->t, who);
			break;
		default:
			continue;
		}
		r = journal_snap_record(j, rb, rlen);
	}
	return r;
}

static int emit(void *arg, struct journal *j)
{
	int r;

	(void)arg;
	/* what the live state's records take (live_bytes counts the
	 * alerts'), plus the instances', and some slack */
	journal_snap_reserve(j, (size_t)(S.live_bytes + 96 * S.st.instances + S.live_bytes / 16 + 4096));
	rlen = 0;
	w_u8('K');
	w_u64(S.next_key);
	r = journal_snap_record(j, rb, rlen);
	for (struct instance *in = S.inst_head; in && !r; in = in->next) {
		rlen = 0;
		w_u8('I');
		w_u64((uint64_t)in->since);
		w_u8(in->up);
		w_u8((uint8_t)(in->parent | (in->steady ? 2 : 0)));
		w_str(in->app_type, in->app_type_len);
		w_str(in->name, in->name_len);
		r = journal_snap_record(j, rb, rlen);
	}
	for (const struct alert *a = S.closed_head; a && !r; a = a->next)
		r = emit_alert(j, a);
	for (const struct alert *a = S.open_head; a && !r; a = a->next)
		r = emit_alert(j, a);
	return r;
}

void store_flush(void)
{
	(void)journal_flush(S.j);
}

static bool compact_due(void)
{
	return S.cfg.compact_factor &&
	       journal_should_compact(S.j, S.live_bytes + 64 * S.st.instances, S.cfg.compact_factor,
				      S.cfg.compact_min);
}

/* The reactor's half of a compaction: the live state into memory and
 * the next journal generation; the sync loop writes the snapshot, and
 * the journal logs the outcome when it collects it. */
static void compact(void)
{
	(void)journal_compact(S.j, emit, NULL);
}

int store_sync(void)
{
	int r = journal_sync(S.j);

	/* without a sync loop the snapshot is written here, in place; never
	 * at stop, where the final sync is all that must fit the deadline */
	if (r == 0 && !loop_stopping() && !journal_sync_busy(S.j) && compact_due())
		compact();
	return r;
}

int store_sync_loop_init(void)
{
	int fd, r = journal_async_init(S.j, &fd);

	if (r < 0)
		return r;
	return reactor_watch_add(S.r, &S.sync_w, fd, EPOLLIN, sync_done_cb);
}

/* ---- reading ---------------------------------------------------------------------- */

struct alert *store_open_newest(void)
{
	return S.open_tail;
}

struct alert *store_closed_newest(void)
{
	return S.closed_tail;
}

struct instance *store_instances(void)
{
	return S.inst_head;
}

void store_get_stats(struct store_stats *s)
{
	*s = S.st;
	s->pool_bytes = pool.mapped;
	s->pool_free_bytes = pool.mapped - pool.used;
}

void store_count_by_app_type(void (*fn)(void *arg, const char *type, uint16_t len, uint64_t n), void *arg)
{
	/* few app types: a small list, not a table */
	struct { const char *t; uint16_t len; uint64_t n; } seen[64];
	size_t ns = 0;
	uint64_t other = 0;

	for (struct instance *in = S.inst_head; in; in = in->next) {
		size_t i;

		if (!in->open_alerts)
			continue;
		for (i = 0; i < ns; i++)
			if (seen[i].len == in->app_type_len && !memcmp(seen[i].t, in->app_type, seen[i].len))
				break;
		if (i == ns) {
			if (ns == sizeof(seen) / sizeof(seen[0])) {
				other += in->open_alerts;
				continue;
			}
			seen[ns].t = in->app_type;
			seen[ns].len = in->app_type_len;
			seen[ns++].n = 0;
		}
		seen[i].n += in->open_alerts;
	}
	for (size_t i = 0; i < ns; i++)
		fn(arg, seen[i].t, seen[i].len, seen[i].n);
	if (other)
		fn(arg, "(other)", 7, other);
}
