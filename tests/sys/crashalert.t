#!/usr/bin/env bash
# tests/sys/crashalert.t: crash alerts end to end, with real processes. echod
# runs with --xmon to a real xmond and --crash-dir; it crashes for real
# (kill -SEGV, abort() and a NULL dereference in a worker loop, through
# echod's test hook LULL_ECHOD_TEST_CRASH) and is restarted:
#  - the crash leaves a report file (with its end line) in the crash
#    directory, and the process still dies of its signal;
#  - within 2 s of the restart xmond's API has one binnable alert for the
#    crash (the alert's "created" time on xmond minus the restart's time), naming the signal and the crashing function, with its frames;
#    the report is then renamed *.sent; binning the alert works; a second
#    restart raises nothing new;
#  - a crash loop (10 crashes at start in a row) raises one alert that says
#    10;
#  - with xmond down during the restart, the alert arrives once xmond is
#    back, exactly once (also after one more restart);
#  - at most 32 files: the oldest sent ones are removed first, at start;
#  - a fault injected inside the crash handler (LULL_CRASH_INJECT) still
#    ends the report file and the process with the original signal.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"
# Under SAN=1 the sanitizers own the fault signals and their reports replace
# lull's: the release check runs this (as it runs crash.t).
[ "${LULL_SAN:-0}" = 1 ] && skip_all "crash reports are checked on the release build; under ASan the sanitizer handles the faults"

for b in "$BIN/xmond" "$BIN/echod"; do
	[ -x "$b" ] || { echo "Bail out! $b is not built (make)"; exit 1; }
done
command -v python3 > /dev/null || skip_all "python3 is needed"
command -v curl > /dev/null || skip_all "curl is needed"

CD=$TMP/crashes
INST=crashalert
PPORT=$(free_port)
UPORT=$(free_port)
export LULL_ECHOD_TEST_CRASH=datagram

