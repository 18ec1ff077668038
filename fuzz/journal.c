/* fuzz/journal.c: libFuzzer harness for xmond's journal and snapshot replay
 * (cmd/xmond/journal.c, the records' decoding in cmd/xmond/store.c): what
 * a crash, a bad disk or a hand-edited state directory leaves must never
 * crash xmond nor make it allocate without bound; it starts, or refuses to
 * with the file and the offset.
 *
 * The first byte picks the form of the rest (the body):
 *   0  a journal file as it is (its header record must check out);
 *   1  a snapshot file as it is;
 *   2  a valid journal header, then the body as file bytes (bad lengths,
 *      CRCs, torn tails, corrupt middles, all past the header);
 *   3  a valid journal header, then the body cut into payloads (a length
 *      byte, then that many bytes), each framed as a valid record: the
 *      store's record decoder sees arbitrary payloads.
 * For each input:
 *  1. scan() walks the file into a fresh store: 0 or -EBADMSG with a
 *     message; the valid prefix within the file and on a record boundary.
 *  2. When it replayed, the valid prefix alone replays again to the same
 *     prefix and record count (a truncated torn tail stays truncated).
 *  3. The store's state is written as a snapshot (the compaction's emit),
 *     replayed into a fresh store and written again: the same bytes
 *     (compaction is a fixed point: nothing lost, nothing invented).
 *  4. One input in 16 goes through the real files: written as the newest
 *     journal of a state directory, journal_open + journal_replay: the
 *     same outcome as step 1, and a torn tail is cut off on disk at the
 *     valid prefix.
 *  5. CRC32C by SSE4.2 and by tables agree on the body (when the CPU has
 *     SSE4.2).
 * The store is emptied after each input, so memory stays bounded.
 *
 * cmd/xmond/journal.c and store.c are included (fuzz/run links only lib/).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/xmond/journal.c"
#include "../cmd/xmond/store.c"
#include "feed.h"

static char tmpdir[64];

static void rm_tmpdir(void)
{
	if (tmpdir[0])
		(void)rmdir(tmpdir);
}

/* Empty the store (everything store.c allocates), back to its start. */
static void store_reset(void)
{
	struct alert *lists[2] = { S.open_head, S.closed_head };

	for (int l = 0; l < 2; l++)
		for (struct alert *a = lists[l], *next; a; a = next) {
			next = a->next;
			alert_free(a);
		}
	for (struct instance *in = S.inst_head, *next; in; in = next) {
		next = in->next;
		free(in->app_type);
		free(in->name);
		free(in);
	}
	free(S.by_key.b);
	free(S.by_ident.b);
	free(S.by_inst.b);
	for (size_t i = 0; whos.s && i <= whos.mask; i++)
		free(whos.s[i]);
	free(whos.s);
	memset(&whos, 0, sizeof(whos));
	memset(&S, 0, sizeof(S));
	S.next_key = 1;
}

/* Replay one file image into a fresh store. */
static int replay(const uint8_t *b, size_t n, const char *magic, size_t *good, uint64_t *nrec, char *err,
		  size_t errlen)
{
	uint64_t gen = 0;
	int r;

	store_reset();
	*nrec = 0;
	err[0] = '\0';
	r = scan(b, n, "fuzz", magic, &gen, store_apply, NULL, good, nrec, err, errlen);
	CHECK(r == 0 || r == -EBADMSG);
	CHECK(*good <= n);
	CHECK(r == 0 || (err[0] && memchr(err, '\0', errlen)));
	return r;
}

/* The store's state as a snapshot image (what compaction writes). */
static uint8_t *snapshot_of(size_t *len)
{
	struct journal fj;
	uint8_t hdr[HDR_LEN];
	uint8_t *out;

	memset(&fj, 0, sizeof(fj));
	memcpy(hdr, HDR_MAGIC_S, 8);
	put64(hdr + 8, 7);
	CHECK(journal_snap_record(&fj, hdr, sizeof(hdr)) == 0);
	CHECK(emit(NULL, &fj) == 0);
	out = fj.sbuf;
	*len = fj.slen;
	return out;
}

