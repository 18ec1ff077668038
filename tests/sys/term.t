#!/usr/bin/env bash
# Termination of real processes: immediate and graceful modes, a loop stuck
# in a computation, a loop asking the process to exit, idle wakeups.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"
plan 23

LOOPD=$TBIN/loopd

# start_loopd NAME ARGS...: runs loopd with its log in $TMP/NAME.log, sets $pid
start_loopd() {
	local name=$1; shift
	"$LOOPD" --log "$TMP/$name.log" "$@" > "$TMP/$name.out" 2>&1 &
	pid=$!
	track $pid
	wait_for "$name ready" 10 grep -q '^ready' "$TMP/$name.out"
	# a busy loop never sleeps: wait for the others only
	case " $* " in *" --busy "*) ;; *) wait_for "$name asleep" 10 all_asleep $pid ;; esac
}
# reap $pid into $st (not in a subshell: only this shell can wait for it)
reap() { wait $pid; st=$?; }

# Immediate: SIGTERM and SIGINT end the process at once, status 0, one line.
for sig in TERM INT; do
	start_loopd imm-$sig --loops 8 --term immediate
	kill -$sig $pid
	reap; is $st 0 "immediate: SIG$sig -> exit 0 with 8 loops blocked"
	ok $(log_has "$TMP/imm-$sig.log" "terminating: SIG$sig from pid [0-9]+ \(immediate"; echo $?) \
		"immediate: SIG$sig logged in one line"
	is "$(grep -c 'returned' "$TMP/imm-$sig.log")" 0 "immediate: no loop ran any cleanup"
done

# Graceful: every loop's wait returns -ECANCELED, all are joined, status 0.
start_loopd grace --loops 8 --term graceful --deadline 5000
kill -TERM $pid
reap; is $st 0 "graceful: exit 0"
is "$(grep -c 'returned (loop_' "$TMP/grace.log")" 8 "graceful: all 8 loops returned from their wait"
ok $(grep -q 'want -ECANCELED' "$TMP/grace.log"; [ $? = 1 ]; echo $?) "graceful: every wrapper returned -ECANCELED"
ok $(log_has "$TMP/grace.log" "termination: 8 loop\(s\) joined"; echo $?) "graceful: 8 loops joined"
ok $(log_has "$TMP/grace.log" "loop_main returned 0"; echo $?) "graceful: loop_main returned to main()"

# Graceful with a loop that takes its time but meets the deadline.
start_loopd slow --loops 2 --term graceful --deadline 5000 --slow-stop 300
kill -TERM $pid
reap; is $st 0 "graceful: slow loops within the deadline still exit 0"

# A loop stuck in a computation misses the deadline: named, status 124.
start_loopd busy --loops 4 --busy --term graceful --deadline 300
kill -TERM $pid
reap; is $st 124 "graceful: missed deadline -> distinct status 124"
ok $(log_has "$TMP/busy.log" "still running after [0-9]+ ms: 'busy' \(tid [0-9]+\)"; echo $?) \
	"graceful: the stuck loop is named in the log"
is "$(grep -c 'returned (loop_' "$TMP/busy.log")" 4 "graceful: the 4 other loops still returned"

# A second SIGTERM during a graceful stop ends it at once.
start_loopd twice --loops 2 --busy --term graceful --deadline 60000
kill -TERM $pid
wait_for "first termination logged" 10 log_has "$TMP/twice.log" "terminating: SIGTERM"
kill -TERM $pid
reap; is $st 124 "graceful: second SIGTERM does not wait for the 60 s deadline"
ok $(log_has "$TMP/twice.log" "second SIGTERM"; echo $?) "graceful: second signal logged"

# A loop may stop the whole process: its status becomes the exit status.
"$LOOPD" --log "$TMP/fail-i.log" --loops 2 --term immediate --fail-after 200 7 > /dev/null 2>&1
is $? 7 "immediate: a failing loop's status is the exit status"
"$LOOPD" --log "$TMP/fail-g.log" --loops 2 --term graceful --fail-after 200 9 > /dev/null 2>&1
is $? 9 "graceful: a failing loop's status is the exit status"
ok $(log_has "$TMP/fail-g.log" "loop 'failer' asked to exit with status 9"; echo $?) "the failing loop is named"
is "$(grep -c 'returned (loop_' "$TMP/fail-g.log")" 2 "graceful: the other loops were joined"

# Idle: no thread wakes up, in either mode, with every wrapper in use.
start_loopd idle-i --loops 8 --term immediate; pid_i=$pid
start_loopd idle-g --loops 8 --term graceful; pid_g=$pid
secs=${LULL_IDLE_SECONDS:-3}
"$BIN/wakeups" $pid_i $secs > "$TMP/w-i" & w1=$!
"$BIN/wakeups" $pid_g $secs > "$TMP/w-g"
wait $w1
is "$(wakeups_total "$TMP/w-i") $(wakeups_busy_threads "$TMP/w-i")" "0 " "idle loopd (immediate): 0 wakeups in every thread over ${secs} s"
is "$(wakeups_total "$TMP/w-g") $(wakeups_busy_threads "$TMP/w-g")" "0 " "idle loopd (graceful): 0 wakeups in every thread over ${secs} s"
kill $pid_i $pid_g; wait $pid_i $pid_g
done_testing