# xmond_start: xmond on the fixed protocol port $PPORT (so that it can come
# back on it) and an ephemeral HTTP port; sets XPID, HPORT.
xmond_start() {
	local n=$(($(ls "$TMP"/xmond*.log 2> /dev/null | wc -l) + 1))
	local log=$TMP/xmond$n.log
	"$BIN/xmond" --listen 127.0.0.1:$PPORT --http 127.0.0.1:0 --state-dir "$TMP/state" --log "$log" \
		2> "$TMP/xmond$n.err" &
	XPID=$!
	track $XPID
	disown $XPID
	wait_for "xmond ready" 20 log_has "$log" "xmond ready" || { cat "$TMP/xmond$n.err" >&2; return 1; }
	HPORT=$(sed -n 's/.*HTTP on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$log" | tail -1)
}
api() { local p=$1; shift; curl -sS --max-time 10 "$@" "http://127.0.0.1:$HPORT$p"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" "http://127.0.0.1:$HPORT$2"; }
# crash alerts of the instance, any state, oldest first, as lines of python
# reprs: py EXPR over the list `c` of alert objects
crash_py() {
	api "/api/alerts?state=all&instance=$INST" | python3 -c '
import json, sys
c = sorted((a for a in json.load(sys.stdin)["alerts"] if a["message"].startswith("crashed")),
           key=lambda a: a["created"])
print(eval(sys.argv[1]))' "$1"
}
ncrash() { crash_py 'len(c)' 2> /dev/null || echo -1; }
unsent() { ls "$CD" 2> /dev/null | grep -vc '\.sent$'; }
nsent() { ls "$CD" 2> /dev/null | grep -c '\.sent$'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# created_ms: when xmond stored the newest crash alert (its "created"), in ms
# since the epoch: compared with the restart's time, independent of how
# long this script's polling takes on a loaded machine
created_ms() {
	crash_py 'int(__import__("datetime").datetime.strptime(c[-1]["created"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=__import__("datetime").timezone.utc).timestamp() * 1000)'
}

# echod_start NAME [ENV=VALUE...]: echod with its log in $TMP/NAME.log; sets EPID
echod_start() {
	local name=$1; shift
	env "$@" "$BIN/echod" --listen 127.0.0.1:$UPORT --xmon 127.0.0.1:$PPORT --instance $INST \
		--crash-dir "$CD" --log "$TMP/$name.log" 2> /dev/null &
	EPID=$!
	track $EPID
	wait_for "echod $name listening" 20 log_has "$TMP/$name.log" "echod listening" || exited $EPID
}
# wait_dead PID: its exit status (as 128+signal)
wait_dead() { wait $1 2> /dev/null; }
dgram() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(sys.argv[1].encode(),("127.0.0.1",int(sys.argv[2])))' "$1" $UPORT; }

xmond_start
"$BIN/echod" --help | grep -q -- '--crash-dir DIR'
ok $? "echod --help explains --crash-dir"

# ---- 1. three crashes, each reported once at the next start ------------------------
echod_start run0
n=0
for kind in kill-segv abort fault; do
	n=$((n + 1))
	case $kind in
	kill-segv) kill -SEGV $EPID; sig=SIGSEGV; st=139 ;;
	abort) dgram "lull-test-crash abort"; sig=SIGABRT; st=134; fn=test_fault_abort ;;
	fault) dgram "lull-test-crash segv"; sig=SIGSEGV; st=139; fn=test_fault_segv ;;
	esac
	wait_dead $EPID
	is $? $st "$kind: echod died of $sig"
	log=$TMP/run$((n - 1)).log
	file=$(ls "$CD" | grep -v '\.sent$')
	is "$(unsent)" 1 "$kind: one new report file in the crash directory"
	ok $(grep -q '^\*\*\* end of crash report' "$CD/$file" && grep -q "^\*\*\* lull crash: $sig" "$CD/$file"; echo $?) \
		"$kind: the file holds the whole report (header .. end line)"
	cmp -s <(sed -n '/^\*\*\* lull crash/,/^\*\*\* end of crash report/p' "$log") "$CD/$file"
	ok $? "$kind: the file is the report of the log, line for line"
	if [ $kind = kill-segv ]; then
		# sent by kill(): the crashing function is the interrupted one, the
		# first frame of the report that is not on the signal path
		fn=$(sed -n '/from the interrupted context/,/^\*\*\*/p' "$log" | sed -n 's/^#[0-9]* *0x[0-9a-f]* \([^+ ]*\)+.*/\1/p' |
			grep -vxE 'abort|raise|pthread_kill|__restore_sigs|__block_all_sigs|__block_app_sigs|__syscall_cp_asm|__syscall_cp_c|__syscall' | head -1)
	fi
	t0=$(now_ms)
	echod_start run$n
	wait_for "crash alert $n" 30 eval 'test "$(ncrash)" = '$n
	dt=$(($(created_ms) - t0))
	[ "$(ncrash)" = $n ] && [ $dt -le 2000 ]; r=$?
	ok $r "$kind: restart: a crash alert on xmond after $dt ms (at most 2000)"
	[ $r = 0 ] || diag "$(date +%T.%N) started $t0; $(cat "$TMP/run$n.log")"
	msg=$(crash_py 'c[-1]["message"]')
	diag "$(crash_py '"\\n".join(c[-1]["message"].split("\\n")[:3])')"
	ok $(printf '%s\n' "$msg" | head -1 | grep -qE "^crashed: $sig in $fn\(\) at 20[0-9-]{8}T[0-9:]{8}Z \(pid [0-9]+\); restarted$"; echo $?) \
		"$kind: the message names $sig and $fn()"
	ok $(printf '%s\n' "$msg" | sed 1d | head -1 | grep -q '^#0  0x'; echo $?) "$kind: the crashing thread's frames follow"
	is "$(crash_py 'c[-1]["binnable"]')" True "$kind: the alert is binnable"
	wait_for "renamed" 5 test -e "$CD/$file.sent"
	ok $([ -e "$CD/$file.sent" ] && [ "$(unsent)" = 0 ]; echo $?) "$kind: the report is marked sent (renamed .sent)"
	key=$(crash_py 'c[-1]["key"]')
	is "$(code POST /api/alerts/$key/bin)" 200 "$kind: POST /api/alerts/KEY/bin: 200"
	is "$(crash_py 'c[-1]["state"]')" binned "$kind: the crash alert is binned"
	wait_for "the agent saw the notice" 10 log_has "$TMP/run$n.log" "alert $(crash_py 'c[-1]["alert_id"]') binned"
	ok $? "$kind: the binned notice reached the agent"
done
# a second restart raises nothing new
kill -TERM $EPID
wait_dead $EPID
echod_start again
sleep 2.5
is "$(ncrash)" 3 "a second restart raises nothing new (3 crash alerts, one per crash)"
is "$(crash_py '[a["state"] for a in c]')" "['binned', 'binned', 'binned']" "  and all three stay binned"

# ---- 2. a crash loop: 10 crashes at start, one alert -------------------------------------
kill -TERM $EPID
wait_dead $EPID
bad=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	# in a subshell that reports the signal itself, to /dev/null
	(LULL_ECHOD_TEST_CRASH=start "$BIN/echod" --listen 127.0.0.1:$UPORT --xmon 127.0.0.1:$PPORT --instance $INST \
		--crash-dir "$CD" --log "$TMP/loop$i.log"; exit $?) 2> /dev/null
	[ $? = 139 ] || bad=$((bad + 1))
