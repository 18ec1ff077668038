#!/usr/bin/env bash
# tests/sys/xmond.t: xmond, the alert server, as a black box with real
# processes: xmonctl, echod and xmonraise (lull's agent) end to end through
# the JSON API; the protocol document's section 5 frames over a raw socket
# (xmondpeer.py); bad input with xmond still serving; durability under
# kill -9 (journal replay, torn tail, corrupt middle, lock); liveness
# alerts; zero wakeups when idle.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
DOC=$HERE/../../docs/xmon-protocol.md
PEER=$HERE/xmondpeer.py
XR=$TBIN/xmonraise
for b in "$BIN/xmond" "$BIN/xmonctl" "$BIN/echod" "$BIN/wakeups" "$XR"; do
	[ -x "$b" ] || { echo "Bail out! $b is not built (make; make $XR)"; exit 1; }
done
command -v python3 > /dev/null || skip_all "python3 is needed"
command -v curl > /dev/null || skip_all "curl is needed"

# ---- helpers -------------------------------------------------------------------

# xmond_start NAME DIR ARGS...: start xmond on ephemeral ports with its log in
# $TMP/NAME.log; sets XPID, PPORT (protocol), HPORT (HTTP).
xmond_start() {
	local name=$1 dir=$2; shift 2
	: > "$TMP/$name.log"
	"$BIN/xmond" --listen "${XLISTEN:-127.0.0.1:0}" --http 127.0.0.1:0 --state-dir "$dir" --log "$TMP/$name.log" "$@" \
		2> "$TMP/$name.err" &
	XPID=$!
	track $XPID
	disown $XPID
	wait_for "$name ready" 20 log_has "$TMP/$name.log" "xmond ready" || { cat "$TMP/$name.err" >&2; return 1; }
	PPORT=$(sed -n 's/.*protocol on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$TMP/$name.log" | tail -1)
	HPORT=$(sed -n 's/.*HTTP on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$TMP/$name.log" | tail -1)
}
# wait_for evaluates its command each time: conditions over $(...) go through eval
# gone PID: exited (absent, or a zombie with no thread left): its lock on the
# state directory is released. A zombie leader alone is not enough: after a
# SIGKILL, a thread inside fdatasync (the sync loop) finishes the call
# first, and the process's files (the lock) stay open until it has.
gone() {
	[ ! -e /proc/$1 ] ||
		{ grep -q '^State:[[:space:]]*Z' /proc/$1/status 2> /dev/null &&
			[ "$(ls /proc/$1/task 2> /dev/null | wc -l)" -le 1 ]; }
}
# kill9 PID: SIGKILL, and wait until it is really gone
kill9() { kill -9 $1 2> /dev/null; wait_for "pid $1 gone" 20 gone $1; }
# api PATH [curl args]: the body of an API answer
api() { local p=$1; shift; curl -sS --max-time 10 "$@" "http://127.0.0.1:$HPORT$p"; }
# code METHOD PATH: the status of an API answer
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" "http://127.0.0.1:$HPORT$2"; }
# jq-less: jget JSON EXPR (python expression over j)
jget() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
# nalerts QUERY: count of /api/alerts?QUERY
nalerts() { api "/api/alerts?$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
# alert_field INSTANCE ALERT_ID FIELD [STATE]
alert_field() {
	jget "$(api "/api/alerts?state=${4:-all}&instance=$1")" \
		"next((a['$3'] for a in j['alerts'] if a['alert_id'] == '$2'), '')"
}
# peer CHECK ARGS...: xmondpeer.py lines as TAP
peer() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok "*) ok 0 "${line#ok }" ;;
		"not ok "*) ok 1 "${line#not ok }" ;;
		*) echo "$line" ;;
		esac
	done < <(timeout 120 python3 "$PEER" "$1" "$PPORT" "$HPORT" "${@:2}" 2>&1)
}
ctl() { "$BIN/xmonctl" --server 127.0.0.1:$PPORT --timeout 10 "$@"; }
is_num_ge() { if [ "${1:-0}" -ge "$2" ] 2> /dev/null; then ok 0 "$3"; else ok 1 "$3"; diag "got '$1', want >= $2"; fi; }

# ---- 1. start-up, --help, flags --------------------------------------------------
"$BIN/xmond" --help > "$TMP/help" 2>&1
is $? 0 "--help exits 0"
for o in listen http http-token stream-max-pending state-dir down-grace history max-string max-alerts max-conns logon-timeout \
	compact-factor log term-deadline config; do
	grep -q -- "--$o " "$TMP/help" || { ok 1 "--help explains --$o"; continue; }
done
ok 0 "--help explains every option"
"$BIN/xmond" --bogus > /dev/null 2>&1
is $? 100 "an unknown flag exits 100"
"$BIN/xmond" --http 0.0.0.0:0 --state-dir "$TMP/never" > /dev/null 2> "$TMP/nontoken.err"
is $? 100 "a non-loopback --http without --http-token exits 100"
ok $(grep -q "not a loopback address" "$TMP/nontoken.err"; echo $?) "  and says why"

xmond_start main "$TMP/state" --down-grace 1s
MAINPID=$XPID
is "$(api /healthz)" "ok" "GET /healthz"
is "$(nalerts state=open)" 0 "no alert at first"

# ---- 2. idle: no connection, no wakeup ---------------------------------------------
wait_for "xmond asleep" 10 all_asleep $MAINPID
"$BIN/wakeups" $MAINPID 2 > "$TMP/w-idle"
is "$(wakeups_total "$TMP/w-idle")" 0 "idle with nothing connected: 0 wakeups in 2 s ($(wakeups_busy_threads "$TMP/w-idle"))"

# ---- 2b. idle with 100 connected instances: heartbeats and nothing else ------------
rm -f "$TMP/idle.ready"
python3 "$PEER" idle $PPORT $HPORT 100 2 14 "$TMP/idle.ready" > "$TMP/idle.out" 2>&1 &
IPID=$!
wait_for "100 idle instances logged on" 20 test -e "$TMP/idle.ready"
sleep 1
"$BIN/wakeups" $MAINPID 10 > "$TMP/w-idle100"
wait $IPID
w100=$(wakeups_total "$TMP/w-idle100")
# per 2 s interval: heartbeat timers (one turn when due together) and the
# 100 status updates read (some turns read several): at most ~105 a turn
ok $([ "${w100:-999999}" -le $((5 * 110)) ] && [ "${w100:-0}" -ge 5 ]; echo $?) \
	"100 idle instances, 2 s interval, 10 s: $w100 wakeups (5 intervals x (heartbeat timers + 100 status reads) at most)"
wait_for "their liveness alerts" 20 eval 'test "$(nalerts '\''app_type=idle.t'\'')" = 100'
wait_for "xmond asleep again" 10 all_asleep $MAINPID
"$BIN/wakeups" $MAINPID 2 > "$TMP/w-idle2"
is "$(wakeups_total "$TMP/w-idle2")" 0 "after they left: 0 wakeups in 2 s (no timer left behind)"

