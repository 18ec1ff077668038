#!/usr/bin/env bash
# tests/sys/alertmanager.t: xmond forwarding to two real Prometheus
# Alertmanager processes (a gossiping cluster on loopback), end to end
# through xmond, xmonctl and xmond's HTTP API:
#  - dist/alertmanager.yml passes amtool and routes by app_type;
#  - raise -> listed by both replicas with the right labels and annotations;
#    a critical alert pages at once (the webhook of the example routing tree);
#  - clear and bin -> resolved in both (gone from the listing long before the
#    endsAt the open alert carried: xmond sent endsAt = now);
#  - xmond's own "is down" alert is forwarded and resolved;
#  - a replica killed while alerts are raised and cleared, then restarted,
#    converges; a replica stopped (SIGSTOP: connections accepted, nothing
#    answered) while an alert it holds is cleared gets the resolve when it
#    wakes;
#  - a replica that accepts connections and never answers does not delay the
#    other one (delays printed, asserted loosely).
# Alertmanager keeps alerts in memory only; GET /api/v2/alerts lists the
# active ones, so "resolved" shows as "no longer listed".
. "$(dirname "$0")/tap.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
AM=$(command -v prometheus-alertmanager || command -v alertmanager || true)
AMTOOL=$(command -v amtool || true)
[ -n "$AM" ] || skip_all "prometheus-alertmanager is not installed (Debian: apt-get install prometheus-alertmanager)"
command -v python3 > /dev/null || skip_all "python3 is needed to read Alertmanager's API"
command -v curl > /dev/null || skip_all "curl is needed for xmond's API"
for b in xmond xmonctl; do [ -x "$BIN/$b" ] || { echo "Bail out! $BIN/$b is not built"; exit 1; }; done
plan 41

H="python3 $HERE/amhelp.py"
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- the example configuration --------------------------------------------------
if [ -n "$AMTOOL" ]; then
	"$AMTOOL" check-config "$ROOT/dist/alertmanager.yml" > "$TMP/check.out" 2>&1
	ok $? "amtool check-config accepts dist/alertmanager.yml"
	routes=""
	for t in never daytime critical other; do
		routes="$routes $t:$("$AMTOOL" config routes test --config.file="$ROOT/dist/alertmanager.yml" app_type=$t alertname=xmon 2> /dev/null)"
	done
	is "$routes" " never:blackhole daytime:team-mail critical:pager other:team-mail" "routing by app_type: never -> nothing, daytime -> mail, critical -> pager"
else
	ok 0 "# SKIP amtool not installed (the replicas below start with the configuration)"
	ok 0 "# SKIP amtool not installed"
fi

# ---- two replicas running the example tree (receivers moved to test ports) ---------
HOOK_PORT=$(free_port)
$H hook $HOOK_PORT "$TMP/hook.jsonl" > "$TMP/hook.err" 2>&1 &
track $!; disown $!
# the mail relay points at a closed port; the pager webhook at the test's listener;
# group_interval shortened so that resolved notifications come quickly
sed -e "s#127.0.0.1:9097#127.0.0.1:$HOOK_PORT#" -e "s#127.0.0.1:25#127.0.0.1:9#" \
	-e "s#group_interval: 1m#group_interval: 1s#" "$ROOT/dist/alertmanager.yml" > "$TMP/am.yml"
W=() C=() AMPID=()
for i in 0 1; do W[$i]=$(free_port); C[$i]=$(free_port); mkdir -p "$TMP/am$i"; done
start_am() {   # start_am I
	local i=$1 o=$((1 - $1))
	"$AM" --config.file="$TMP/am.yml" --storage.path="$TMP/am$i" --web.listen-address=127.0.0.1:${W[$i]} \
		--cluster.listen-address=127.0.0.1:${C[$i]} --cluster.peer=127.0.0.1:${C[$o]} \
		--cluster.advertise-address=127.0.0.1:${C[$i]} >> "$TMP/am$i.log" 2>&1 &
	AMPID[$i]=$!
	track ${AMPID[$i]}
}
am_ready() { curl -sf "http://127.0.0.1:${W[$1]}/-/ready" > /dev/null; }
start_am 0
start_am 1
wait_for "replica 0 ready" 60 am_ready 0 && wait_for "replica 1 ready" 60 am_ready 1
ok $? "two Alertmanager replicas (a cluster) up on loopback with the example routing tree"
mkdir -p "$TMP/w"
$H watch "$TMP/w" ${W[0]} ${W[1]} > "$TMP/watch.err" 2>&1 &
track $!; disown $!