/* Step 4: the same bytes through a real state directory. */
static void through_files(const uint8_t *b, size_t n, int mem_r, size_t mem_good, uint64_t mem_nrec)
{
	char path[128], err[512];
	struct journal *j = NULL;
	struct stat st;
	int fd, r;

	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/lull-fuzz-journal.XXXXXX");
		CHECK(mkdtemp(tmpdir) != NULL);
		atexit(rm_tmpdir);
	}
	snprintf(path, sizeof(path), "%s/journal.0000000000000001", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(write_all(fd, b, n) == 0);
	close(fd);
	store_reset();
	CHECK(journal_open(&j, tmpdir, err, sizeof(err)) == 0);
	r = journal_replay(j, store_apply, NULL, err, sizeof(err));
	CHECK(r == mem_r);
	if (r == 0) {
		struct journal_stats js;

		journal_get_stats(j, &js);
		CHECK(js.records == mem_nrec);
		CHECK(stat(path, &st) == 0);
		/* a torn tail is cut; a cut header is rewritten whole */
		CHECK(mem_good == 0 ? (size_t)st.st_size == JOURNAL_HDR + HDR_LEN : (size_t)st.st_size == mem_good);
	}
	journal_close(j);
	unlink(path);
	snprintf(path, sizeof(path), "%s/journal.0000000000000002", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock", tmpdir);
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the torn tails' warnings are expected, thousands a second */
	return log_open("/dev/null") < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t img[1 << 20];
	uint8_t hdr[HDR_LEN];
	const char *magic = HDR_MAGIC_J;
	size_t n = 0, good, good2, slen, slen2;
	uint64_t nrec, nrec2;
	char err[512];
	uint8_t *snap, *snap2;
	int r;

	if (size < 1 || size > 65536)
		return 0;
	const uint8_t *body = data + 1;
	size_t blen = size - 1;

	memcpy(hdr, HDR_MAGIC_J, 8);
	put64(hdr + 8, 1);
	int mode = data[0] & 3;

	switch (mode) {
	case 1:
		magic = HDR_MAGIC_S;
		/* fall through */
	case 0:
		memcpy(img, body, blen);
		n = blen;
		break;
	case 2:
		n = rec_encode(img, hdr, sizeof(hdr));
		memcpy(img + n, body, blen);
		n += blen;
		break;
	case 3:
		n = rec_encode(img, hdr, sizeof(hdr));
		for (size_t i = 0; i < blen;) {
			size_t len = body[i++];

			if (len > blen - i)
				len = blen - i;
			n += rec_encode(img + n, body + i, len);
			i += len;
		}
		break;
	}

	/* 1. the file into a fresh store */
	r = replay(img, n, magic, &good, &nrec, err, sizeof(err));
	if (r == 0) {
		/* the valid prefix ends on a record boundary: 2. it replays alike */
		CHECK(replay(img, good, magic, &good2, &nrec2, err, sizeof(err)) == 0);
		CHECK(good2 == good && nrec2 == nrec);

		/* 3. compaction is a fixed point */
		snap = snapshot_of(&slen);
		CHECK(replay(snap, slen, HDR_MAGIC_S, &good2, &nrec2, err, sizeof(err)) == 0);
		CHECK(good2 == slen);
		snap2 = snapshot_of(&slen2);
		CHECK(slen2 == slen && !memcmp(snap, snap2, slen));
		free(snap);
		free(snap2);
	}

	/* 4. through the files, now and then (the forms whose header names
	 * generation 1, as the file's name does) */
	if (mode >= 2 && (uint32_t)(size * 0x9e3779b9u) >> 28 == 0) {
		replay(img, n, magic, &good, &nrec, err, sizeof(err));
		through_files(img, n, r, good, nrec);
	}

	/* 5. both CRC32Cs */
	if (hw_crc())
		CHECK(crc32c_hw(0, body, blen) == crc32c_sw(0, body, blen));

	store_reset();
	return 0;
}