# ---- 3. xmonctl end to end ----------------------------------------------------------
id1=$(ctl --app-type ctl.t --instance ctl1 raise "disk 3 full")
is "$(alert_field ctl1 "$id1" message open)" "disk 3 full" "xmonctl raise: the alert is open in the API"
is "$(alert_field ctl1 "$id1" binnable)" "False" "  not binnable"
ctl --app-type ctl.t --instance ctl1 clear "$id1"
wait_for "cleared" 5 eval 'test "$(alert_field ctl1 "$id1" state)" = cleared'
is "$(alert_field ctl1 "$id1" state)" "cleared" "xmonctl clear: the alert is cleared"
is "$(alert_field ctl1 "$id1" state open)" "" "  and no longer open"
ctl --app-type ctl.t --instance ctl1 clear 12345
is $? 0 "clear of an unknown id is accepted"
idb=$(ctl --app-type ctl.t --instance ctl2 raise --binnable "look at me")
key=$(alert_field ctl2 "$idb" key)
# a watcher with the same instance is its current connection: the notice goes there
"$BIN/xmonctl" --server 127.0.0.1:$PPORT --app-type ctl.t --instance ctl2 watch > "$TMP/watch.out" 2>&1 &
WPID=$!; track $WPID
wait_for "watcher logged on" 10 grep -q "logged on" "$TMP/watch.out"
is "$(code POST /api/alerts/$key/bin)" 200 "POST /api/alerts/KEY/bin of a binnable alert: 200"
wait_for "binned notice" 10 grep -q "binned $idb" "$TMP/watch.out"
ok $(grep -q "binned $idb" "$TMP/watch.out"; echo $?) "the notice reaches the instance's current connection (xmonctl watch)"
is "$(alert_field ctl2 "$idb" state)" "binned" "the alert is binned"
# newest connection wins
"$BIN/xmonctl" --server 127.0.0.1:$PPORT --app-type ctl.t --instance ctl2 watch > "$TMP/watch2.out" 2>&1 &
W2PID=$!; track $W2PID
wait_for "first watcher closed" 10 exited $WPID
wait $WPID; st=$?
is "$st" 111 "newest connection wins: the older watcher is closed (xmonctl exits 111)"
ok $(log_has "$TMP/main.log" "newer connection logged on as the same instance"; echo $?) "  and the log says why"
kill $W2PID 2> /dev/null

# ---- 4. lull's agent: parent and child forms, bins, reconnect -----------------------
mkfifo "$TMP/xr.in"
exec {XRFD}<> "$TMP/xr.in"
"$XR" --server 127.0.0.1:$PPORT --app-type agent.crit --instance agent1 --child agent.never \
	--heartbeat 1 --log "$TMP/xr.log" < "$TMP/xr.in" > "$TMP/xr.out" 2>&1 &
