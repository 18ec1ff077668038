#!/usr/bin/env bash
# The log module with real processes: 4 threads writing at full speed into
# one file, SIGKILLed at a random moment, rotated by mv + SIGHUP, writing
# into a pipe, on a full filesystem, and two processes sharing a file when
# writes fail or are cut short (ENOSPC, EFBIG). The helper logstress writes
# records whose bytes are a function of (thread, seq) and verifies files in
# C: every record whole, no interleaving, none twice, none lost that the
# logger said it had written.
. "$(dirname "$0")/tap.sh"

LS=$TBIN/logstress
[ -x "$LS" ] || skip_all "$LS not built (make $LS)"
plan 45
THREADS=4
RECORDS=${LOG_T_RECORDS:-100000}   # per thread
TOTAL=$((THREADS * RECORDS))
unset JOURNAL_STREAM LULL_DEBUG

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
# field SHM NAME: one value from `logstress --status`
field() { "$LS" --status "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# check ARGS...: run the verifier, show its summary (and diagnostics)
check() {
	local out rc
	out=$("$LS" --verify "$@" 2>&1)
	rc=$?
	diag "$out"
	return $rc
}
# reap PID: wait for it (in this shell, not in a $(...) subshell, which
# cannot wait for its parent's children); its status in $rc
reap() { wait "$1" 2>/dev/null; rc=$?; }

# 0. The verifier has teeth: a good file passes, damaged copies fail.
"$LS" --mark "$TMP/v.shm" "$TMP/v.log" 2 1000
is $? 0 "small run exits 0"
check --complete "$TMP/v.log" 2 1000 "$TMP/v.shm"
ok $? "verifier accepts the untouched file"
damaged=0
sed '500d' "$TMP/v.log" > "$TMP/v1"                         # a record missing
sed '500p' "$TMP/v.log" > "$TMP/v2"                         # a record twice
sed '500s/^\(.\{70\}\)/\1\n/' "$TMP/v.log" > "$TMP/v3"      # a record split
awk 'NR==500 { printf "%s", substr($0, 1, 60); next } { print }' "$TMP/v.log" > "$TMP/v4"   # glued
sed '500s/seq=\([0-9]*\) ./seq=\1 ~/' "$TMP/v.log" > "$TMP/v5"   # one byte changed
awk 'NR == 500 { held = $0; match($0, /\[t[0-9]+\]/); tag = substr($0, RSTART, RLENGTH); next }
     held != "" && index($0, tag) { print; print held; held = ""; next } { print }' \
	"$TMP/v.log" > "$TMP/v6"                                # a thread's records swapped
for f in v1 v2 v3 v4 v5 v6; do
	if "$LS" --verify --complete "$TMP/$f" 2 1000 > "$TMP/$f.out" 2>&1; then
		diag "verifier accepted damaged file $f"
		damaged=$((damaged + 1))
	fi
done
is $damaged 0 "verifier rejects a missing, doubled, split, glued, altered or reordered record"

# 1. Complete run: all 400 000 records, each whole and once.
t0=$(now_ms)
"$LS" --mark "$TMP/c.shm" "$TMP/c.log" $THREADS $RECORDS
is $? 0 "complete run: $THREADS threads x $RECORDS records, exit 0"
dur=$(($(now_ms) - t0))
diag "complete run took $dur ms"
check --complete "$TMP/c.log" $THREADS $RECORDS "$TMP/c.shm"
ok $? "complete run: all $TOTAL records present, whole, once, in order per thread"
rm -f "$TMP/c.log"

# 1b. SIGKILL at a random moment while the threads write. Every record
# whose log call had returned must be in the file. The kill comes 50-300
# ms after the writers started (less if the whole run is shorter: the
# kill must land mid-run, which is checked, and retried earlier if not).
hi=$((dur * 6 / 10)); [ $hi -gt 300 ] && hi=300; [ $hi -lt 2 ] && hi=2
lo=$((hi / 6)); [ $lo -gt 50 ] && lo=50
for run in 1 2 3; do
	delay=$((lo + RANDOM % (hi - lo + 1)))
	for try in 1 2 3 4; do
		rm -f "$TMP/k.log" "$TMP/k.shm"
		"$LS" --mark "$TMP/k.shm" "$TMP/k.log" $THREADS $RECORDS &
		pid=$!
		track $pid
		wait_for "progress file" 10 test -e "$TMP/k.shm"
		sleep "$(printf '0.%03d' "$delay")"
		kill -KILL $pid 2>/dev/null
		reap $pid
		[ "$rc" = 137 ] && break
		diag "run $run: finished before the kill at $delay ms (status $rc); retrying earlier"
		delay=$((delay / 2))
	done
	returned=$(field "$TMP/k.shm" returned)
	diag "run $run: SIGKILL $delay ms after start, $returned of $TOTAL log calls had returned"
	ok $([ "$rc" = 137 ] && [ "$returned" -lt $TOTAL ]; echo $?) "kill $run: SIGKILLed mid-run"
	check --killed "$TMP/k.log" $THREADS $RECORDS "$TMP/k.shm"
	ok $? "kill $run: every returned record present once and whole, no interleaving"
done
rm -f "$TMP/k.log"

# 2. Rotation under load: mv FILE FILE.i, SIGHUP, 5 times, 50 ms apart,
# while the writers run. The rotations must all happen mid-run, so the
# run is sized from the complete run's speed to last about 1.5 s.
rot=$((RECORDS * 1500 / (dur > 0 ? dur : 1)))
[ $rot -lt $RECORDS ] && rot=$RECORDS
[ $rot -gt $((RECORDS * 3)) ] && rot=$((RECORDS * 3))
R=$TMP/r.log
"$LS" --mark "$TMP/r.shm" "$R" $THREADS $rot &
pid=$!
track $pid
wait_for "progress file" 10 test -e "$TMP/r.shm"
wait_for "first records" 10 test -s "$R"
rotated=0
for i in 1 2 3 4 5; do
	sleep 0.05
	mv "$R" "$R.$i" || break
	kill -HUP $pid || break
	wait_for "new log after rotation $i" 10 test -e "$R" || break
	rotated=$i
done
returned=$(field "$TMP/r.shm" returned)
reap $pid
is $rc 0 "rotation: $THREADS x $rot records, exit 0"
is $rotated 5 "rotation: 5 times mv + SIGHUP, each reopened the file"
diag "after the 5th rotation $returned of $((THREADS * rot)) log calls had returned"
ok $([ "$returned" -lt $((THREADS * rot)) ]; echo $?) "rotation: all 5 happened while the threads were writing"
busy=0
for i in 1 2 3 4 5; do
	n=$(grep -c ' info  \[t[0-9]*\] t=' "$R.$i")
	diag "$R.$i: $n records"
	[ "$n" -gt 0 ] && busy=$((busy + 1))
done
is $busy 5 "rotation: every rotated file got records from the threads"
is "$(cat "$R".[1-5] "$R" | grep -c '\[main\] SIGHUP: log reopened$')" 5 "rotation: 5 'log reopened' lines"
cat "$R".[1-5] "$R" | check --complete /dev/stdin $THREADS $rot "$TMP/r.shm"
ok $? "rotation: concatenated files hold every record once, whole, in order"
rm -f "$R" "$R".[1-5]

# 3. A pipe: stderr ("-") into cat, which starts late so that the pipe
# fills and writers block in write(2) for room (the sleep only makes the
# pipe full; nothing waits on it).
P=$TMP/p.log
"$LS" - $THREADS $RECORDS 2>&1 >/dev/null | { sleep 0.2; exec cat; } > "$P"
st=("${PIPESTATUS[@]}")
is "${st[0]} ${st[1]}" "0 0" "pipe: logstress to stderr, a pipe into cat: both exit 0"
check --complete "$P" $THREADS $RECORDS
ok $? "pipe: all $TOTAL records present, whole, once, in order per thread"
rm -f "$P"

# 4. Full filesystem: a 256 KB tmpfs, half taken by a filler file. Two
# threads log 5000 records each (about 1 MB): most fail with ENOSPC. The
# calls still return, the process keeps running; once the filler is gone,
# the next record (SIGHUP's "log reopened") gets through and reports the
# loss; every record in the file is whole and the count adds up.
F=$TMP/full
FULL_TESTS=11
mkdir -p "$F"
if ! err=$(mount -t tmpfs -o size=256k lull-log-test "$F" 2>&1); then
	for ((i = 0; i < FULL_TESTS; i++)); do ok 0 "# SKIP cannot mount a tmpfs (need root): $err"; done
else
	trap 'umount -l "$F" 2>/dev/null; _tap_cleanup' EXIT
	dd if=/dev/zero of="$F/filler" bs=4k count=32 2>/dev/null
	"$LS" --mark "$TMP/f.shm" --linger "$F/log" 2 5000 &
	pid=$!
	track $pid
	wait_for "progress file" 10 test -e "$TMP/f.shm"
	writers_done() { [ "$(field "$TMP/f.shm" done)" = 2/2 ]; }
	wait_for "all writers done" 30 writers_done
	ok $? "full: every writer finished its 5000 records (no call blocked)"
	is "$(field "$TMP/f.shm" returned)" 10000 "full: all 10000 log calls returned"
	lost=$(field "$TMP/f.shm" lost)
	diag "log_lost() = $lost, file $(stat -c %s "$F/log") bytes, df: $(df -k "$F" | tail -1)"
	ok $([ "${lost:-0}" -gt 0 ]; echo $?) "full: the disk filled up and log_lost() counted $lost records"
	ok $(kill -0 $pid; echo $?) "full: the process is still running"
	is "$(grep -c 'lost to write errors' "$F/log")" 0 "full: no loss report while nothing gets through"
	rm -f "$F/filler"
	kill -HUP $pid
	wait_for "loss report" 10 grep -q 'lost to write errors' "$F/log"
	ok $? "full: after space is freed, a loss report appears"
	ok $(grep -qE "^[0-9T:.-]+Z warn  \[main\] log: $lost record\(s\) lost to write errors \(last: No space left on device\)$" \
		"$F/log"; echo $?) "full: it reports exactly the $lost lost records and ENOSPC"
	kill -TERM $pid
	reap $pid
	is $rc 0 "full: SIGTERM -> exit 0"
	ok $(grep -q '\[main\] terminating: SIGTERM' "$F/log"; echo $?) "full: the termination line was written too"
	check --lossy "$F/log" 2 5000 "$TMP/f.shm"
	ok $? "full: records present + reported lost = 10000, none torn into another"
	umount "$F"
	ok $? "full: tmpfs unmounted"
fi


# 5. Writes cut short, two processes on one file. When the disk fills or
# the size limit is reached, the write that crosses the limit moves only
# the start of its record. Its rest must not be written (it would land
# after the other process's next record); the fragment must be ended by a
# marker, and the record counted lost. Records are 104 bytes and the room
# 2 MB, which is not a multiple of 104: at least one write is cut short.
# The room takes both processes' writers some milliseconds to fill, so
# their records interleave.
# Every line must be a whole record or a marked fragment, records present +
# lost (reported by both processes) = written.
# two_procs NAME DIR ERROR FREE [ARGS...]: the shared run, 7 tests. ERROR
# is the strerror text the loss reports must name, FREE a command that
# makes room again, ARGS more logstress options.
two_procs() {
	local name=$1 L=$2/log error=$3 free=$4 pa pb ra la lb n
	shift 4
	"$LS" --mark "$TMP/$name-a.shm" --linger --go "$TMP/$name.go" --first 0 "$@" "$L" 2 10000 &
	pa=$!
	track $pa
	"$LS" --mark "$TMP/$name-b.shm" --linger --go "$TMP/$name.go" --first 2 "$@" "$L" 2 10000 &
	pb=$!
	track $pb
	wait_for "progress files" 10 test -e "$TMP/$name-a.shm" -a -e "$TMP/$name-b.shm"
	touch "$TMP/$name.go"   # both start writing together
	both_done() { [ "$(field "$TMP/$name-a.shm" done)" = 2/2 ] && [ "$(field "$TMP/$name-b.shm" done)" = 2/2 ]; }
	wait_for "all writers done" 30 both_done
	ok $? "$name: both processes' writers finished (no call blocked)"
	la=$(field "$TMP/$name-a.shm" lost)
	lb=$(field "$TMP/$name-b.shm" lost)
	diag "$name: log_lost() = $la and $lb, file $(stat -c %s "$L") bytes"
	ok $([ "${la:-0}" -gt 0 ] && [ "${lb:-0}" -gt 0 ]; echo $?) "$name: both processes counted lost records"
	eval "$free"
	# One process at a time gets through, so that each looks at the end of
	# the file before the other writes (see ends_mid_line in lib/log.c).
	kill -HUP $pa
	wait_for "first loss report" 10 grep -q 'lost to write errors' "$L"
	kill -HUP $pb
	two_reports() { [ "$(grep -c 'lost to write errors' "$L")" = 2 ]; }
	wait_for "second loss report" 10 two_reports
	ok $? "$name: once records get through, each process reports its losses"
	n=$(grep -c '\.\.\.\[cut short: record lost\]$' "$L")
	diag "$name: $n marked fragment(s)"
	ok $([ "$n" -ge 1 ]; echo $?) "$name: the record cut short is ended by the marker"
	kill -TERM $pa $pb
	reap $pa
	ra=$rc
	reap $pb
	is "$ra $rc" "0 0" "$name: SIGTERM -> both exit 0"
	check --lossy "$L" 4 10000
	ok $? "$name: every line a whole record or a marked fragment; present + reported lost = 40000"
	is "$(grep -c "lost to write errors (last: $error)\$" "$L")" 2 "$name: both loss reports name $error"
}

# 5a. ENOSPC: a 4 MB tmpfs, half taken by a filler file, freed after.
F2=$TMP/full2
mkdir -p "$F2"
if ! err=$(mount -t tmpfs -o size=4m lull-log-test2 "$F2" 2>&1); then
	for ((i = 0; i < 8; i++)); do ok 0 "# SKIP cannot mount a tmpfs (need root): $err"; done
else
	trap 'umount -l "$F" "$F2" 2>/dev/null; _tap_cleanup' EXIT
	dd if=/dev/zero of="$F2/filler" bs=4k count=512 2>/dev/null
	two_procs enospc "$F2" "No space left on device" 'rm -f "$F2/filler"'
	umount "$F2"
	ok $? "enospc: tmpfs unmounted"
fi

# 5b. EFBIG: RLIMIT_FSIZE of 2 MB in both processes (SIGXFSZ ignored),
# lifted by each once its writers are done. Needs no privilege.
mkdir -p "$TMP/fsize"
two_procs efbig "$TMP/fsize" "File too large" : --fsize 2097152

done_testing
