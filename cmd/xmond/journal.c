/* journal.c: the append-only journal and snapshots of xmond (journal.h).
 *
 * No global state but the CRC32C tables (built once, then read-only).
 *
 * Recovery rules, for a record at offset `off` of a file of `size` bytes:
 *  - fewer than 12 bytes left, or a header whose ~len check fails while
 *    every byte from `off` to the end is zero (a file extended but never
 *    written): a torn tail;
 *  - a header whose check fails otherwise, or a length over
 *    JOURNAL_REC_MAX: corrupt;
 *  - a payload running past the end: a torn tail (the header checks out,
 *    so the length is right and the write was cut);
 *  - a CRC mismatch in the last record of the file: a torn tail; in any
 *    other record: corrupt.
 * A torn tail is cut off (ftruncate) only in the newest journal, the only
 * file a crash can have been writing; anywhere else, and for anything
 * corrupt, the start is refused with the file and the offset, and nothing
 * is deleted or rewritten.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "journal.h"
#include "lull/log.h"
#include "lull/loop.h"
#include "lull/prog.h"
#include "lull/time.h"

#define FLUSH_AT (4u << 20)        /* write early past this much queued */
#define HDR_MAGIC_J "XMONDJ01"
#define HDR_MAGIC_S "XMONDS01"
#define HDR_LEN 16                 /* magic + u64 generation */
#define COMPACT_RETRY_NS (1 * LULL_NSEC_PER_SEC) /* after a failed compaction */

const double journal_sync_bounds_ms[11] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250 };

/* A compaction job: the live state, encoded on the reactor, and what the
 * sync loop (or whichever thread runs it) needs to make it the snapshot.
 * The reactor fills it, the runner sets the results, the reactor reads
 * them and frees it (job_finish). */
struct compact_job {
	int dirfd;
	int oldfd;                 /* the generation the snapshot covers (the job owns it) */
	int parentfd;              /* -1, or the state directory's parent to fsync with oldfd */
	bool old_sync;             /* oldfd holds records not yet fdatasync'd */
	bool old_dir;              /* ... and its directory entry is not fsync'd */
	uint64_t gen;              /* = oldfd's generation */
	uint8_t *buf;              /* the snapshot's records, header first */
	size_t len;
	int64_t ns_reactor;        /* what the reactor half cost */
	int64_t ns_emit;           /* ... of which serializing the live state */
	/* results */
	bool old_synced;           /* oldfd is durable (or needed nothing) */
	bool renamed;              /* `snapshot` is the new one */
	const char *step;          /* what failed */
	int64_t ns;
};

/* The sync loop's mailbox: the reactor fills the request and posts
 * req_fd; the sync loop takes it (POSTED -> RUNNING), fills the result
 * (DONE, cv broadcast) and posts done_fd. Only the reactor starts a
 * request, and only when none is out (busy). At stop the reactor may take
 * a request the loop has not taken (it may have stopped) and run it
 * itself, or wait on cv for the one the loop runs (box_settle). */
enum box_state { BOX_IDLE, BOX_POSTED, BOX_RUNNING, BOX_DONE };

struct sync_box {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum box_state state;
	int fd, prevfd, dirfd, parentfd;   /* a sync: what to sync (-1: not) */
	struct compact_job *job;           /* or a compaction job */
	bool quit;
	int err;                   /* result: 0 or -errno */
	int64_t ns;                /* how long the fdatasync took */
};

struct journal {
	int dirfd, lockfd, fd;
	int parentfd;              /* the state directory's parent, while its new entry is not synced */
	int prevfd;                /* the previous generation, still to fdatasync (a failed compaction) */
	char *dir;
	uint64_t gen;              /* generation of the journal appended to */
	uint8_t *buf;              /* queued records */
	size_t len, cap;
	bool unsynced;             /* written since the last fdatasync */
	bool dir_unsynced;         /* the current journal's directory entry not fsync'd yet */
	/* background syncing (journal_async_init) */
	int req_fd, done_fd;
	bool busy;                 /* a request is with the sync loop */
	bool req_dir;              /* ... and it includes the directory */
	bool req_prev;             /* ... and prevfd */
	struct sync_box box;
	/* snapshot being serialized (journal_snap_record) */
	uint8_t *sbuf;
	size_t slen, scap;
	int64_t retry_at;          /* no compaction before (a failed one) */
	struct journal_stats st;
};

/* ---- CRC32C, slicing by 8 ------------------------------------------------------- */

static uint32_t crc_tab[8][256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

#if defined(__x86_64__)
#include <cpuid.h>

/* SSE4.2's crc32 instruction computes CRC32C: 8 bytes a cycle or so,
 * several times the tables' speed (replay checks every record). */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return ~crc;
}