XRPID=$!; track $XRPID; disown $XRPID
wait_for "xmonraise ready" 10 grep -q '^ready' "$TMP/xr.out"
printf '%s\n' "raise 0 parent binnable" "raise 1 child binnable" "alert nb 0 0 not binnable v1" >&$XRFD
wait_for "three alerts" 10 eval 'test "$(nalerts '\''instance=agent1'\'')" = 3'
is "$(nalerts instance=agent1)" 3 "agent: two binnable alerts (parent and child type) and one non-binnable"
pid_p=$(alert_field agent1 1 key); pid_c=$(alert_field agent1 2 key)
is "$(alert_field agent1 2 app_type)/$(alert_field agent1 2 form)" "agent.never/child" "  the child-type alert arrived in the child form"
printf '%s\n' "alert nb 0 0 not binnable v2" >&$XRFD
wait_for "update" 10 eval 'test "$(alert_field agent1 3 message)" = "not binnable v2"'
is "$(alert_field agent1 3 message)" "not binnable v2" "agent: update replaces the message"
code POST /api/alerts/$pid_p/bin > /dev/null
code POST /api/alerts/$pid_c/bin > /dev/null
wait_for "agent saw both notices" 10 log_has "$TMP/xr.log" "alert 2 binned"
ok $(log_has "$TMP/xr.log" "alert 1 binned" && log_has "$TMP/xr.log" "alert 2 binned"; echo $?) \
	"bin via the API reaches the agent in parent (0x1) and child (0x101) form"
# xmond killed and restarted on the same port under the agent: the agent
# reconnects, its alerts are kept, a later update reaches the same alert
nbkey=$(alert_field agent1 3 key)
kill9 $MAINPID
XLISTEN=127.0.0.1:$PPORT xmond_start main2 "$TMP/state" --down-grace 1s
MAINPID=$XPID
is "$(alert_field agent1 3 state)" "open" "after a kill -9 and restart the agent's open alert is there"
is "$(alert_field agent1 1 state)" "binned" "  and the binned one is still binned"
wait_for "agent reconnected" 20 eval 'test "$(grep -c '\''logged on'\'' "$TMP/xr.log")" -ge 2'
printf '%s\n' "alert nb 0 0 not binnable v3" >&$XRFD
wait_for "update after reconnect" 10 eval 'test "$(alert_field agent1 3 message)" = "not binnable v3"'
is "$(alert_field agent1 3 key)/$(alert_field agent1 3 message)" "$nbkey/not binnable v3" \
	"the agent reconnects: its update reaches the same alert (same key)"
is "$(jget "$(api '/api/alerts?state=all&instance=agent1')" 'len([a for a in j["alerts"] if a["source"] == "client"])')" 3 \
	"  and nothing appears twice"
all=$(api '/api/alerts?state=all&instance=agent1')
two=$(api '/api/alerts?state=all&instance=agent1&limit=2')
is "$(jget "$two" 'j["count"], j["total"]')" "(2, $(jget "$all" 'j["count"]'))" "limit=2: two alerts; total counts every match"
is "$(jget "$two" '[a["key"] for a in j["alerts"]]')" "$(jget "$all" '[a["key"] for a in j["alerts"]][:2]')" \
	"  the first two of the unlimited answer"
is "$(code GET '/api/alerts?limit=0') $(code GET '/api/alerts?limit=x') $(code GET '/api/alerts?limit=-1')" "400 400 400" \
	"  limit=0, limit=x, limit=-1: 400"
kill -9 $XRPID 2> /dev/null

# quiet periods and the binnable limit with its id-0 alert, through lull's agent
mkfifo "$TMP/xq.in"
exec {XQFD}<> "$TMP/xq.in"
"$XR" --server 127.0.0.1:$PPORT --app-type agent.q --instance agentq --limit 1 --log "$TMP/xq.log" \
	< "$TMP/xq.in" > "$TMP/xq.out" 2>&1 &
XQPID=$!; track $XQPID; disown $XQPID
wait_for "xmonraise q ready" 10 grep -q '^ready' "$TMP/xq.out"
printf '%s\n' "alert q1 0 4000 quiet one" "alert q2 0 4000 quiet two" "clear q2" >&$XQFD
wait_for "q answered" 10 grep -q '^cleared q2' "$TMP/xq.out"
is "$(nalerts 'state=all&instance=agentq')" 0 "quiet period: nothing reaches xmond before it ends"
wait_for "quiet alert" 10 eval 'test "$(nalerts '\''instance=agentq'\'')" = 1'
is "$(nalerts 'state=all&instance=agentq')" 1 "  after 4 s the alert still raised is open; the one cleared meanwhile never appears"
printf '%s\n' "raise 0 b1" "raise 0 b2" "raise 0 b3" "raise 0 b4" >&$XQFD
wait_for "id-0 alert" 10 eval 'test -n "$(alert_field agentq 0 key open)"'
is "$(alert_field agentq 0 message open)" "too many alerts, alerts dropped" "binnable limit 1: ids beyond it dropped, the id-0 alert arrives"
is "$(jget "$(api '/api/alerts?instance=agentq')" 'len([a for a in j["alerts"] if a["binnable"]])')" 3 "  with two binnable alerts (more than 1, as the clients count)"
for k in $(jget "$(api '/api/alerts?instance=agentq')" '" ".join(a["key"] for a in j["alerts"] if a["binnable"])'); do
	code POST /api/alerts/$k/bin > /dev/null