done
is $bad 0 "crash loop: 10 runs died of SIGSEGV at start"
is "$(unsent)" 10 "  10 report files not sent (each run crashed before raising anything)"
t0=$(now_ms)
echod_start afterloop
wait_for "crash loop alert" 30 eval 'test "$(ncrash)" = 4'
dt=$(($(created_ms) - t0))
[ "$(ncrash)" = 4 ] && [ $dt -le 2000 ]; r=$?
ok $r "crash loop: one alert after $dt ms (at most 2000)"
[ $r = 0 ] || diag "$(date +%T.%N) started $t0; $(cat "$TMP/afterloop.log")"
msg=$(crash_py 'c[-1]["message"]')
diag "$(printf '%s\n' "$msg" | head -1)"
ok $(printf '%s\n' "$msg" | head -1 | grep -qE '^crashed 10 times in a row .*SIGSEGV in crash_at_start\(\)'; echo $?) \
	"  its message says 10, and names SIGSEGV in crash_at_start()"
wait_for "renamed" 5 eval 'test "$(unsent)" = 0'
is "$(unsent)" 0 "  all 10 reports marked sent"
sleep 1
is "$(ncrash)" 4 "  and still one alert for the loop"

# ---- 3. xmond down during the restart --------------------------------------------------------
kill -9 $XPID
wait_for "xmond gone" 10 exited $XPID
dgram "lull-test-crash segv"
wait_dead $EPID
is $? 139 "xmond down: echod died of SIGSEGV"
echod_start down1
sleep 2.5
is "$(unsent)" 1 "  restarted with xmond down: the report stays unsent"
ok $(! log_has "$TMP/down1.log" "crash alert .* delivered"; echo $?) "  and the agent did not claim delivery"
xmond_start
wait_for "crash alert after xmond is back" 45 eval 'test "$(ncrash)" = 5'
is "$(ncrash)" 5 "  xmond back: the crash alert arrives"
pid=$(crash_py 'c[-1]["message"]' | sed -n '1s/.*(pid \([0-9]*\)).*/\1/p')
ok $(grep -q "Segmentation\|SIGSEGV" <<< "$(crash_py 'c[-1]["message"]' | head -1)"; echo $?) "  naming SIGSEGV"
wait_for "renamed" 5 eval 'test "$(unsent)" = 0'
is "$(unsent)" 0 "  and the report is marked sent"
kill -TERM $EPID
wait_dead $EPID
echod_start down2
sleep 2.5
is "$(ncrash)" 5 "  exactly once: one more restart raises nothing"
is "$(crash_py "sum('(pid $pid)' in a['message'] for a in c)")" 1 "  one alert for pid $pid"

# ---- 4. a fault inside the crash handler ------------------------------------------------------
kill -TERM $EPID
wait_dead $EPID
echod_start inject LULL_CRASH_INJECT=2
dgram "lull-test-crash segv"
wait_dead $EPID
is $? 139 "fault injected in the handler: echod still died of SIGSEGV"
file=$(ls "$CD" | grep -v '\.sent$')
ok $(grep -q '^\*\*\* end of crash report' "$CD/$file" 2> /dev/null; echo $?) "  the report file still ends with its end line"
echod_start inject2
wait_for "crash alert" 10 eval 'test "$(ncrash)" = 6'
is "$(ncrash)" 6 "  and its alert arrives at the restart"
kill -TERM $EPID
wait_dead $EPID

# ---- 5. at most 32 files kept: the oldest sent ones go first -----------------------------
D2=$TMP/prune
mkdir -p "$D2"
for i in $(seq 0 39); do
	f=$D2/crash-20200101T0000$(printf %02d $i).000Z-$((1000 + i))
	[ $((i % 2)) = 0 ] && f=$f.sent
	echo "*** lull crash: SIGBUS (BUS_ADRERR) at address 0x0 in thread 'main' (tid 1, pid 1)" > "$f"
done
"$BIN/echod" --listen 127.0.0.1:$UPORT --crash-dir "$D2" --log "$TMP/prune.log" 2> /dev/null &
EPID=$!
track $EPID
wait_for "echod listening" 20 log_has "$TMP/prune.log" "echod listening"
kill -TERM $EPID
wait_dead $EPID
is "$(ls "$D2" | wc -l)" 31 "40 reports in the crash directory: 31 kept at the next start (32 with its crash)"
is "$(ls "$D2" | grep -vc '\.sent$')" 20 "  the 20 not sent all kept"
is "$(ls "$D2" | grep '\.sent$' | head -1)" "crash-20200101T000018.000Z-1018.sent" "  the 9 oldest sent ones removed"
ok $(log_has "$TMP/prune.log" "crashed 20 times in a row .* SIGBUS .*not sent: no xmon server"; echo $?) \
	"  without --xmon the crash alert is only logged, and the reports stay"

plan $_tap_n
done_testing