static int have_hw = -1;   /* set once: benign if two threads race to set it */

static bool hw_crc(void)
{
	if (have_hw < 0) {
		unsigned a, b, c, d;

		have_hw = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
	}
	return have_hw;
}
#else
static bool hw_crc(void)
{
	return false;
}

static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	return crc;
}
#endif

/* The portable one, by tables. */
static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	if (!crc_tab[0][1])
		crc_init();
	crc = ~crc;
	while (len >= 8) {
		uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				    (uint32_t)p[3] << 24);
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^ crc_tab[5][(a >> 16) & 0xff] ^
		      crc_tab[4][a >> 24] ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^
		      crc_tab[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	return hw_crc() ? crc32c_hw(crc, buf, len) : crc32c_sw(crc, buf, len);
}

/* ---- helpers ---------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void seterr(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

/* Encode one record (header + payload) at out. */
static size_t rec_encode(uint8_t *out, const void *payload, size_t len)
{
	put32(out, (uint32_t)len);
	put32(out + 4, ~(uint32_t)len);
	put32(out + 8, crc32c(0, payload, len));
	buf_copy(out + JOURNAL_HDR, payload, len);
	return JOURNAL_HDR + len;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void jname(char *out, size_t n, uint64_t gen)
{
	snprintf(out, n, "journal.%016" PRIx64, gen);
}

/* ---- open and lock ---------------------------------------------------------------- */

int journal_open(struct journal **jp, const char *dir, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	char pid[32];
	int r;

	if (!j)
		return -ENOMEM;
	j->dirfd = j->lockfd = j->fd = j->parentfd = j->prevfd = j->req_fd = j->done_fd = -1;
	j->box.fd = j->box.prevfd = j->box.dirfd = j->box.parentfd = -1;
	pthread_mutex_init(&j->box.mu, NULL);
	pthread_cond_init(&j->box.cv, NULL);
	j->dir = strdup(dir);
	if (!j->dir) {
		r = -ENOMEM;
		goto fail;
	}
	if (mkdir(dir, 0700) == 0) {
		/* its entry in the parent becomes durable with the first sync */
		char parent[4096];

		snprintf(parent, sizeof(parent), "%s/..", dir);
		j->parentfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else if (errno != EEXIST) {
		r = -errno;
		seterr(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		r = -errno;
		seterr(err, errlen, "cannot open state directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	j->lockfd = openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lockfd < 0) {
		r = -errno;
		seterr(err, errlen, "cannot open %s/lock: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(j->lockfd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (errno == EWOULDBLOCK) {
			ssize_t n = pread(j->lockfd, pid, sizeof(pid) - 1, 0);

			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			seterr(err, errlen, "state directory %s is in use by another xmond (pid %s, lock %s/lock)",
			       dir, pid[0] ? pid : "?", dir);
			r = -EBUSY;
		} else {
			seterr(err, errlen, "cannot lock %s/lock: %s", dir, strerror(errno));
		}
		goto fail;
	}
	r = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(j->lockfd, 0) < 0 || pwrite(j->lockfd, pid, (size_t)r, 0) != r) {
		r = -errno;
		seterr(err, errlen, "cannot write %s/lock: %s", dir, strerror(errno));
		goto fail;
	}
	*jp = j;
	return 0;
fail:
	journal_close(j);
	return r;
}

/* ---- replay ----------------------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Walk the records of one file. *good: bytes of whole, valid records.
 * Returns 0 (maybe with *good < size: a torn tail), or -EBADMSG with err
 * set, or the apply callback's error. The first record is the file
 * header (magic), checked and not passed to fn; its generation goes to
 * *hdr_gen. */
static int scan(const uint8_t *b, size_t size, const char *name, const char *magic, uint64_t *hdr_gen,
		journal_apply_fn fn, void *arg, size_t *good, uint64_t *nrec, char *err, size_t errlen)
{
	size_t off = 0;

	*good = 0;
	while (off < size) {
		size_t rem = size - off;
		uint32_t len, crc;
		const uint8_t *p = b + off + JOURNAL_HDR;

		if (rem < JOURNAL_HDR)
			return 0;
		len = le32(b + off);
		if (le32(b + off + 4) != ~len) {
			if (all_zero(b + off, rem))
				return 0;
			seterr(err, errlen, "%s: corrupt record header at offset %zu (length check fails)", name, off);
			return -EBADMSG;
		}
		if (len > JOURNAL_REC_MAX) {
			seterr(err, errlen, "%s: corrupt record at offset %zu (length %u over the limit)", name, off,
			       len);
			return -EBADMSG;
		}
		if (len > rem - JOURNAL_HDR)
			return 0;
		crc = crc32c(0, p, len);
		if (crc != le32(b + off + 8)) {
			if (off + JOURNAL_HDR + len == size)
				return 0;
			seterr(err, errlen, "%s: corrupt record at offset %zu (CRC32C mismatch)", name, off);
			return -EBADMSG;
		}
		if (off == 0) {
			if (len != HDR_LEN || memcmp(p, magic, 8) != 0) {
				seterr(err, errlen, "%s: not an xmond %s (bad header at offset 0)", name,
				       !memcmp(magic, HDR_MAGIC_J, 8) ? "journal" : "snapshot");
				return -EBADMSG;
			}
			*hdr_gen = le64(p + 8);
		} else {
			int r = fn(arg, p, len);

			if (r < 0) {
				seterr(err, errlen, "%s: record at offset %zu cannot be applied (%s)", name, off,
				       strerror(-r));
				return -EBADMSG;
			}
			(*nrec)++;
		}
		off += JOURNAL_HDR + len;
		*good = off;
	}
	return 0;
}

static int map_file(int dirfd, const char *name, uint8_t **map, size_t *size)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), r = 0;

	*map = NULL;
	*size = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	*size = (size_t)st.st_size;
	if (*size) {
		/* populated: one call maps the file (it is read once, whole),
		 * not one page fault per page */
		void *m = mmap(NULL, *size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);

		if (m == MAP_FAILED) {
			r = -errno;
			goto out;
		}
		*map = m;
	}
out:
	close(fd);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Create journal.<gen> with its header and make it current (j->fd is
 * replaced, not closed: compaction hands the previous one to its job).
 * Nothing is synced here: the header, the file's directory entry (and a
 * new state directory's entry in its parent) become durable with the
 * first sync of a record, the first time they matter. A crash before
 * leaves no journal or one with a cut header, and both replay as empty. */
static int journal_create(struct journal *j, uint64_t gen)
{
	char name[40];
	uint8_t hdr[HDR_LEN], rec[JOURNAL_HDR + HDR_LEN];
	int fd, r;

	jname(name, sizeof(name), gen);
	fd = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	memcpy(hdr, HDR_MAGIC_J, 8);
	put64(hdr + 8, gen);
	rec_encode(rec, hdr, sizeof(hdr));
	r = write_all(fd, rec, sizeof(rec));
	if (r) {
		/* not left behind: the journal appended to would no longer be
		 * the newest, and its torn tail after a power loss would stop
		 * the start */
		close(fd);
		(void)unlinkat(j->dirfd, name, 0);
		return r;
	}
	/* the caller closes or keeps the previous one (compaction hands it
	 * to its job) */
	j->fd = fd;
	j->unsynced = true;
	j->dir_unsynced = true;
	j->gen = gen;
	j->st.generation = gen;
	j->st.bytes = sizeof(rec);
	return 0;
}

static int fsync_fd(int fd);

int journal_replay(struct journal *j, journal_apply_fn fn, void *arg, char *err, size_t errlen)
{
	uint64_t *gens = NULL, covered = 0, hdr_gen = 0;
	size_t ngens = 0, capg = 0, size = 0, good = 0;
	uint8_t *map = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int r = 0, dfd;
	bool have_snap = false;

	/* what is there */
	dfd = openat(j->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		r = -errno;
		if (dfd >= 0)
			close(dfd);
		seterr(err, errlen, "cannot list %s: %s", j->dir, strerror(-r));
		return r;
	}
	while ((de = readdir(d))) {
		uint64_t g;
		char tail;

		if (!strcmp(de->d_name, "snapshot")) {
			have_snap = true;
		} else if (!strcmp(de->d_name, "snapshot.tmp")) {
			/* an unfinished compaction: the rename never happened */
			if (unlinkat(j->dirfd, de->d_name, 0) == 0)
				log_warn("removed %s/snapshot.tmp left by an unfinished compaction", j->dir);
		} else if (sscanf(de->d_name, "journal.%16" SCNx64 "%c", &g, &tail) == 1 &&
			   strlen(de->d_name) == 8 + 16) {
			if (ngens == capg) {
				uint64_t *n = realloc(gens, (capg = capg ? 2 * capg : 8) * sizeof(*gens));

				if (!n) {
					r = -ENOMEM;
					goto out;
				}
				gens = n;
			}
			gens[ngens++] = g;
		}
	}
	if (ngens > 1)
		qsort(gens, ngens, sizeof(*gens), cmp_u64);

	/* the snapshot: written whole and renamed, so any fault is corruption */
	if (have_snap) {
		uint64_t n = 0;

		r = map_file(j->dirfd, "snapshot", &map, &size);
		if (r < 0) {
			seterr(err, errlen, "cannot read %s/snapshot: %s", j->dir, strerror(-r));
			goto out;
		}
		r = scan(map, size, "snapshot", HDR_MAGIC_S, &covered, fn, arg, &good, &n, err, errlen);
		if (!r && (good != size || size == 0)) {
			seterr(err, errlen, "snapshot: corrupt or cut record at offset %zu of %zu", good, size);
			r = -EBADMSG;
		}
		if (r < 0)
			goto out;
		j->st.records += n;
		j->st.snapshot_bytes = size;
		munmap(map, size);
		map = NULL;
	}

	/* journals the snapshot covers are leftovers of a compaction cut
	 * short after its rename: their records are in the snapshot */
	size_t first = 0;
	while (first < ngens && have_snap && gens[first] <= covered) {
		char name[40];

		jname(name, sizeof(name), gens[first]);
		if (unlinkat(j->dirfd, name, 0) == 0)
			log_info("removed %s/%s (covered by the snapshot)", j->dir, name);
		first++;
	}

	for (size_t i = first; i < ngens; i++) {
		char name[40];
		bool last = i + 1 == ngens;
		uint64_t n = 0;

		jname(name, sizeof(name), gens[i]);
		r = map_file(j->dirfd, name, &map, &size);
		if (r < 0) {
			seterr(err, errlen, "cannot read %s/%s: %s", j->dir, name, strerror(-r));
			goto out;
		}
		hdr_gen = gens[i];
		r = scan(map, size, name, HDR_MAGIC_J, &hdr_gen, fn, arg, &good, &n, err, errlen);
		if (r < 0)
			goto out;
		if (!r && hdr_gen != gens[i]) {
			seterr(err, errlen, "%s: header names generation %" PRIu64 " (renamed file?)", name, hdr_gen);
			r = -EBADMSG;
			goto out;
		}
		if (good < size && !last) {
			/* A torn journal with newer ones after it: a power loss
			 * while a compaction's job had not yet synced it, once
			 * the next generation's directory entry was on disk.
			 * The newer journals are synced only after this one, so
			 * nothing in them was ever synced: they are set aside
			 * (kept, renamed), and this one, truncated, is the
			 * newest. */
			for (size_t k = i + 1; k < ngens; k++) {
				char old[40], aside[60];

				jname(old, sizeof(old), gens[k]);
				snprintf(aside, sizeof(aside), "%s.unsynced", old);
				if (renameat(j->dirfd, old, j->dirfd, aside) < 0) {
					r = -errno;
					seterr(err, errlen, "%s: cut record at offset %zu, and cannot set %s aside: %s",
					       name, good, old, strerror(-r));
					goto out;
				}
				log_warn("%s/%s: torn at offset %zu with newer journals after it (a power loss "
					 "during a compaction): %s, never synced, set aside as %s", j->dir, name, good,
					 old, aside);
			}
			r = fsync_fd(j->dirfd);
			if (r < 0) {
				seterr(err, errlen, "cannot sync %s: %s", j->dir, strerror(-r));
				goto out;
			}
			ngens = i + 1;
			last = true;
		}
		j->st.records += n;
		if (map)
			munmap(map, size);
		map = NULL;
		if (!last)
			continue;
		if (good == 0) {
			/* the header itself was cut: nothing was ever in it */
			r = journal_create(j, gens[i]);
			if (r < 0) {
				seterr(err, errlen, "cannot rewrite %s/%s: %s", j->dir, name, strerror(-r));
				goto out;
			}
			continue;
		}
		j->fd = openat(j->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (j->fd < 0) {
			r = -errno;
			seterr(err, errlen, "cannot open %s/%s: %s", j->dir, name, strerror(-r));
			goto out;
		}
		if (good < size) {
			log_warn("%s/%s: torn last record at offset %zu: %zu bytes truncated", j->dir, name, good,
				 size - good);
			if (ftruncate(j->fd, (off_t)good) < 0 || fdatasync(j->fd) < 0) {
				r = -errno;
				seterr(err, errlen, "cannot truncate %s/%s: %s", j->dir, name, strerror(-r));
				goto out;
			}
			j->st.truncated_bytes += size - good;
		}
		j->gen = gens[i];
		j->st.generation = j->gen;
		j->st.bytes = good;
	}
	if (j->fd < 0) {
		r = journal_create(j, covered + 1);
		if (r < 0) {
			seterr(err, errlen, "cannot create a journal in %s: %s", j->dir, strerror(-r));
			goto out;
		}
	}
	r = 0;
out:
	if (map)
		munmap(map, size);
	free(gens);
	closedir(d);
	return r;
}

/* ---- appending -------------------------------------------------------------------- */

static void reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t n = *cap ? *cap : 65536;

	while (n < need)
		n *= 2;
	uint8_t *b = realloc(*buf, n);
	if (!b) {
		log_error("journal: out of memory for %zu bytes of records", n);
		abort();
	}
	*buf = b;
	*cap = n;
}

void journal_append(struct journal *j, const void *payload, size_t len)
{
	reserve(&j->buf, &j->cap, j->len + JOURNAL_HDR + len);
	j->len += rec_encode(j->buf + j->len, payload, len);
	j->st.records++;
	if (j->len >= FLUSH_AT)
		(void)journal_flush(j);
}

bool journal_dirty(const struct journal *j)
{
	return j->len > 0 || j->unsynced || j->busy;
}

int journal_flush(struct journal *j)
{
	int r;

	if (j->len == 0)
		return 0;
	r = write_all(j->fd, j->buf, j->len);
	if (r < 0) {
		/* A short write may have left part of the buffer: cut it off,
		 * so that the retry (the whole buffer, with the next flush)
		 * follows the last whole record instead of a fragment. If
		 * even that fails, the file ends in a torn record: the retry
		 * would put records after it, so none are written until a
		 * truncation succeeds (the next flush tries again). */
		log_error("journal: write to %s/journal.%016" PRIx64 " failed: %s", j->dir, j->gen, strerror(-r));
		while (ftruncate(j->fd, (off_t)j->st.bytes) < 0) {
			if (errno != EINTR) {
				log_error("journal: cannot cut %s/journal.%016" PRIx64 " back to %" PRIu64 " bytes: %s",
					  j->dir, j->gen, j->st.bytes, strerror(errno));
				break;
			}
		}
		return r;
	}
	j->st.bytes += j->len;
	j->len = 0;
	j->unsynced = true;
	return 0;
}

/* fsync a directory, retrying EINTR. */
static int fsync_fd(int fd)
{
	while (fsync(fd) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int fdatasync_fd(int fd)
{
	while (fdatasync(fd) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* The sync itself, on whichever thread: fdatasync the previous journal
 * generation (prevfd, -1: none) and the journal, then the directories
 * whose new entries must last. Returns 0 or -errno; *ns is the time it
 * took. */
static int do_sync(int prevfd, int fd, int dirfd, int parentfd, int64_t *ns)
{
	int64_t t0 = time_mono_ns();
	int r = 0;

	if (prevfd >= 0)
		r = fdatasync_fd(prevfd);
	if (!r)
		r = fdatasync_fd(fd);
	if (!r && dirfd >= 0)
		r = fsync_fd(dirfd);
	if (!r && parentfd >= 0)
		r = fsync_fd(parentfd);
	*ns = time_mono_ns() - t0;
	return r;
}

/* Count one sync in the stats (reactor side). */
static void account_sync(struct journal *j, int64_t ns)
{
	size_t b = 0;

	j->st.syncs++;
	j->st.sync_sum_s += (double)ns / 1e9;
	while (b < 11 && (double)ns / 1e6 > journal_sync_bounds_ms[b])
		b++;
	j->st.sync_buckets[b]++;
}

/* The directory syncs are done: forget what they were for (the parent's
 * fd stays while the sync loop may still use it). */
static void dirs_synced(struct journal *j)
{
	j->dir_unsynced = false;
	if (j->parentfd >= 0 && !j->busy) {
		close(j->parentfd);
		j->parentfd = -1;
	}
}

/* The previous generation is durable: its fd can go. */
static void prev_synced(struct journal *j)
{
	if (j->prevfd >= 0)
		close(j->prevfd);
	j->prevfd = -1;
}

static void box_settle(struct journal *j);

int journal_sync(struct journal *j)
{
	int64_t dt;
	int r;

	/* at stop, with a request out: finish it first (run it here if the
	 * sync loop has not taken it, it may never), so that a compaction
	 * job is whole before the final sync and the close */
	if (j->busy)
		box_settle(j);
	r = journal_flush(j);
	if (r < 0 || !j->unsynced)
		return r;
	r = do_sync(j->prevfd, j->fd, j->dir_unsynced ? j->dirfd : -1, j->dir_unsynced ? j->parentfd : -1, &dt);
	if (r < 0) {
		log_error("journal: fdatasync: %s", strerror(-r));
		return r;
	}
	prev_synced(j);
	if (j->dir_unsynced)
		dirs_synced(j);
	j->unsynced = false;
	account_sync(j, dt);
	return 0;
}

/* ---- syncing on the sync loop ----------------------------------------------------- */

int journal_async_init(struct journal *j, int *done_fd)
{
	j->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	j->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->req_fd < 0 || j->done_fd < 0) {
		int r = -errno;

		if (j->req_fd >= 0)
			close(j->req_fd);
		if (j->done_fd >= 0)
			close(j->done_fd);
		j->req_fd = j->done_fd = -1;
		return r;
	}
	*done_fd = j->done_fd;
	return 0;
}

static void post(int fd)
{
	uint64_t one = 1;

	/* an eventfd write fails only when the counter would overflow */
	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void drain(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
}

static int job_run(struct compact_job *c);

/* Run the request the box holds (taken: RUNNING) and leave its result
 * (DONE), on whichever thread took it. */
static void box_run(struct sync_box *b)
{
	int fd, prevfd, dirfd, parentfd, err;
	struct compact_job *c;
	int64_t ns = 0;

	pthread_mutex_lock(&b->mu);
	fd = b->fd;
	prevfd = b->prevfd;
	dirfd = b->dirfd;
	parentfd = b->parentfd;
	c = b->job;
	pthread_mutex_unlock(&b->mu);
	if (c) {
		err = job_run(c);
		ns = c->ns;
	} else {
		err = do_sync(prevfd, fd, dirfd, parentfd, &ns);
	}
	pthread_mutex_lock(&b->mu);
	b->err = err;
	b->ns = ns;
	b->state = BOX_DONE;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

int journal_sync_loop(void *arg)
{
	struct journal *j = arg;

	for (;;) {
		bool quit, take;
		int r = loop_wait_readable(j->req_fd, LULL_FOREVER);

		if (r == -ECANCELED)
			return 0;
		if (r < 0) {
			log_error("journal sync loop: %s", strerror(-r));
			return PROG_EXIT_TEMP;
		}
		drain(j->req_fd);
		pthread_mutex_lock(&j->box.mu);
		quit = j->box.quit;
		take = !quit && j->box.state == BOX_POSTED;
		if (take)
			j->box.state = BOX_RUNNING;
		pthread_mutex_unlock(&j->box.mu);
		if (quit)
			return 0;
		if (!take)
			continue;
		/* a compaction job runs whole here, not interruptible: a stop
		 * waits for it (its I/O ends; there is no wait inside) */
		box_run(&j->box);
		post(j->done_fd);
	}
}

void journal_async_quit(struct journal *j)
{
	pthread_mutex_lock(&j->box.mu);
	j->box.quit = true;
	pthread_mutex_unlock(&j->box.mu);
	post(j->req_fd);
}

/* Hand the box's request to the sync loop (reactor). */
static void box_post(struct journal *j)
{
	pthread_mutex_lock(&j->box.mu);
	j->box.state = BOX_POSTED;
	pthread_mutex_unlock(&j->box.mu);
	j->busy = true;
	post(j->req_fd);
}

int journal_sync_start(struct journal *j)
{
	int r;

	if (j->req_fd < 0)
		return journal_sync(j);
	r = journal_flush(j);
	if (r < 0 || !j->unsynced || j->busy)
		return r;
	/* everything written so far is what this sync covers */
	j->req_dir = j->dir_unsynced;
	j->req_prev = j->prevfd >= 0;
	pthread_mutex_lock(&j->box.mu);
	j->box.job = NULL;
	j->box.fd = j->fd;
	j->box.prevfd = j->prevfd;
	j->box.dirfd = j->req_dir ? j->dirfd : -1;
	j->box.parentfd = j->req_dir ? j->parentfd : -1;
	pthread_mutex_unlock(&j->box.mu);
	j->unsynced = false;
	box_post(j);
	return 0;
}

static int job_finish(struct journal *j, struct compact_job *c, int err);

/* The request is DONE: take its result (reactor). Returns as
 * journal_sync_done(). */
static int collect(struct journal *j)
{
	struct compact_job *c;
	int err;
	int64_t ns;

	pthread_mutex_lock(&j->box.mu);
	err = j->box.err;
	ns = j->box.ns;
	c = j->box.job;
	j->box.job = NULL;
	j->box.state = BOX_IDLE;
	pthread_mutex_unlock(&j->box.mu);
	j->busy = false;
	if (c)
		return job_finish(j, c, err);
	if (err < 0) {
		/* what it covered is unsynced again: the next sync retries */
		log_error("journal: fdatasync: %s", strerror(-err));
		j->unsynced = true;
		return err;
	}
	if (j->req_prev)
		prev_synced(j);
	if (j->req_dir)
		dirs_synced(j);
	account_sync(j, ns);
	return 0;
}

/* At stop, with a request out (busy): run it here if the sync loop has
 * not taken it, else wait until it finished; then collect it. */
static void box_settle(struct journal *j)
{
	bool mine;

	pthread_mutex_lock(&j->box.mu);
	mine = j->box.state == BOX_POSTED;
	if (mine)
		j->box.state = BOX_RUNNING;
	while (!mine && j->box.state == BOX_RUNNING)
		pthread_cond_wait(&j->box.cv, &j->box.mu);
	pthread_mutex_unlock(&j->box.mu);
	if (mine)
		box_run(&j->box);
	(void)collect(j);
}

int journal_sync_done(struct journal *j)
{
	bool done;

	drain(j->done_fd);
	if (!j->busy)
		return 0;
	pthread_mutex_lock(&j->box.mu);
	done = j->box.state == BOX_DONE;
	pthread_mutex_unlock(&j->box.mu);
	/* not finished: a stale wakeup */
	return done ? collect(j) : 0;
}

bool journal_sync_busy(const struct journal *j)
{
	return j->busy;
}

/* ---- compaction ------------------------------------------------------------------- */

bool journal_should_compact(const struct journal *j, uint64_t live_bytes, unsigned factor, uint64_t min_bytes)
{
	/* after a failure, not before a pause: a failing disk must not
	 * have the two threads retry back to back */
	if (j->retry_at && time_mono_ns() < j->retry_at)
		return false;
	return j->st.bytes >= min_bytes && j->st.bytes > (uint64_t)factor * live_bytes;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif

void journal_snap_reserve(struct journal *j, size_t bytes)
{
	size_t need = j->slen + bytes, page = 4096;
	uint8_t *b;

	if (need <= j->scap || !(b = realloc(j->sbuf, need)))
		return;
	j->sbuf = b;
	j->scap = need;
	/* the whole pages of the new part, mapped now (an older kernel
	 * says EINVAL: they fault in as they are written, as before) */
	uintptr_t lo = ((uintptr_t)b + j->slen + page - 1) & ~(uintptr_t)(page - 1);
	uintptr_t hi = ((uintptr_t)b + need) & ~(uintptr_t)(page - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

int journal_snap_record(struct journal *j, const void *payload, size_t len)
{
	size_t need = j->slen + JOURNAL_HDR + len;

	if (len > JOURNAL_REC_MAX)
		return -EMSGSIZE;
	if (need > j->scap) {
		/* the whole live state: out of memory fails the compaction
		 * (retried later), it does not lose a record */
		size_t n = j->scap ? j->scap : 65536;
		uint8_t *b;

		while (n < need)
			n *= 2;
		b = realloc(j->sbuf, n);
		if (!b)
			return -ENOMEM;
		j->sbuf = b;
		j->scap = n;
	}
	j->slen += rec_encode(j->sbuf + j->slen, payload, len);
	return 0;
}

/* The disk half of a compaction, on the sync loop (or in place without
 * one, or at stop): make the covered generation durable, write the
 * snapshot beside the old one, make it durable, rename it over the old
 * one, make the rename durable, then delete the journals it covers.
 * After any step a crash or a failure leaves a directory that replays to
 * the same state: the old snapshot and every journal, or the new snapshot
 * and every journal (those it covers are removed at the next start).
 * Touches nothing but the job and the fds it holds. Returns 0 or -errno,
 * with c->step naming what failed. */
static int job_run(struct compact_job *c)
{
	int64_t t0 = time_mono_ns();
	int fd = -1, r = 0;

	/* the records of the new generation are synced only after this job:
	 * those of the old one go first, so the durable records stay a
	 * prefix of the written ones even if the snapshot never lands */
	if (c->old_sync) {
		int64_t ns;

		r = do_sync(-1, c->oldfd, c->old_dir ? c->dirfd : -1, c->old_dir ? c->parentfd : -1, &ns);
		if (r < 0) {
			c->step = "fdatasync of the covered journal";
			goto out;
		}
	}
	c->old_synced = true;
	fd = openat(c->dirfd, "snapshot.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		c->step = "cannot create snapshot.tmp";
		goto out;
	}
	r = write_all(fd, c->buf, c->len);
	if (r < 0) {
		c->step = "write of snapshot.tmp";
		goto out;
	}
	r = fdatasync_fd(fd);
	if (r < 0) {
		c->step = "fdatasync of snapshot.tmp";
		goto out;
	}
	close(fd);
	fd = -1;
	if (renameat(c->dirfd, "snapshot.tmp", c->dirfd, "snapshot") < 0) {
		r = -errno;
		c->step = "rename of snapshot.tmp";
		goto out;
	}
	c->renamed = true;
	r = fsync_fd(c->dirfd);
	if (r < 0) {
		c->step = "fsync of the directory after the rename";
		goto out;
	}
	/* the snapshot holds everything up to c->gen: its journals can go */
	for (uint64_t g = c->gen;; g--) {
		char name[40];

		jname(name, sizeof(name), g);
		if (unlinkat(c->dirfd, name, 0) < 0 || g == 0)
			break;
	}
	(void)fsync_fd(c->dirfd);
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && !c->renamed)
		(void)unlinkat(c->dirfd, "snapshot.tmp", 0);
	c->ns = time_mono_ns() - t0;
	return r;
}

/* Take a finished job's result (reactor side): stats, the log line, what
 * happens to the covered generation's fd. Frees the job. Returns 0, or
 * the -errno of a failed fdatasync of the covered generation (then
 * unsynced again, as after a failed sync). */
static int job_finish(struct journal *j, struct compact_job *c, int err)
{
	int r = 0;

	if (c->old_synced) {
		close(c->oldfd);
	} else {
		/* the next sync (which the new generation's records wait for)
		 * syncs it first */
		j->prevfd = c->oldfd;
		j->unsynced = true;
		r = err;
	}
	if (c->renamed)
		j->st.snapshot_bytes = c->len;
	if (err < 0) {
		const char *left = c->renamed ? "the new snapshot is in place; the journals it covers go later"
					      : "the previous snapshot and journals stay in use";

		j->retry_at = time_mono_ns() + COMPACT_RETRY_NS;
		log_error("compaction failed: %s: %s (%s)", c->step, strerror(-err), left);
	} else {
		/* the directory fsync after the rename also made the new
		 * generation's entry durable */
		dirs_synced(j);
		j->st.compactions++;
		log_info("compaction: snapshot of %zu bytes covers journals up to %016" PRIx64
			 " (%.1f ms on the reactor, %.1f of them serializing; %.1f ms writing it)",
			 c->len, c->gen, (double)c->ns_reactor / 1e6, (double)c->ns_emit / 1e6, (double)c->ns / 1e6);
	}
	free(c->buf);
	free(c);
	return r;
}

int journal_compact(struct journal *j, journal_emit_fn emit, void *arg)
{
	struct compact_job *c = NULL;
	int64_t t0 = time_mono_ns();
	uint8_t hdr[HDR_LEN];
	int r;

	/* one request out at a time; and an older generation still to sync
	 * (a failed compaction) goes first, with the next sync */
	if (j->busy)
		return -EBUSY;
	if (j->prevfd >= 0)
		return -EAGAIN;
	/* every record so far in the old generation, none in the new one */
	r = journal_flush(j);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* the live state now, which is what the old generation ends with */
	int64_t t_emit = time_mono_ns();  /* after the flush: its write is not serializing */
	j->slen = 0;
	memcpy(hdr, HDR_MAGIC_S, 8);
	put64(hdr + 8, j->gen);
	r = journal_snap_record(j, hdr, sizeof(hdr));
	if (!r)
		r = emit(arg, j);
	if (r < 0) {
		log_error("compaction failed: the live state cannot be serialized: %s", strerror(-r));
		goto fail;
	}
	c->ns_emit = time_mono_ns() - t_emit;
	c->dirfd = j->dirfd;
	c->oldfd = j->fd;
	c->old_sync = j->unsynced;
	c->old_dir = j->dir_unsynced;
	c->parentfd = c->old_dir ? j->parentfd : -1;
	c->gen = j->gen;
	r = journal_create(j, c->gen + 1);
	if (r < 0) {
		log_error("compaction: cannot start journal generation %" PRIu64 ": %s", c->gen + 1, strerror(-r));
		goto fail;
	}
	j->retry_at = 0;
	/* the job owns the buffer now; the next compaction grows a new one */
	c->buf = j->sbuf;
	c->len = j->slen;
	j->sbuf = NULL;
	j->slen = j->scap = 0;
	c->ns_reactor = time_mono_ns() - t0;
	if (j->req_fd < 0) {
		/* no sync loop: in place */
		r = job_run(c);
		(void)job_finish(j, c, r);
		return r;
	}
	pthread_mutex_lock(&j->box.mu);
	j->box.job = c;
	pthread_mutex_unlock(&j->box.mu);
	box_post(j);
	return 0;
fail:
	j->retry_at = time_mono_ns() + COMPACT_RETRY_NS;
	free(c);
	free(j->sbuf);
	j->sbuf = NULL;
	j->slen = j->scap = 0;
	return r;
}

/* ---- the rest --------------------------------------------------------------------- */

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		(void)journal_sync(j);
		close(j->fd);
	} else if (j->busy) {
		box_settle(j);
	}
	if (j->prevfd >= 0)
		close(j->prevfd);
	if (j->parentfd >= 0)
		close(j->parentfd);
	if (j->req_fd >= 0)
		close(j->req_fd);
	if (j->done_fd >= 0)
		close(j->done_fd);
	pthread_cond_destroy(&j->box.cv);
	pthread_mutex_destroy(&j->box.mu);
	if (j->lockfd >= 0)
		close(j->lockfd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->buf);
	free(j->sbuf);
	free(j->dir);
	free(j);
}

void journal_get_stats(const struct journal *j, struct journal_stats *s)
{
	*s = j->st;
}