done
wait_for "agent saw the id-0 bin" 10 log_has "$TMP/xq.log" "alert 0 binned"
printf '%s\n' "raise 0 after the bins" >&$XQFD
wait_for "new binnable after bins" 10 eval 'test "$(jget "$(api '\''/api/alerts?instance=agentq'\'')" '\''len([a for a in j["alerts"] if a["binnable"]])'\'')" = 1'
is "$(jget "$(api '/api/alerts?instance=agentq')" '[a["message"] for a in j["alerts"] if a["binnable"]][0]')" "after the bins" \
	"binning them (id 0 too) frees the agent: the next binnable alert arrives"
kill -9 $XQPID 2> /dev/null

# ---- 5. protocol document frames, byte for byte --------------------------------------
peer frames "$DOC"

# ---- 6. bad input ----------------------------------------------------------------------
peer bad "$TMP/main2.log"
peer limit "$TMP/main2.log"
is "$(api /healthz)" "ok" "HTTP still answers after the bad input"

# ---- 7. liveness ----------------------------------------------------------------------
mkfifo "$TMP/lv.in"
exec {LVFD}<> "$TMP/lv.in"
"$XR" --server 127.0.0.1:$PPORT --app-type live.t --instance live1 --heartbeat 1 --log "$TMP/lv.log" \
	< "$TMP/lv.in" > "$TMP/lv.out" 2>&1 &
LVPID=$!; track $LVPID; disown $LVPID
wait_for "live1 up" 10 eval 'test "$(jget "$(api /api/instances)" "[i['\''state'\''] for i in j['\''instances'\''] if i['\''instance'\'']=='\''live1'\''][0] if any(i['\''instance'\'']=='\''live1'\'' for i in j['\''instances'\'']) else '\'''\''")" = up'
sleep 1.5   # one heartbeat interval: a daemon, not a one-shot client
t0=$(date +%s.%N)
kill -9 $LVPID
wait_for "live1 down" 10 eval 'test "$(jget "$(api /api/instances)" "[i['\''state'\''] for i in j['\''instances'\''] if i['\''instance'\'']=='\''live1'\''][0]")" = down'
wait_for "down alert" 10 eval 'test "$(alert_field live1 down state open)" = open'
# when xmond saw it, from its log (the API polling here is slower than xmond)
logt() { grep -h "$1" "$TMP/main2.log" | tail -1 | cut -c1-26 | python3 -c 'import sys,datetime; print(datetime.datetime.strptime(sys.stdin.read().strip(), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp())'; }
t1=$(logt "instance live1 (live.t) down:")
t2=$(logt "instance live1 (live.t) down for the grace period")
ok $(awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 2.0) }'; echo $?) \
	"SIGKILLed instance marked down within 2 intervals ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms after the kill)"
ok $(awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(b - a >= 1.0 && b - a < 1.5) }'; echo $?) \
	"the liveness alert comes after --down-grace 1s ($(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms after down)"
is "$(alert_field live1 down message open)" "live1 is down" "  its message: \"live1 is down\""
is "$(alert_field live1 down binnable open)/$(alert_field live1 down source open)" "False/xmond" "  not binnable, from xmond"
dkey=$(alert_field live1 down key open)
is "$(code POST /api/alerts/$dkey/bin)" 409 "  binning it -> 409"
"$XR" --server 127.0.0.1:$PPORT --app-type live.t --instance live1 --heartbeat 1 --log "$TMP/lv2.log" \
	< "$TMP/lv.in" > "$TMP/lv2.out" 2>&1 &
LVPID=$!; track $LVPID; disown $LVPID
wait_for "down alert cleared" 10 eval 'test "$(alert_field live1 down state)" = cleared'
is "$(alert_field live1 down state)" "cleared" "the instance logs on again: the liveness alert is cleared"
kill -9 $LVPID

# ---- 7b. heartbeats, status deadline, logon deadline -------------------------------
kill9 $MAINPID
XLISTEN=127.0.0.1:$PPORT xmond_start main3 "$TMP/state" --down-grace 1s --logon-timeout 2s
MAINPID=$XPID
peer heartbeat "$TMP/main3.log"