# The watcher keeps $TMP/w/PORT.tsv (the replica's listing) and $TMP/w/events.
# listed I ID: replica I lists alert_id ID
listed() { awk -F'\t' -v id="$2" '$4 == id { f = 1 } END { exit !f }' "$TMP/w/${W[$1]}.tsv" 2> /dev/null; }
# state I [+ID|-ID]...: each +ID listed and each -ID not, by replica I
state() {
	local i=$1 a; shift
	[ -e "$TMP/w/${W[$i]}.tsv" ] || return 1
	for a in "$@"; do
		case $a in
		+*) listed "$i" "${a#+}" || return 1 ;;
		-*) ! listed "$i" "${a#-}" || return 1 ;;
		esac
	done
}
# waitw I SECS [+ID|-ID]...
waitw() { local i=$1 t=$2; shift 2; wait_for "replica $i: $*" "$t" state "$i" "$@"; }
# since I appeared|gone ID T0: ms from T0 (CLOCK_REALTIME ns) to the first such event
since() {
	awk -v p="${W[$1]}" -v k="$2" -v id="$3" -v t0="$4" \
		'$2 == p && $3 == k && $4 == id && $1 >= t0 { printf "%.1f", ($1 - t0) / 1e6; exit }' "$TMP/w/events"
}
line_of() { awk -F'\t' -v id="$2" '$4 == id' "$TMP/w/${W[$1]}.tsv" | cut -f1-9; }

# ---- xmond forwarding to both ------------------------------------------------------
P=$(free_port) HP=$(free_port)
EXT="http://xmond.test:8080/"
XMOND_ARGS=(--listen 127.0.0.1:$P --http 127.0.0.1:$HP --state-dir "$TMP/state" --down-grace 1s
	--alertmanager http://127.0.0.1:${W[0]} --alertmanager http://127.0.0.1:${W[1]}/
	--severity critical=critical --severity never=none --external-url "$EXT"
	--alertmanager-timeout 2s --alertmanager-backoff 1s)
"$BIN/xmond" "${XMOND_ARGS[@]}" > "$TMP/xmond.log" 2>&1 &
XPID=$!
track $XPID
healthy() { curl -sf "http://127.0.0.1:$HP/healthz" > /dev/null; }
wait_for "xmond" 60 healthy
ok $? "xmond started with two --alertmanager URLs"

