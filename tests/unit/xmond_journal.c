/* Unit tests for cmd/xmond/journal.c: CRC32C, append and replay, torn
 * tails of every kind truncated, corruption refused with the offset and
 * nothing changed, compaction and what a crash in the middle of it leaves,
 * the lock; syncing on a sync loop thread: one sync at a time covering
 * every record written before it, grouped while one runs, counted, no
 * compaction while one runs, the final sync in place; no sync at all
 * before the first record of a fresh directory; compaction as a job of
 * the sync loop: the reactor half writes no snapshot, records appended
 * while the job is out go to the next generation and replay after the
 * snapshot, a crash before the job or a failed job leaves a directory
 * that replays, a job the loop never took is run at close, the final
 * sync waits for a job. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cmd/xmond/journal.h"
#include "lull/log.h"
#include "tap.h"

static char dir[256];

struct seen {
	int n;
	char last[64];
	int fail_at;   /* make the apply callback fail at this record (0: never) */
};

static int apply(void *arg, const uint8_t *p, size_t len)
{
	struct seen *s = arg;

	s->n++;
	if (s->fail_at && s->n == s->fail_at)
		return -EINVAL;
	snprintf(s->last, sizeof(s->last), "%.*s", (int)len, (const char *)p);
	return 0;
}

static void rm_dir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("cannot remove %s", dir);
}

/* Open and replay; returns the replay result, records in *s. */
static int reopen(struct journal **j, struct seen *s, char *err)
{
	int r;

	memset(s, 0, sizeof(*s));
	err[0] = '\0';
	r = journal_open(j, dir, err, 256);
	if (r < 0)
		return r;
	r = journal_replay(*j, apply, s, err, 256);
	if (r < 0) {
		journal_close(*j);
		*j = NULL;
	}
	return r;
}

static void write_n(struct journal *j, int from, int n)
{
	for (int i = from; i < from + n; i++) {
		char rec[32];
		int len = snprintf(rec, sizeof(rec), "record %d", i);

		journal_append(j, rec, (size_t)len);
	}
}

static char *jpath(char *buf, size_t n, unsigned gen)
{
	snprintf(buf, n, "%s/journal.%016x", dir, gen);
	return buf;
}

static off_t fsize(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void append_bytes(const char *p, const void *b, size_t n)
{
	int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd < 0 || write(fd, b, n) != (ssize_t)n)
		diag("append to %s failed", p);
	if (fd >= 0)
		close(fd);
}

/* One record as the journal frames it: len, ~len, CRC32C, payload. */
static size_t frame(uint8_t *out, const void *payload, uint32_t len)
{
	uint32_t h[3] = { len, ~len, crc32c(0, payload, len) };  /* little-endian host */

	memcpy(out, h, 12);
	memcpy(out + 12, payload, len);
	return 12 + len;
}

/* journal.<gen> written by hand: its header record, then "record from".. */
static void make_journal(unsigned gen, int from, int n)
{
	uint8_t b[4096], hdr[16];
	uint64_t g = gen;
	size_t len;
	char p[300];

	memcpy(hdr, "XMONDJ01", 8);
	memcpy(hdr + 8, &g, 8);
	len = frame(b, hdr, sizeof(hdr));
	for (int i = from; i < from + n; i++) {
		char rec[32];

		len += frame(b + len, rec, (uint32_t)snprintf(rec, sizeof(rec), "record %d", i));
	}
	int fd = open(jpath(p, sizeof(p), gen), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b, len) != (ssize_t)len)
		diag("cannot write %s", p);
	if (fd >= 0)
		close(fd);
}

static void flip(const char *p, off_t at)
{
	int fd = open(p, O_RDWR | O_CLOEXEC);
	uint8_t c = 0;

	if (fd < 0 || pread(fd, &c, 1, at) != 1)
		diag("flip: cannot read %s", p);
	c ^= 0x20;
	if (pwrite(fd, &c, 1, at) != 1)
		diag("flip: cannot write %s", p);
	close(fd);
}