# ---- 7b'. binned notices taken by a dying connection ------------------------------
# a notice counts as delivered once the peer acknowledged it and spoke again;
# one written to a connection that is reset or replaced first goes out again
peer notice
# ... and across a crash: xmond killed while the notice is unacknowledged by
# the client: it is still pending after the restart, and goes out
MAIN3=(MAINPID=$MAINPID PPORT=$PPORT HPORT=$HPORT)
xmond_start notice "$TMP/state-notice"
python3 "$PEER" notice_hold $PPORT $HPORT n9 > "$TMP/hold.out" 2>&1 &
HOLDPID=$!
wait_for "notice handed to the held connection" 10 grep -q "^binned" "$TMP/hold.out"
nkey=$(sed -n 's/^binned //p' "$TMP/hold.out")
is "$(jget "$(api /api/alerts/$nkey)" 'j["notice_pending"]')" "True" "notice written, the client silent since: pending"
kill9 $XPID
kill $HOLDPID; wait $HOLDPID 2> /dev/null
XLISTEN=127.0.0.1:$PPORT xmond_start notice2 "$TMP/state-notice"
is "$(jget "$(api /api/alerts/$nkey)" 'j["notice_pending"]')" "True" "  after kill -9 and a restart: still pending"
peer notice_get n9
kill9 $XPID
eval "${MAIN3[*]}"

# ---- 7c. /metrics ------------------------------------------------------------------
api /metrics > "$TMP/metrics"
mfail=0
for m in 'xmond_connections ' 'xmond_instances{state="down"}' 'xmond_alerts_open_by_app_type{app_type="lim.t"} 10000' \
	'xmond_messages_in_total{type="create"}' 'xmond_messages_out_total{type="heartbeat"}' \
	'xmond_protocol_errors_total{kind="bad_magic"}' 'xmond_journal_bytes ' 'xmond_fsync_seconds_bucket{le="+Inf"}' \
	'xmond_compactions_total ' 'xmond_events_published_total ' 'xmond_events_skipped_total ' 'xmond_event_streams 0' \
	'xmond_event_streams_opened_total ' 'xmond_event_streams_dropped_total 0' 'xmond_event_stream_bytes_total ' \
	'xmond_pool_bytes ' 'xmond_pool_free_bytes '; do
	grep -qF "$m" "$TMP/metrics" || { mfail=1; diag "/metrics lacks $m"; }
done
ok $mfail "/metrics: connections, instances, open alerts by app type, messages in/out, errors, journal, fsync histogram, compactions, event streams"
diag "$(grep -E '^xmond_fsync_seconds_(sum|count)' "$TMP/metrics" | tr '\n' ' ')"
pool=$(sed -n 's/^xmond_pool_bytes //p' "$TMP/metrics") poolfree=$(sed -n 's/^xmond_pool_free_bytes //p' "$TMP/metrics")
is_num_ge "$pool" 2000000 "  xmond_pool_bytes holds the 10 000 open alerts (200 bytes or more each): $pool"
is_num_ge "$((pool - poolfree))" 2000000 "  and xmond_pool_free_bytes is part of it: $poolfree free"

# ---- 7d. memory after a spike: kept for the next alerts ---------------------------------
# docs/xmond.md: the pool keeps a spike's memory (xmond_pool_bytes), free
# for the next alerts (xmond_pool_free_bytes), which use it before any
# more is mapped.
MAIN4=(MAINPID=$MAINPID PPORT=$PPORT HPORT=$HPORT)
metric() { api /metrics | sed -n "s/^$1 //p"; }
xmond_start spike "$TMP/state-spike" --history 1s
peer spike 8000
wait_for "the spike's history expired (--history 1s)" 20 eval 'test "$(metric xmond_alerts_closed)" = 0'
sp_pool=$(metric xmond_pool_bytes) sp_free=$(metric xmond_pool_free_bytes)
is_num_ge "$sp_pool" 1600000 "spike of 8 000 alerts, cleared and expired: xmond_pool_bytes keeps the peak: $sp_pool"
is_num_ge "$sp_free" $((sp_pool * 9 / 10)) "  nearly all of it is free for the next alerts: xmond_pool_free_bytes $sp_free"
peer spike 8000
is "$(metric xmond_pool_bytes)" "$sp_pool" "  a second spike of the same size reuses it: xmond_pool_bytes unchanged"
kill9 $XPID
eval "${MAIN4[*]}"

# ---- 8. echod end to end ----------------------------------------------------------------
EPORT=$(free_port)
"$BIN/echod" --listen 127.0.0.1:$EPORT --log "$TMP/echod.log" --xmon 127.0.0.1:$PPORT --app-type echod.t \
	--instance echo1 2> "$TMP/echod.err" &
EPID=$!; track $EPID; disown $EPID
wait_for "echod logged on" 10 log_has "$TMP/echod.log" "logged on"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b"", ("127.0.0.1", int(sys.argv[1])))' $EPORT
wait_for "echod alert" 10 eval 'test "$(nalerts '\''instance=echo1'\'')" = 1'
ekey=$(jget "$(api '/api/alerts?instance=echo1')" 'j["alerts"][0]["key"]')
ok $(jget "$(api '/api/alerts?instance=echo1')" 'j["alerts"][0]["message"]' | grep -q "malformed datagram"; echo $?) \
	"echod's malformed-datagram alert is open in the API"
