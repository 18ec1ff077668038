/* journal.h: xmond's durable state, an append-only journal of records.
 *
 * The state directory holds:
 *   lock                 flock()ed by the running xmond (its pid inside)
 *   snapshot             the compacted state: records, first a header
 *                        naming the last journal generation it covers
 *   journal.<gen>        records appended since (16 hex digits)
 *
 * A record on disk is a 12-byte header, then the payload:
 *   u32 len (little-endian), u32 ~len, u32 CRC32C(payload), payload[len]
 * The ~len copy tells a corrupt length (refused) from a torn write (a
 * header or payload cut by a crash at the end of the file: truncated).
 *
 * Writes are group-committed: journal_append() only copies into a buffer;
 * journal_flush() writes it (one write(2)), journal_sync() writes and
 * fdatasync()s. xmond flushes before a change becomes visible (an HTTP
 * answer, a notice to a client) and syncs once per reactor turn.
 *
 * The fdatasync can run on a second thread, the sync loop
 * (journal_sync_loop), so that the reactor never waits for the disk: at
 * the end of a turn the reactor writes the queued records and, unless a
 * sync is running, asks the sync loop for one (journal_sync_start); when
 * it is done the reactor collects the result (journal_sync_done) and asks
 * again if more was written meanwhile. One sync runs at a time and covers
 * every record written before it started: syncs group themselves, one
 * per disk flush, however many changes arrive.
 *
 * Compaction (journal_compact) is split the same way. The reactor does the
 * cheap, consistent half: it writes the queued records, serializes the
 * live state into memory (the snapshot's records) and starts the next
 * journal generation, so that the records appended from then on go there
 * and the snapshot is exactly the state the old generation ends with.
 * The disk half is a job for the sync loop, run like a sync and reported
 * the same way (journal_sync_done): fdatasync the old generation if it
 * needs it, write snapshot.tmp, fdatasync it, rename it over `snapshot`,
 * fsync the directory, delete the journals the snapshot covers, fsync the
 * directory. One request at a time: while the job runs, syncs wait for
 * it (the journal stays busy) and the new generation's records are synced
 * after it, so a synced record never follows one that is not.
 * Whatever step fails or a crash interrupts, the directory replays to the
 * same state: the previous snapshot and every journal, or the new
 * snapshot and the journals after it (leftovers are removed at start).
 * Without a sync loop the job runs in place.
 *
 * Not thread-safe: one journal belongs to the thread that uses it (the
 * reactor). The sync loop touches only a mutex-protected mailbox and the
 * fds and buffer it is handed; the reactor closes or replaces none of
 * them while a request is out (journal_sync_busy).
 */
#ifndef XMOND_JOURNAL_H
#define XMOND_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_REC_MAX (1u << 20)  /* largest payload accepted */
#define JOURNAL_HDR 12

struct journal;

/* Reader callback for replay: one payload. Return 0, or -errno to stop
 * the replay (the start then fails). */
typedef int (*journal_apply_fn)(void *arg, const uint8_t *p, size_t len);

/* CRC32C (Castagnoli) of buf, continuing from crc (start with 0). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* Create `dir` if needed and take its lock. On failure returns -errno
 * and writes one clear sentence into err (another xmond, permissions). */
int journal_open(struct journal **jp, const char *dir, char *err, size_t errlen);

/* Replay snapshot then journals through fn, truncating a torn tail of the
 * last journal (logged) and refusing anything else that does not check
 * out, with the file and offset in err. Then opens the journal to append
 * to. Call once, after journal_open(). */
int journal_replay(struct journal *j, journal_apply_fn fn, void *arg, char *err, size_t errlen);

/* Queue one record (copied). Never fails for len <= JOURNAL_REC_MAX
 * (aborts the process on out-of-memory, as a lost record would be worse). */
void journal_append(struct journal *j, const void *payload, size_t len);

/* True when records are queued, or written but not yet synced (also while
 * their sync runs). */
bool journal_dirty(const struct journal *j);

/* Write queued records. Returns 0 or -errno (the records stay queued). */
int journal_flush(struct journal *j);