static void *sync_thread(void *arg)
{
	return (void *)(intptr_t)journal_sync_loop(arg);
}

/* Wait for the sync loop's report (bounded: a lost report fails, not hangs). */
static bool wait_done(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 10000) == 1;
}

/* Replay a copy of the state directory as it is now, while `j` still
 * holds the original: what a kill -9 at this point would leave. Returns
 * the number of records replayed, -1 if the replay fails. */
static int replay_copy(struct seen *s)
{
	char saved[200], cmd[1024], err[256];
	struct journal *c = NULL;
	int r;

	snprintf(saved, sizeof(saved), "%.190s", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s.copy && cp -a %s %s.copy", saved, saved, saved);
	if (system(cmd) != 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s.copy", saved);
	r = reopen(&c, s, err);
	if (r < 0)
		diag("replay of the copy: %s", err);
	journal_close(c);
	rm_dir();
	snprintf(dir, sizeof(dir), "%s", saved);
	return r < 0 ? -1 : s->n;
}

static int emit_all(void *arg, struct journal *j)
{
	int n = *(int *)arg;

	for (int i = 1; i <= n; i++) {
		char rec[32];
		int len = snprintf(rec, sizeof(rec), "record %d", i);
		int r = journal_snap_record(j, rec, (size_t)len);

		if (r)
			return r;
	}
	return 0;
}

int main(void)
{
	struct journal *j = NULL, *j2 = NULL;
	struct seen s;
	char err[256], p[300], p2[300];
	int r;

	plan(47 + 32 + 7);
	log_open("/dev/null");
	snprintf(dir, sizeof(dir), "/tmp/xmond-journal-test.%d", (int)getpid());
	rm_dir();

	/* CRC32C check value (RFC 3720) */
	is_int(crc32c(0, "123456789", 9), 0xe3069283u, "crc32c(\"123456789\") = 0xe3069283");
	is_int(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283u, "crc32c continues across calls");

	/* a fresh directory: empty replay, then records survive a reopen */
	r = reopen(&j, &s, err);
	is_int(r, 0, "fresh state directory: replay ok");
	is_int(s.n, 0, "  no records");
	r = journal_open(&j2, dir, err, sizeof(err));
	is_int(r, -EBUSY, "a second open of the same directory: -EBUSY");
	ok(strstr(err, "in use by another xmond (pid ") != NULL, "  the error names the other pid: %s", err);
	write_n(j, 1, 100);
	ok(journal_dirty(j), "appended records are dirty");
	is_int(journal_sync(j), 0, "sync");
	ok(!journal_dirty(j), "  clean after the sync");
	write_n(j, 101, 5);   /* flushed by close */
	journal_close(j);
	r = reopen(&j, &s, err);
	is_int(r, 0, "reopen: replay ok");
	is_int(s.n, 105, "  105 records replayed");
	is_str(s.last, "record 105", "  in order");
	journal_close(j);

	/* torn tails of every kind are cut off */
	jpath(p, sizeof(p), 1);
	off_t whole = fsize(p);
	static const struct { const char *what; const char *bytes; size_t n; } torn[] = {
		{ "5 bytes of a header", "\x10\x00\x00\x00\xef", 5 },
		{ "a header and part of the payload", "\x10\x00\x00\x00\xef\xff\xff\xff\x00\x00\x00\x00" "abc", 15 },
		{ "a whole record with a bad CRC", "\x03\x00\x00\x00\xfc\xff\xff\xff\x00\x00\x00\x00" "abc", 15 },
		{ "zeros (a file extended, never written)", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20 },
	};
	for (size_t i = 0; i < sizeof(torn) / sizeof(torn[0]); i++) {
		append_bytes(p, torn[i].bytes, torn[i].n);
		r = reopen(&j, &s, err);
		ok(r == 0 && s.n == 105 && fsize(p) == whole, "torn tail (%s): truncated, 105 records", torn[i].what);
		journal_close(j);
	}

	/* corruption in the middle: refused with the offset, nothing changed */
	off_t rec50 = 0;
	{
		/* records are 12 + len bytes; the header record is 12 + 16 */
		rec50 = 28;
		for (int i = 1; i < 50; i++) {
			char rec[32];

			rec50 += 12 + snprintf(rec, sizeof(rec), "record %d", i);
		}
	}
	flip(p, rec50 + 12 + 2);
	r = reopen(&j, &s, err);
	is_int(r, -EBADMSG, "a flipped payload byte in record 50: replay refused");
	snprintf(p2, sizeof(p2), "at offset %lld (CRC32C mismatch)", (long long)rec50);
	ok(strstr(err, p2) != NULL, "  the error names the offset: %s", err);
	is_int(fsize(p), whole, "  the file is left as it was");
	flip(p, rec50 + 12 + 2);
	flip(p, rec50 + 1);
	r = reopen(&j, &s, err);
	ok(r == -EBADMSG && strstr(err, "length check fails"), "a flipped length byte: refused as corrupt, not torn: %s", err);
	flip(p, rec50 + 1);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 105, "restored: replays again");

	/* an apply failure stops the start, naming the record */
	journal_close(j);
	memset(&s, 0, sizeof(s));
	s.fail_at = 7;
	journal_open(&j, dir, err, sizeof(err));
	r = journal_replay(j, apply, &s, err, sizeof(err));
	ok(r == -EBADMSG && strstr(err, "cannot be applied"), "a record the store rejects stops the replay: %s", err);
	journal_close(j);

	/* compaction: snapshot + next journal, old journal gone */
	r = reopen(&j, &s, err);
	int n = 105;
	r = journal_compact(j, emit_all, &n);
	is_int(r, 0, "compaction");
	ok(access(p, F_OK) != 0, "  the covered journal is deleted");
	jpath(p2, sizeof(p2), 2);
	ok(access(p2, F_OK) == 0, "  journal generation 2 started");
	write_n(j, 106, 3);
	journal_close(j);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 108 && !strcmp(s.last, "record 108"), "snapshot + journal replay: 108 records (%d)", s.n);
	journal_close(j);

	/* a crash after the rename, before the old journal went: the journal
	 * the snapshot covers is removed at the next start, not replayed */
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	close(fd);
	snprintf(p2, sizeof(p2), "%s/snapshot.tmp", dir);
	fd = open(p2, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	close(fd);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 108, "leftovers of a cut compaction: still 108 records");
	ok(access(p, F_OK) != 0 && access(p2, F_OK) != 0, "  the covered journal and snapshot.tmp are removed");
	journal_close(j);

	/* a corrupt snapshot is refused, whole */
	snprintf(p2, sizeof(p2), "%s/snapshot", dir);
	flip(p2, fsize(p2) - 1);
	r = reopen(&j, &s, err);
	ok(r == -EBADMSG && strstr(err, "snapshot"), "a damaged snapshot: refused: %s", err);
	flip(p2, fsize(p2) - 1);

	/* big records and the flush threshold */
	r = reopen(&j, &s, err);
	static char big[200000];
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 50; i++)
		journal_append(j, big, sizeof(big));
	journal_close(j);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 158, "50 records of 200 kB: 158 records");
	struct journal_stats st;
	journal_get_stats(j, &st);
	ok(st.generation == 2 && st.bytes > 50 * 200000, "stats: generation %llu, %llu bytes",
	   (unsigned long long)st.generation, (unsigned long long)st.bytes);
	ok(journal_should_compact(j, 1000, 4, 8u << 20), "a 10 MB journal over 1000 live bytes asks for compaction");
	journal_close(j);

	/* a power loss during a compaction's job: generation 2 torn (its
	 * sync was the job's), generation 3's entry and some of its pages on
	 * disk though never synced: 3 is set aside, 2 truncated and kept on */
	jpath(p, sizeof(p), 2);
	off_t g2 = fsize(p);
	append_bytes(p, "\x10\x00\x00\x00\xef\xff\xff\xff\x00\x00\x00\x00" "abc", 15);
	make_journal(3, 900, 2);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 158, "torn journal 2 with a journal 3 after it: starts, 158 records, not 160 (%d): %s", s.n,
	   err);
	jpath(p2, sizeof(p2), 3);
	ok(access(p2, F_OK) != 0 && fsize(p) == g2, "  journal 2 truncated, journal 3 gone from the replay");
	strcat(p2, ".unsynced");
	ok(access(p2, F_OK) == 0, "  but kept, as journal.0000000000000003.unsynced");
	write_n(j, 1000, 1);
	journal_close(j);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 159 && !strcmp(s.last, "record 1000"), "  appends go on in journal 2: 159 records (%d)", s.n);

	/* a write cut short (here by the file size limit: EFBIG) leaves no
	 * fragment for the retry to follow */
	struct rlimit fsz, lim;
	getrlimit(RLIMIT_FSIZE, &fsz);
	signal(SIGXFSZ, SIG_IGN);
	g2 = fsize(p);
	lim = fsz;
	lim.rlim_cur = (rlim_t)g2 + 100;
	setrlimit(RLIMIT_FSIZE, &lim);
	journal_append(j, big, 1000);
	ok(journal_flush(j) < 0 && fsize(p) == g2, "a write cut short: the flush fails, the file cut back to %lld (%lld)",
	   (long long)g2, (long long)fsize(p));
	setrlimit(RLIMIT_FSIZE, &fsz);
	ok(journal_flush(j) == 0, "  the retry writes the whole record");
	journal_close(j);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 160, "  and it replays once, after the others: 160 records (%d) %s", s.n, err);
	journal_close(j);

	/* syncing on a sync loop thread */
	rm_dir();
	r = reopen(&j, &s, err);
	journal_get_stats(j, &st);
	ok(r == 0 && st.syncs == 0 && journal_dirty(j),
	   "a fresh directory: no sync before READY (%llu), the new journal's header waits for the first sync",
	   (unsigned long long)st.syncs);
	int done_fd = -1;
	pthread_t th;
	ok(journal_async_init(j, &done_fd) == 0 && done_fd >= 0 && fcntl(done_fd, F_GETFD) == FD_CLOEXEC,
	   "journal_async_init: a close-on-exec eventfd to watch");
	ok(pthread_create(&th, NULL, sync_thread, j) == 0, "sync loop thread started");
	write_n(j, 1, 1);
	ok(journal_sync_start(j) == 0 && journal_sync_busy(j), "journal_sync_start: the sync goes to the sync loop");
	ok(journal_compact(j, emit_all, NULL) == -EBUSY, "  no compaction while it runs (the fd is the sync loop's)");
	/* while it runs: 100 changes, each asking for a sync at the end of its turn */
	for (int i = 0; i < 100; i++) {
		write_n(j, 2 + i, 1);
		(void)journal_sync_start(j);
	}
	ok(wait_done(done_fd) && journal_sync_done(j) == 0 && !journal_sync_busy(j), "  its report is collected");
	ok(journal_dirty(j), "  the 100 records written meanwhile are still to sync");
	ok(journal_sync_start(j) == 0 && wait_done(done_fd) && journal_sync_done(j) == 0 && !journal_dirty(j),
	   "  one more sync covers all 100");
	journal_get_stats(j, &st);
	is_int((long long)st.syncs, 2, "101 records, 101 requests: 2 syncs (grouped while one runs)");
	uint64_t nb = 0;
	for (int i = 0; i < 12; i++)
		nb += st.sync_buckets[i];
	is_int((long long)nb, 2, "  both in the fsync histogram");
	uint64_t one = 1;
	ok(write(done_fd, &one, sizeof(one)) == sizeof(one) && journal_sync_done(j) == 0 && !journal_sync_busy(j) &&
	   !journal_dirty(j), "  a stale wakeup is harmless");
	/* the final sync, in place, with a request still at the loop */
	write_n(j, 102, 5);
	ok(journal_sync_start(j) == 0 && journal_sync_busy(j), "a sync at the loop at stop time");
	ok(journal_sync(j) == 0, "  the final sync runs in place anyway");
	journal_async_quit(j);
	ok(pthread_join(th, NULL) == 0, "journal_async_quit: the sync loop returns");
	journal_close(j);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 106 && !strcmp(s.last, "record 106"), "reopened: 106 records (%d)", s.n);
	journal_close(j);

	/* compaction without a sync loop, failing at the rename (a directory
	 * named snapshot): the error, no snapshot.tmp left, the journal goes
	 * on in the next generation and everything replays */
	rm_dir();
	r = reopen(&j, &s, err);
	write_n(j, 1, 20);
	snprintf(p2, sizeof(p2), "%s/snapshot", dir);
	mkdir(p2, 0700);
	n = 20;
	r = journal_compact(j, emit_all, &n);
	ok(r < 0, "in place, the rename fails (a directory named snapshot): %d", r);
	snprintf(p, sizeof(p), "%s/snapshot.tmp", dir);
	ok(access(p, F_OK) != 0, "  snapshot.tmp is removed");
	write_n(j, 21, 5);
	ok(journal_sync(j) == 0, "  the journal keeps working");
	journal_close(j);
	rmdir(p2);
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 25 && !strcmp(s.last, "record 25"), "  both generations replay: 25 records (%d)", s.n);
	journal_close(j);

	/* compaction as a job of the sync loop */
	int got;
	rm_dir();
	r = reopen(&j, &s, err);
	ok(journal_async_init(j, &done_fd) == 0, "compaction on the sync loop");
	write_n(j, 1, 50);
	n = 50;
	r = journal_compact(j, emit_all, &n);
	ok(r == 0 && journal_sync_busy(j), "  journal_compact hands a job to the sync loop (%d)", r);
	snprintf(p2, sizeof(p2), "%s/snapshot", dir);
	ok(access(p2, F_OK) != 0 && access(jpath(p, sizeof(p), 1), F_OK) == 0,
	   "  the reactor wrote no snapshot and deleted nothing");
	jpath(p, sizeof(p), 2);
	off_t hdr2 = fsize(p);
	ok(hdr2 == 28, "  generation 2 started at once (%lld bytes)", (long long)hdr2);
	write_n(j, 51, 10);
	ok(journal_sync_start(j) == 0 && fsize(p) > hdr2, "  records appended while the job is out go to generation 2");
	ok(journal_compact(j, emit_all, &n) == -EBUSY, "  one job at a time");
	got = replay_copy(&s);
	ok(got == 60 && !strcmp(s.last, "record 60"),
	   "  a crash before the job ran: the old journal and generation 2 replay, 60 records (%d)", got);
	journal_get_stats(j, &st);
	ok(st.compactions == 0, "  not counted before it is done");
	ok(pthread_create(&th, NULL, sync_thread, j) == 0 && wait_done(done_fd) && journal_sync_done(j) == 0 &&
	   !journal_sync_busy(j), "  the sync loop runs it and reports");
	journal_get_stats(j, &st);
	ok(st.compactions == 1 && st.snapshot_bytes == (uint64_t)fsize(p2) && st.snapshot_bytes > 50 * 20,
	   "  counted: 1 compaction, a snapshot of %llu bytes", (unsigned long long)st.snapshot_bytes);
	ok(access(jpath(p, sizeof(p), 1), F_OK) != 0, "  the covered journal is deleted");
	ok(journal_dirty(j), "  generation 2's records wait for the next sync");
	ok(journal_sync_start(j) == 0 && wait_done(done_fd) && journal_sync_done(j) == 0 && !journal_dirty(j),
	   "  which the group commit runs as usual");
	got = replay_copy(&s);
	ok(got == 60 && !strcmp(s.last, "record 60"),
	   "  the snapshot, then generation 2: 60 records (%d)", got);

	/* a failed job: snapshot.tmp cannot be created */
	snprintf(p, sizeof(p), "%s/snapshot.tmp", dir);
	mkdir(p, 0700);
	off_t snap1 = fsize(p2);
	write_n(j, 61, 5);
	n = 65;
	ok(journal_compact(j, emit_all, &n) == 0 && wait_done(done_fd) && journal_sync_done(j) == 0 &&
	   !journal_sync_busy(j), "a job that fails (snapshot.tmp cannot be created) is collected");
	journal_get_stats(j, &st);
	ok(st.compactions == 1 && fsize(p2) == snap1 && access(jpath(p, sizeof(p), 2), F_OK) == 0 &&
	   access(jpath(p, sizeof(p), 3), F_OK) == 0,
	   "  not counted; the old snapshot and generation 2 stay, generation 3 is current");
	ok(!journal_should_compact(j, 1, 1, 1000), "  not due again at once: the new generation is empty");
	ok(!journal_should_compact(j, 0, 1, 0), "  nor with no minimum: a pause after a failure, not a spin");
	write_n(j, 66, 5);
	ok(journal_sync_start(j) == 0 && wait_done(done_fd) && journal_sync_done(j) == 0 && !journal_dirty(j),
	   "  the journal keeps working");
	got = replay_copy(&s);
	ok(got == 70 && !strcmp(s.last, "record 70"),
	   "  the directory replays: snapshot, generations 2 and 3, 70 records (%d)", got);
	snprintf(p, sizeof(p), "%s/snapshot.tmp", dir);
	rmdir(p);
	n = 70;
	ok(journal_compact(j, emit_all, &n) == 0 && wait_done(done_fd) && journal_sync_done(j) == 0,
	   "  the next compaction succeeds");
	journal_get_stats(j, &st);
	ok(st.compactions == 2 && access(jpath(p, sizeof(p), 2), F_OK) != 0 &&
	   access(jpath(p, sizeof(p), 3), F_OK) != 0 && access(jpath(p, sizeof(p), 4), F_OK) == 0,
	   "  and deletes both generations it covers");

	/* the final sync with a job out: waits for it or runs it */
	write_n(j, 71, 5);
	n = 75;
	ok(journal_compact(j, emit_all, &n) == 0, "a job out at stop");
	write_n(j, 76, 5);
	ok(journal_sync(j) == 0 && !journal_sync_busy(j) && !journal_dirty(j), "  the final sync finishes it first");
	journal_get_stats(j, &st);
	ok(st.compactions == 3 && access(jpath(p, sizeof(p), 4), F_OK) != 0, "  the job is done: 3 compactions");
	journal_async_quit(j);
	pthread_join(th, NULL);

	/* a job the sync loop never takes (it stopped): journal_close runs it */
	write_n(j, 81, 5);
	n = 85;
	ok(journal_compact(j, emit_all, &n) == 0 && journal_sync_busy(j), "a job posted after the sync loop stopped");
	write_n(j, 86, 5);
	journal_close(j);
	ok(access(jpath(p, sizeof(p), 5), F_OK) != 0 && access(jpath(p, sizeof(p), 6), F_OK) == 0,
	   "  journal_close ran it: generation 5 is covered and gone");
	r = reopen(&j, &s, err);
	ok(r == 0 && s.n == 90 && !strcmp(s.last, "record 90"),
	   "  the snapshot and generation 6 replay: 90 records (%d)", s.n);
	journal_close(j);

	rm_dir();
	return tap_failed ? 1 : 0;
}