code POST /api/alerts/$ekey/bin > /dev/null
wait_for "echod saw the bin" 10 log_has "$TMP/echod.log" "binned"
ok $(log_has "$TMP/echod.log" "xmon: alert [0-9]+ binned"; echo $?) "binning it reaches echod"
kill $EPID

# ---- 8b. bearer token, config file ------------------------------------------------
kill9 $MAINPID
echo "0123456789abcdef0123" > "$TMP/token"
printf '# a comment\nmax-alerts = 2\nhttp-token = %s\ndown-grace = 7s\n' "$TMP/token" > "$TMP/xmond.conf"
XLISTEN=127.0.0.1:$PPORT xmond_start tok "$TMP/state" --config "$TMP/xmond.conf" --max-alerts 3
MAINPID=$XPID
TOK='Authorization: Bearer 0123456789abcdef0123'
is "$(code GET /api/alerts)" 401 "with --http-token (from the config file): no token -> 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' "http://127.0.0.1:$HPORT/api/alerts")" 401 "  a wrong token -> 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "$TOK" "http://127.0.0.1:$HPORT/api/alerts")" 200 "  the token -> 200"
is "$(code GET /healthz)" 200 "  /healthz needs none"
for i in 1 2 3 4; do ctl --app-type conf.t --instance conf1 raise "a$i" > /dev/null; done
is "$(curl -s -H "$TOK" "http://127.0.0.1:$HPORT/api/alerts?instance=conf1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')" 3 \
	"the flag --max-alerts 3 wins over the config file's 2"
# SIGHUP re-reads the config file and the token file
echo "fedcba9876543210fedcba" > "$TMP/token"
kill -HUP $MAINPID
wait_for "reloaded" 10 log_has "$TMP/tok.log" "reload: configuration re-read"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "$TOK" "http://127.0.0.1:$HPORT/api/alerts")" 401 "SIGHUP: the old token is refused after the token file changed"
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer fedcba9876543210fedcba' "http://127.0.0.1:$HPORT/api/alerts")" 200 "  the new one works"
"$BIN/xmond" --listen 127.0.0.1:0 --http 0.0.0.0:0 --http-token "$TMP/token" --state-dir "$TMP/state-nl" --log "$TMP/nl.log" 2> /dev/null &
NLPID=$!; track $NLPID; disown $NLPID
wait_for "non-loopback with a token starts" 10 log_has "$TMP/nl.log" "xmond ready"
ok $? "a non-loopback --http with --http-token starts"
kill $NLPID

# SIGHUP re-reads stream-max-pending too: two event streams that read
# nothing (a 4 KiB receive buffer), one opened before the SIGHUP, one
# after, are both dropped at the new 32 KiB bound, not at the 1 MiB the
# config file said at the start.
SAVED_PORTS="$PPORT $HPORT"
printf 'stream-max-pending = 1048576\n' > "$TMP/hup.conf"
xmond_start hup "$TMP/state-hup" --config "$TMP/hup.conf"
HUPPID=$XPID
metric() { curl -s --max-time 10 "http://127.0.0.1:$HPORT/metrics" | sed -n "s/^$1 //p"; }
slow_stream() {
	python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/events HTTP/1.1\r\nHost: t\r\n\r\n")
time.sleep(300)' $HPORT &
	track $!
	disown $!
}
slow_stream
wait_for "the first stream" 10 eval 'test "$(metric xmond_event_streams)" = 1'
printf 'stream-max-pending = 32768\n' > "$TMP/hup.conf"
kill -HUP $HUPPID
wait_for "reloaded" 10 log_has "$TMP/hup.log" "reload: configuration re-read"
slow_stream
wait_for "the second stream" 10 eval 'test "$(metric xmond_event_streams)" = 2'
# 3 kB events from xmonraise, 40 at a time, until both are dropped (the
# kernel's socket buffers take a few MB first); at most 8000 (24 MB)
mkfifo "$TMP/hup.in"
exec {HUPIN}<> "$TMP/hup.in"
"$XR" --server 127.0.0.1:$PPORT --app-type hup.t --instance hup1 --limit 10000 --log "$TMP/hupxr.log" \
	< "$TMP/hup.in" > "$TMP/hupxr.out" 2>&1 &
HUPXR=$!; track $HUPXR; disown $HUPXR
n=0
while [ $n -lt 8000 ]; do
	for i in $(seq 40); do echo "long 0 3000"; done >&$HUPIN
	n=$((n + 40))
	wait_for "$n raised" 20 eval 'test "$(grep -c "^raised" "$TMP/hupxr.out")" -ge $n' || break
	[ "$(metric xmond_event_streams_dropped_total)" = 2 ] && break
done
exec {HUPIN}>&-
wait_for "both streams dropped" 10 eval 'test "$(metric xmond_event_streams_dropped_total)" = 2'
is "$(metric xmond_event_streams_dropped_total) $(metric xmond_event_streams)" "2 0" \
	"SIGHUP applies stream-max-pending: both slow streams dropped after $n events of 3 kB"