/* Flush and fdatasync, on the calling thread. With a request out (at
 * stop: the final sync) it first finishes that one: runs it here if the
 * sync loop has not taken it (the loop may have stopped), else waits for
 * it, and collects it, so a compaction job is whole before the final
 * sync. Returns 0 or -errno. */
int journal_sync(struct journal *j);

/* Set up syncing on a sync loop: *done_fd becomes readable each time a
 * sync finished (watch it; then call journal_sync_done()). Run
 * journal_sync_loop(j) on its own thread (a loop_fn). Returns 0 or -errno. */
int journal_async_init(struct journal *j, int *done_fd);

/* The sync loop's body (loop_fn): blocks in poll with no timeout until a
 * request comes, runs it (a sync, or a compaction job, whole: a stop
 * waits for it), reports on done_fd. Returns 0 at termination
 * (loop_stopping) or after journal_async_quit(). */
int journal_sync_loop(void *j);

/* Make journal_sync_loop() return (tests; xmond stops it with the other
 * loops). */
void journal_async_quit(struct journal *j);

/* Reactor: write queued records and, if written records are unsynced
 * and no sync is running, hand a sync to the sync loop. Without
 * journal_async_init() it syncs in place (journal_sync). Returns 0 or
 * -errno of the write. */
int journal_sync_start(struct journal *j);

/* Reactor, when done_fd is readable: collect the finished sync (counted in
 * the stats) or compaction job (counted, logged, its buffer freed).
 * Returns 0 (also for a wakeup with nothing finished, and for a failed
 * compaction whose covered journal was synced: only the snapshot is
 * missing) or the sync's -errno (its records count as unsynced again;
 * for a job, the covered generation is synced first by the next sync).
 * The caller then calls journal_sync_start() again if journal_dirty(). */
int journal_sync_done(struct journal *j);

/* True while a sync or a compaction job is with the sync loop. */
bool journal_sync_busy(const struct journal *j);

/* Compaction: the journal has grown past `factor` times `live_bytes`
 * and past `min_bytes` (and a failed compaction is a second old). */
bool journal_should_compact(const struct journal *j, uint64_t live_bytes, unsigned factor, uint64_t min_bytes);

/* Write a new snapshot (reactor). Writes the queued records, calls
 * emit(arg), which calls journal_snap_record() for every record of the
 * live state (encoded into memory), starts the next journal generation,
 * then hands the rest (see the top) to the sync loop and returns 0: the
 * result comes with journal_sync_done(), logged there. Without
 * journal_async_init() the job runs in place and its -errno is returned.
 * Returns -errno if the reactor half fails (nothing changed then), -EBUSY
 * while a request is out (call it after journal_sync_done()), -EAGAIN
 * while a failed job's covered generation waits for its sync. A failure
 * leaves the old snapshot and journals valid. journal_snap_record()
 * returns 0 or -errno (-EMSGSIZE, -ENOMEM: the compaction fails). */
typedef int (*journal_emit_fn)(void *arg, struct journal *j);
int journal_compact(struct journal *j, journal_emit_fn emit, void *arg);
int journal_snap_record(struct journal *j, const void *payload, size_t len);

/* From emit, before its records: about `bytes` of records follow. The
 * buffer is made that large at once, its pages mapped in one call rather
 * than faulted in one by one while records are copied. A hint: a wrong
 * one costs only time; out of memory is left to journal_snap_record(). */
void journal_snap_reserve(struct journal *j, size_t bytes);

/* Sync and close (a compaction job out is finished first, as in
 * journal_sync()); releases the lock. The sync loop must have returned
 * (journal_async_quit() and joined, or loop_main()). */
void journal_close(struct journal *j);

/* Counters for /metrics. */
struct journal_stats {
	uint64_t bytes;            /* size of the current journal file */
	uint64_t snapshot_bytes;
	uint64_t records, syncs, compactions, truncated_bytes;
	uint64_t generation;
	/* fsync latency histogram: buckets le 0.1,0.25,0.5,1,2.5,5,10,25,50,100,250 ms, +Inf */
	uint64_t sync_buckets[12];
	double sync_sum_s;
};
extern const double journal_sync_bounds_ms[11];
void journal_get_stats(const struct journal *j, struct journal_stats *s);

#endif