ctl() { timeout 20 "$BIN/xmonctl" --server 127.0.0.1:$P "$@"; }
api() { curl -s "http://127.0.0.1:$HP$1"; }
probed() { api /api/forwarding | python3 -c 'import json,sys
r = json.load(sys.stdin)["replicas"]
sys.exit(0 if all(x["up"] and x["requests_ok"] >= 1 and x["alerts_sent"] == 0 for x in r) else 1)'; }
wait_for "probe" 60 probed
ok $? "no alert open at start: an empty request to each replica, both known up (GET /api/forwarding)"
key_of() {   # key_of ALERT_ID: xmond's key for it
	api "/api/alerts?state=all" | python3 -c 'import json,sys
for a in json.load(sys.stdin)["alerts"]:
    if a["alert_id"] == sys.argv[1]: print(a["key"])' "$1"
}

t0=$(date +%s%N)
ID1=$(ctl --app-type critical --instance db1 raise "disk full on /var")
t1=$(date +%s%N)
ID2=$(ctl --app-type daytime --instance web1 raise --binnable "slow answers")
ID3=$(ctl --app-type never --instance batch1 raise "nightly job late")
waitw 0 60 "+$ID1" && waitw 1 60 "+$ID1"
ok $? "raise -> listed by both replicas (after $(since 0 appeared "$ID1" $t0) and $(since 1 appeared "$ID1" $t0) ms; xmonctl itself took $(( (t1 - t0) / 1000000 )) ms)"
BASE_DELAY=$(since 1 appeared "$ID1" $t0)
waitw 0 60 "+$ID2" "+$ID3" && waitw 1 60 "+$ID2" "+$ID3"
ok $? "all three alerts in both replicas"
K1=$(key_of "$ID1") K2=$(key_of "$ID2") K3=$(key_of "$ID3")
for i in 0 1; do
	is "$(line_of $i "$ID1")" "$(printf 'xmon\tcritical\tdb1\t%s\tfalse\tcritical\topen\t%s\thttp://xmond.test:8080/?alert=%s' "$ID1" "$K1" "$K1")" \
		"replica $i: labels alertname, app_type, instance, alert_id, binnable, severity (mapped); annotations state, key, link"
	is "$(line_of $i "$ID2")" "$(printf 'xmon\tdaytime\tweb1\t%s\ttrue\twarning\topen\t%s\thttp://xmond.test:8080/?alert=%s' "$ID2" "$K2" "$K2")" \
		"replica $i: a binnable daytime alert, default severity"
done
msg=$(awk -F'\t' -v id="$ID3" '$4 == id' "$TMP/w/${W[0]}.tsv" | cut -f6,10)
is "$msg" "$(printf 'none\tnightly job late')" "severity from the map for app type never; the message annotation"
ends=$(curl -s "http://127.0.0.1:${W[0]}/api/v2/alerts" | python3 -c 'import json,sys,datetime
for a in json.load(sys.stdin):
    if a["labels"]["alert_id"] == sys.argv[1]:
        f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
        print(int(f(a["endsAt"]) - f(a["updatedAt"])))' "$ID1")
ok $([ "$ends" -ge 170 ] && [ "$ends" -le 181 ] && echo 0 || echo 1) "an open alert carries endsAt 3 re-send periods ahead (${ends} s; --alertmanager-resend 60s)"
hook_has() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    for a in m.get("alerts", []):
        if a["labels"].get("alert_id") == sys.argv[2] and a["status"] == sys.argv[3]: sys.exit(0)
sys.exit(1)' "$TMP/hook.jsonl" "$1" "$2" 2> /dev/null; }
wait_for "page for the critical alert" 60 hook_has "$ID1" firing
ok $? "the critical alert paged at once through the example tree (the pager webhook got it firing)"
hook_has "$ID2" firing || hook_has "$ID3" firing
ok $([ $? != 0 ] && echo 0 || echo 1) "daytime and never alerts did not page"

# ---- clear and bin -> resolved in both ----------------------------------------------
t0=$(date +%s%N)
ctl --app-type critical --instance db1 clear "$ID1" > /dev/null
waitw 0 60 "-$ID1" && waitw 1 60 "-$ID1"
ok $? "clear -> resolved in both (no longer listed after $(since 0 gone "$ID1" $t0) and $(since 1 gone "$ID1" $t0) ms; its endsAt was 3 minutes ahead)"
wait_for "resolved page" 60 hook_has "$ID1" resolved
ok $? "the pager webhook got the resolve"
code=$(curl -s -o "$TMP/bin.out" -w '%{http_code}' -X POST "http://127.0.0.1:$HP/api/alerts/$K2/bin")
is "$code" 200 "bin through xmond's POST /api/alerts/KEY/bin"
waitw 0 60 "-$ID2" && waitw 1 60 "-$ID2"
ok $? "bin -> resolved in both"
state 0 "+$ID3" && state 1 "+$ID3"
ok $? "the other open alert stays listed"

# ---- liveness: xmond's own alert ------------------------------------------------
ctl --app-type critical --instance cache1 watch > /dev/null 2>&1 &
WPID=$!
track $WPID
steady() { api /api/instances | grep -q '"instance":"cache1","state":"up","since":"[^"]*","parent":true,"steady":true'; }
wait_for "cache1 steady" 60 steady
kill -9 $WPID; wait $WPID 2> /dev/null
down_listed() { awk -F'\t' '$1 == "xmon_instance_down" && $3 == "cache1" && $4 == "down" { f = 1 } END { exit !f }' "$TMP/w/${W[$1]}.tsv"; }
wait_for "down alert in replica 0" 60 down_listed 0 && wait_for "down alert in replica 1" 10 down_listed 1
ok $? "an instance gone past --down-grace: xmond's \"is down\" alert (alertname xmon_instance_down) in both replicas"
ctl --app-type critical --instance cache1 watch > /dev/null 2>&1 &
WPID=$!
track $WPID
not_down() { ! down_listed 0 && ! down_listed 1; }
wait_for "down alert resolved" 60 not_down
ok $? "the instance back: the down alert resolved in both"
kill -9 $WPID; wait $WPID 2> /dev/null

# ---- a replica killed, alerts raised and cleared meanwhile, restarted ------------------
ID4=$(ctl --app-type critical --instance db2 raise "raised before the kill")
waitw 1 60 "+$ID4"
ok $? "replica 1 holds an alert before it is killed"
kill -9 ${AMPID[1]}; wait ${AMPID[1]} 2> /dev/null
rm -f "$TMP/w/${W[1]}.tsv"
ID5=$(ctl --app-type critical --instance db2 raise "raised while replica 1 is dead")
ID6=$(ctl --app-type daytime --instance web2 raise "raised and cleared while replica 1 is dead")
ctl --app-type daytime --instance web2 clear "$ID6" > /dev/null
ctl --app-type critical --instance db2 clear "$ID4" > /dev/null
waitw 0 60 "+$ID5" "-$ID4" "-$ID6"
ok $? "replica 0 follows at once while replica 1 is dead"
down_seen() { api /api/forwarding | python3 -c 'import json,sys
r = json.load(sys.stdin)["replicas"][1]
sys.exit(0 if not r["up"] and r["requests_failed"] > 0 and r["last_error"] else 1)'; }
wait_for "replica 1 seen down" 60 down_seen
ok $? "GET /api/forwarding: replica 1 down, failures counted, last error: $(api /api/forwarding | python3 -c 'import json,sys; print(json.load(sys.stdin)["replicas"][1]["last_error"])')"
api /metrics > "$TMP/metrics"
grep -q "^xmond_alertmanager_up{url=\"http://127.0.0.1:${W[1]}/\"} 0$" "$TMP/metrics" &&
	grep -q "^xmond_alertmanager_up{url=\"http://127.0.0.1:${W[0]}\"} 1$" "$TMP/metrics"
ok $? "/metrics: xmond_alertmanager_up 1 for replica 0, 0 for replica 1"
sleep 2   # a few back-off rounds
t0=$(date +%s%N)
start_am 1
wait_for "replica 1 ready again" 60 am_ready 1
waitw 1 60 "+$ID5" "+$ID3" "-$ID4" "-$ID6"
ok $? "replica 1 restarted (empty): converges to the open alerts ($(since 1 appeared "$ID5" $t0) ms after it was started)"
cut -f4 "$TMP/w/${W[1]}.tsv" | sort > "$TMP/r1"
cut -f4 "$TMP/w/${W[0]}.tsv" | sort > "$TMP/r0"
is "$(cat "$TMP/r1" | tr '\n' ' ')" "$(cat "$TMP/r0" | tr '\n' ' ')" "both replicas list the same alerts"

# ---- a replica stopped (hung) while an alert it holds is cleared --------------------------
kill -STOP ${AMPID[0]}
ctl --app-type critical --instance db2 clear "$ID5" > /dev/null
ID7=$(ctl --app-type critical --instance db3 raise "raised while replica 0 hangs")
waitw 1 60 "+$ID7" "-$ID5"
ok $? "replica 0 hung (SIGSTOP): replica 1 gets the changes at once"
sleep 3   # past --alertmanager-timeout 2s: the request to replica 0 fails, back-off
t0=$(date +%s%N)
kill -CONT ${AMPID[0]}
waitw 0 60 "+$ID7" "-$ID5"
ok $? "replica 0 woken: it got the resolve of the alert it held and the new one ($(since 0 gone "$ID5" $t0) ms after SIGCONT)"

# ---- a replica that never answers does not slow the other ----------------------------
SIL_PF=$TMP/silent.port
$H silent "$SIL_PF" > "$TMP/silent.count" 2>&1 &
track $!; disown $!
wait_for "silent replica" 60 test -s "$SIL_PF"
SP=$(cat "$SIL_PF")
P2=$(free_port) HP2=$(free_port)
"$BIN/xmond" --listen 127.0.0.1:$P2 --http 127.0.0.1:$HP2 --state-dir "$TMP/state2" \
	--alertmanager http://127.0.0.1:$SP --alertmanager http://127.0.0.1:${W[1]} \
	--alertmanager-timeout 60s > "$TMP/xmond2.log" 2>&1 &
X2PID=$!
track $X2PID
healthy2() { curl -sf "http://127.0.0.1:$HP2/healthz" > /dev/null; }
wait_for "xmond 2" 60 healthy2
delays=() ctl_ms=() ids=() worst=0 worst_ctl=0
for n in 1 2 3 4 5 6 7 8; do
	t0=$(date +%s%N)
	id=$(timeout 20 "$BIN/xmonctl" --server 127.0.0.1:$P2 --app-type slowtest --instance s$n raise "alert $n")
	t1=$(date +%s%N)
	ids+=("$id")
	waitw 1 60 "+$id" && d=$(since 1 appeared "$id" $t0) || d=99999
	delays+=("$d")
	c=$(( (t1 - t0) / 1000000 ))
	ctl_ms+=("$c")
	worst=$(python3 -c "print(max($worst, $d))")
	[ $c -gt $worst_ctl ] && worst_ctl=$c
	sleep 0.5
done
diag "raise -> listed by the healthy replica, next to a silent one (ms): ${delays[*]}"
diag "xmonctl raise round trips meanwhile (ms): ${ctl_ms[*]}; baseline with both replicas healthy: $BASE_DELAY ms"
# loose bounds: this machine may be loaded; a replica waiting behind the silent one
# would take the silent one's 60 s
ok $(python3 -c "print(0 if $worst < 10000 else 1)") "a replica that never answers does not delay the other: worst $worst ms (the silent one holds each request 60 s)"
ok $([ $worst_ctl -lt 5000 ] && echo 0 || echo 1) "nor the protocol loop: xmonctl raise took at most $worst_ctl ms"
scount=$(tail -1 "$TMP/silent.count")   # before the failures are read: a request may fail in between
curl -s "http://127.0.0.1:$HP2/api/forwarding" > "$TMP/fw2.json"
python3 -c 'import json,sys
s, h = json.load(open(sys.argv[1]))["replicas"]
print("# silent: busy %s, %d queued, %d ok; healthy: %d requests ok, %d alerts, mean answer %.1f ms" % (s["busy"], s["queued"], s["requests_ok"], h["requests_ok"], h["alerts_sent"], h["request_us_sum"] / 1000 / max(1, h["requests_ok"])))
sys.exit(0 if s["busy"] and s["requests_ok"] == 0 and s["queued"] > 0 and h["alerts_sent"] >= 8 else 1)' "$TMP/fw2.json"
ok $? "GET /api/forwarding: the silent replica busy with its first request, the rest queued; the healthy one got all 8"
# one request at a time: a new connection only after a request failed (its
# 60 s passed: on a loaded machine the loop above can take that long)
sfail=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["replicas"][0]["requests_failed"])' "$TMP/fw2.json")
ok $([ "$scount" -ge 1 ] && [ "$scount" -le $((sfail + 1)) ] && echo 0 || echo 1) "the silent replica saw $scount connection(s), $sfail request(s) failed after 60 s: a new connection only after a failure (one request at a time)"
[ "$scount" -ge 1 ] && [ "$scount" -le $((sfail + 1)) ] || grep forward "$TMP/xmond2.log" | while read -r l; do diag "xmond 2: $l"; done

# ---- shutdown with a hung replica; the re-send period; no timer without open alerts ----
t0=$(ms)
kill -TERM $X2PID; wait $X2PID
st=$?
t1=$(ms)
ok $([ $st = 0 ] && [ $((t1 - t0)) -lt 3000 ] && echo 0 || echo 1) "xmond stops cleanly on SIGTERM while a replica hangs on it ($((t1 - t0)) ms, status $st)"
"$BIN/xmond" --listen 127.0.0.1:$P2 --http 127.0.0.1:$HP2 --state-dir "$TMP/state2" \
	--alertmanager http://127.0.0.1:${W[1]} --alertmanager-resend 1s > "$TMP/xmond2.log" 2>&1 &
X2PID=$!
track $X2PID
wait_for "xmond 2 again" 60 healthy2
api2() { curl -s "http://127.0.0.1:$HP2$1"; }
rounds() { api2 /metrics | awk '$1 == "xmond_alertmanager_resends_total" {print $2}'; }
two_rounds() { [ "$(rounds)" -ge 2 ]; }
wait_for "two re-send rounds" 60 two_rounds
ok $? "restarted with --alertmanager-resend 1s: re-sent every second ($(rounds) rounds so far)"
upd() { curl -s "http://127.0.0.1:${W[1]}/api/v2/alerts" | python3 -c 'import json,sys
for a in json.load(sys.stdin):
    if a["labels"]["alert_id"] == sys.argv[1]: print(a["updatedAt"])' "$1"; }
u1=$(upd "${ids[0]}"); sleep 1.5; u2=$(upd "${ids[0]}")
ok $([ -n "$u1" ] && [ "$u1" != "$u2" ] && echo 0 || echo 1) "the open alerts reach the replica again each round (updatedAt $u1 -> $u2)"
id9=$(timeout 20 "$BIN/xmonctl" --server 127.0.0.1:$P2 --app-type slowtest --instance s9 raise "after the restart")
waitw 1 60 "+$id9"
ends=$(curl -s "http://127.0.0.1:${W[1]}/api/v2/alerts" | python3 -c 'import json,sys,datetime
for a in json.load(sys.stdin):
    if a["labels"]["alert_id"] == sys.argv[1]:
        f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
        print(int(round(f(a["endsAt"]) - f(a["updatedAt"]))))' "$id9")
is "$ends" 3 "endsAt follows the period: 3 s ahead with --alertmanager-resend 1s (Alertmanager never moves an open alert's endsAt back)"
timeout 20 "$BIN/xmonctl" --server 127.0.0.1:$P2 --app-type slowtest --instance s9 clear "$id9" > /dev/null
for n in 1 2 3 4 5 6 7 8; do
	timeout 20 "$BIN/xmonctl" --server 127.0.0.1:$P2 --app-type slowtest --instance s$n clear "${ids[$((n - 1))]}" > /dev/null
done
waitw 1 60 "-${ids[0]}" "-${ids[7]}"
r1=$(rounds); sleep 2.5; r2=$(rounds)
is "$r2" "$r1" "every alert closed: no more re-send rounds (the timer is gone)"

kill -TERM $XPID; wait $XPID
ok $? "xmond 1 stops cleanly"
! grep -q "forward: .* refused [0-9]* alerts" "$TMP/xmond.log" "$TMP/xmond2.log"
ok $? "no request refused by a replica in the whole run (logs)"
kill -TERM ${AMPID[0]} ${AMPID[1]} $X2PID 2> /dev/null; wait ${AMPID[0]} ${AMPID[1]} $X2PID 2> /dev/null
grep -n " error \| warn " "$TMP/xmond.log" | head -8 | while read -r l; do diag "xmond: $l"; done
done_testing