unsent=$(sed -n 's/.*event stream dropped: client too slow (\([0-9]*\) bytes unsent).*/\1/p' "$TMP/hup.log" | tr '\n' ' ')
ok $(set -- $unsent; [ $# = 2 ] && [ "$1" -le 32768 ] && [ "$2" -le 32768 ]; echo $?) \
	"  each at the new 32 KiB bound, the stream opened before the SIGHUP too (bytes unsent: ${unsent:-none})"
kill $HUPPID
read -r PPORT HPORT <<< "$SAVED_PORTS"

# ---- 9. durability: kill -9 at random moments -----------------------------------------
kill9 $MAINPID
DUR=$TMP/dur
DURFLAGS=(--history 60s --compact-min 20000 --compact-factor 1)
xmond_start dur0 "$DUR" "${DURFLAGS[@]}"
fails=0 seen=0
for i in $(seq 1 10); do
	rm -f "$TMP/load.ready"
	python3 "$PEER" load $PPORT $HPORT $i "$TMP/load.ready" > "$TMP/load.err" 2>&1 &
	LPID=$!
	wait_for "load clients logged on" 30 test -e "$TMP/load.ready"
	sleep 0.$((RANDOM % 8 + 2))
	api '/api/alerts?state=all' > "$TMP/before.json"
	seen=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["alerts"]))' "$TMP/before.json")
	kill9 $XPID
	kill -9 $LPID; wait $LPID 2> /dev/null
	xmond_start dur$i "$DUR" "${DURFLAGS[@]}" || { fails=$((fails + 1)); break; }
	api '/api/alerts?state=all' > "$TMP/after.json"
	python3 "$PEER" compare "$TMP/before.json" "$TMP/after.json" 60 > "$TMP/cmp.$i" 2>&1 || { fails=$((fails + 1)); diag "iteration $i: $(cat "$TMP/cmp.$i")"; }
done
is "$fails" 0 "kill -9 during load, 10 times: every change the API showed is there after restart, nothing twice"
is_num_ge "$seen" 100 "  (the API showed $seen alerts before the last kill)"
ncomp=$(cat "$TMP"/dur*.log | grep -c "compaction: snapshot of")
is_num_ge "$ncomp" 1 "  compactions ran meanwhile (--history 60s --compact-min 20000 --compact-factor 1): $ncomp"
diag "$(cat "$TMP/cmp.10" 2> /dev/null)"
grep -h "records replayed" "$TMP"/dur*.log | sed -n 's/.*(\([0-9]* records replayed in [0-9.]* ms\).*/\1/p' | tail -1 |
	while read -r l; do diag "last restart: $l"; done

# fdatasync off the reactor: while load runs, every fdatasync is the sync
# loop's (thread "xmond-sync"), none the reactor's ("xmond"), and they are
# grouped: fewer syncs than changes
SYNCTID=$(grep -lx xmond-sync /proc/$XPID/task/*/comm 2> /dev/null | sed -n 's,.*/task/\([0-9]*\)/comm,\1,p')
ok $([ -n "$SYNCTID" ]; echo $?) "a thread named xmond-sync (the journal's sync loop): tid ${SYNCTID:-none}"
if command -v strace > /dev/null; then
	m0=$(api /metrics)
	rm -f "$TMP/load.ready"
	python3 "$PEER" load $PPORT $HPORT 77 "$TMP/load.ready" > "$TMP/load.err" 2>&1 &
	LPID=$!
	wait_for "load clients logged on" 30 test -e "$TMP/load.ready"
	timeout 2 strace -f -qq -e trace=fdatasync,fsync -o "$TMP/sync.strace" -p $XPID 2> /dev/null
	kill -9 $LPID; wait $LPID 2> /dev/null
	m1=$(api /metrics)
	nsync=$(grep -c 'fdatasync(' "$TMP/sync.strace")
	nother=$(grep 'fdatasync(' "$TMP/sync.strace" | awk -v t="$SYNCTID" '$1 != t' | wc -l)
	is_num_ge "$nsync" 1 "under load, fdatasync runs: $nsync calls in 2 s"
	is "$nother" 0 "  all of them on the sync loop's thread (none on the reactor)"
	mv() { awk -v k="$1" '$1 == k { print $2 }' <<< "$2"; }
	ops() { awk '/^xmond_alert_operations_total/ { s += $2 } END { print s + 0 }' <<< "$1"; }
	dsync=$(( $(mv xmond_fsync_seconds_count "$m1") - $(mv xmond_fsync_seconds_count "$m0") ))
	dops=$(( $(ops "$m1") - $(ops "$m0") ))
	ok $([ "$dsync" -ge 1 ] && [ "$dsync" -lt "$dops" ]; echo $?) \
		"  grouped and counted: $dsync syncs (xmond_fsync_seconds_count) for $dops changes"
	unset -f mv
else
	ok 0 "# SKIP strace not installed"
	ok 0 "# SKIP strace not installed"
	ok 0 "# SKIP strace not installed"
fi

# second xmond on the same state directory
"$BIN/xmond" --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$DUR" > /dev/null 2> "$TMP/second.err"
is $? 100 "a second xmond on the same state directory exits 100"
ok $(grep -q "in use by another xmond (pid $XPID" "$TMP/second.err"; echo $?) "  naming the pid of the first"

# torn tail: a record cut short at the end of the journal
kill9 $XPID
J=$(ls "$DUR"/journal.* | tail -1)
api_before=$(cat "$TMP/after.json" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["alerts"]))')
size0=$(stat -c %s "$J")
cp "$J" "$TMP/journal.before-torn"
printf '\x40\x00\x00\x00\xbf\xff\xff\xff\x00\x00' >> "$J"
xmond_start torn "$DUR"
ok $(log_has "$TMP/torn.log" "torn last record at offset $size0: 10 bytes truncated"; echo $?) "a torn last record is truncated (logged with its offset)"
ok $(cmp -s -n $size0 "$J" "$TMP/journal.before-torn" && [ "$(od -An -tx1 -j $size0 -N 4 "$J" | tr -d ' ')" != 40000000 ]; echo $?) \
	"  the journal is back to its last whole record (new records follow it, not the torn one)"
kill9 $XPID

# corrupt middle: one flipped byte, start refused naming the offset, nothing changed
cp -a "$DUR" "$TMP/dur-copy"
python3 - "$J" << 'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
# walk the records, flip a payload byte of the one in the middle
off, offs = 0, []
while off + 12 <= len(b):
    n = int.from_bytes(b[off:off + 4], "little")
    offs.append(off)
    off += 12 + n
mid = offs[len(offs) // 2]
b[mid + 12] ^= 0x01
open(p, "wb").write(b)
EOF
mid=$(python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
off, offs = 0, []
while off + 12 <= len(b):
    n = int.from_bytes(b[off:off + 4], "little"); offs.append(off); off += 12 + n
print(offs[len(offs) // 2])' "$J")
sum_before=$(md5sum < "$J")
timeout 20 "$BIN/xmond" --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$DUR" --log "$TMP/corrupt.log" 2> "$TMP/corrupt.err"
is $? 100 "a flipped byte in the middle of the journal: start refused (exit 100)"
ok $(grep -q "corrupt record at offset $mid (CRC32C mismatch)" "$TMP/corrupt.err"; echo $?) \
	"  the error names the file and the offset ($(head -c 200 "$TMP/corrupt.err"))"
is "$(md5sum < "$J")" "$sum_before" "  nothing in the journal changed"
is "$(ls "$DUR" | sort | tr '\n' ' ')" "$(ls "$TMP/dur-copy" | sort | tr '\n' ' ')" "  no file deleted"

# graceful stop: SIGTERM, exit 0, journal synced, state there at the next start
# (no compaction: one would replace the journal under the same fd number,
# and its new file's header is synced only with its first record)
XLISTEN=127.0.0.1:0 xmond_start term "$TMP/state" --compact-factor 0
nopen=$(nalerts state=open)
if command -v strace > /dev/null; then
	# a change, then at once SIGTERM: nothing is written to the journal
	# after its last fdatasync (the sync loop's or the final one at stop)
	JFD=$(ls -l /proc/$XPID/fd | awk '/journal\./ { print $9 }' | tail -1)
	strace -f -qq -e trace=write,fdatasync -o "$TMP/term.strace" -p $XPID 2> /dev/null &
	STPID=$!
	sleep 0.5
	ctl --app-type term.t --instance t1 raise "raised just before SIGTERM" > /dev/null
	nopen=$((nopen + 1))
	kill -TERM $XPID
	wait_for "xmond stopped" 10 gone $XPID
	wait $STPID 2> /dev/null
	nj=$(grep -cE "(write|fdatasync)\($JFD([,)]| <unfinished)" "$TMP/term.strace")
	last=$(grep -E "(write|fdatasync)\($JFD([,)]| <unfinished)" "$TMP/term.strace" | tail -1 | cut -c1-60)
	# (strace -f prints a call that another thread's call interrupts as
	# "fdatasync(14 <unfinished ...>", when it starts)
	ok $([ "$nj" -ge 2 ] && grep -qE "fdatasync\($JFD(\)| <unfinished)" <<< "$last"; echo $?) \
		"SIGTERM right after a change: the journal (fd $JFD) was written and then synced ($nj calls; last: $last)"
	grep -qE "fdatasync\($JFD(\)| <unfinished)" <<< "$last" || diag "$(grep -vE 'write\(2,' "$TMP/term.strace" | cut -c1-100 | tail -30)" >&2
else
	kill -TERM $XPID
	wait_for "xmond stopped" 10 gone $XPID
	ok 0 "# SKIP strace not installed"
fi
ok $(log_has "$TMP/term.log" "xmond stopped"; echo $?) "SIGTERM: xmond stops gracefully (logged)"
xmond_start term2 "$TMP/state"
is "$(nalerts state=open)" "$nopen" "  and starts again with the same $nopen open alerts"
kill -TERM $XPID

echo "1..$_tap_n"
done_testing
