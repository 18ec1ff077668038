#!/usr/bin/env bash
# tests/sys/xmonctl_api.t: xmonctl's API verbs (alerts, show, bin,
# instances) against a real xmond started here with its own state directory
# and free ports, with and without a bearer token; its HTTP client against
# canned broken answers (httpfake.py); the exit statuses: 0, 100 for usage
# and HTTP 4xx, 111 for refused connections, timeouts, 5xx and malformed
# answers, each failure one line on stderr.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
X=$BIN/xmonctl
for b in "$BIN/xmond" "$X"; do
	[ -x "$b" ] || { echo "Bail out! $b is not built"; exit 1; }
done
command -v python3 > /dev/null || skip_all "python3 is needed"
command -v curl > /dev/null || skip_all "curl is needed"
plan 61
unset XMON_API XMON_TOKEN_FILE

# xmond_start NAME ARGS...: sets XPID, PPORT, HPORT
xmond_start() {
	local name=$1; shift
	: > "$TMP/$name.log"
	"$BIN/xmond" --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$TMP/$name.state" --log "$TMP/$name.log" "$@" \
		2> "$TMP/$name.err" &
	XPID=$!
	track $XPID
	disown $XPID
	wait_for "$name ready" 20 log_has "$TMP/$name.log" "xmond ready" || { cat "$TMP/$name.err" >&2; return 1; }
	PPORT=$(sed -n 's/.*protocol on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$TMP/$name.log" | tail -1)
	HPORT=$(sed -n 's/.*HTTP on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$TMP/$name.log" | tail -1)
}
lines() { wc -l < "$1" | tr -d ' '; }
# run ARGS...: xmonctl with a safety net; sets ST, output in $TMP/out, $TMP/err
run() { timeout 30 "$X" "$@" > "$TMP/out" 2> "$TMP/err"; ST=$?; }
# bad WANT DESC ARGS...: status WANT and exactly one line on stderr
bad() {
	local want=$1 desc=$2; shift 2
	run "$@"
	is "$ST $(lines "$TMP/err")" "$want 1" "$desc: status $want, one line: $(head -c 150 "$TMP/err" | head -1)"
	[ "$(lines "$TMP/err")" = 1 ] || diag "stderr: $(cat "$TMP/err")"
}
raise() { "$X" --server 127.0.0.1:$PPORT --timeout 10 "$@"; }
# row_of KEY: the table row of that key; keys: the keys of the table's rows
row_of() { head -n -1 "$TMP/out" | awk -v k="$1" 'NR > 1 && $1 == k'; }
keys() { head -n -1 "$TMP/out" | awk 'NR > 1 {printf "%s ", $1}'; }

# ---- usage -------------------------------------------------------------------------
run --help
ok $(for v in alerts show bin instances --api --token-file --json XMON_TOKEN_FILE; do grep -q -- "$v" "$TMP/out" || exit 1; done; echo 0) \
	"--help names the API verbs, --api, --token-file, --json and XMON_TOKEN_FILE"
bad 100 "alerts without --api" alerts
bad 100 "a URL that is not http://" --api https://127.0.0.1:1 alerts
bad 100 "a URL without a host" --api http:///api alerts
bad 100 "show without a KEY" --api http://127.0.0.1:1 show
bad 100 "show with a KEY that is not a number" --api http://127.0.0.1:1 show 1x
bad 100 "bin with two KEYs" --api http://127.0.0.1:1 bin 1 2
bad 100 "alerts with an unknown option" --api http://127.0.0.1:1 alerts --bogus
bad 100 "alerts --app-type without a value" --api http://127.0.0.1:1 alerts --app-type
bad 100 "instances with an argument" --api http://127.0.0.1:1 instances now
bad 100 "a missing token file" --api http://127.0.0.1:1 --token-file "$TMP/none" alerts
bad 100 "a name that does not exist" --api http://no-such-host.invalid:8080 alerts

# ---- against xmond ---------------------------------------------------------------------
xmond_start main
API=http://127.0.0.1:$HPORT
run --api $API alerts
is "$ST $(cat "$TMP/out")" "0 0 open alerts" "alerts with none open: status 0, '0 open alerts'"
id1=$(raise --app-type ops.daytime --instance backup@db1 raise --binnable "backup failed")
id2=$(raise --app-type ops.critical --instance disk@db2 raise "disk 3 full")
id3=$(raise --app-type ops.critical --instance evil@db3 raise $'bell\a esc\033[2J\nsecond line')
run --api $API alerts
is "$ST $(head -1 "$TMP/out" | tr -s ' ')" "0 KEY STATE APP TYPE INSTANCE ID BIN UPDATED MESSAGE" "alerts: a table with its header"
is "$(tail -1 "$TMP/out")" "3 open alerts" "  and the count"
is "$(row_of 1 | awk '{print $2, $3, $4, $5, $6}')" "open ops.daytime backup@db1 $id1 yes" \
	"  the binnable alert's row: key 1, open, app type, instance, id, binnable"
ok $(row_of 1 | grep -q 'backup failed$'; echo $?) "  with its message last"
is "$(row_of 2 | awk '{print $3, $4, $6}')" "ops.critical disk@db2 no" "  the other's row: not binnable"
ok $(grep -q $'\033' "$TMP/out"; [ $? = 1 ]; echo $?) "no raw escape byte reaches the terminal"
ok $(row_of 3 | grep -qF 'bell\x07 esc\x1b[2J\nsecond line'; echo $?) "  control characters are shown escaped"
is "$(keys)" "3 2 1 " "newest first"

run --api $API alerts --app-type ops.critical
is "$(tail -1 "$TMP/out") $(keys)" "2 open alerts 3 2 " "alerts --app-type filters"
run --api $API alerts --instance disk@db2
is "$(keys)" "2 " "alerts --instance filters"
run --api $API alerts --query BACKUP
is "$(keys)" "1 " "alerts --query matches text, ignoring case"
run --api $API alerts --instance 'no such & instance'
is "$ST $(cat "$TMP/out")" "0 0 open alerts" "a filter value with spaces and & is encoded"

curl -sS "$API/api/alerts?state=open" > "$TMP/curl.json"
run --api $API --json alerts
ok $(cmp -s "$TMP/out" "$TMP/curl.json"; echo $?) "--json before the command prints the API's JSON as it came"
run --api $API alerts --json --app-type ops.daytime
is "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["count"], j["alerts"][0]["alert_id"])' "$TMP/out")" \
	"1 $id1" "--json after the command, with a filter"

run --api $API show 1
is "$ST" 0 "show KEY: status 0"
is "$(awk '$1 == "instance" {print $2} $1 == "state" {print $2} $1 == "binnable" {print $2}' "$TMP/out" | tr '\n' ' ')" \
	"backup@db1 open true " "  the alert's fields"
ok $(grep -qE '^[0-9-]+ [0-9:]+ +created +client 127\.0\.0\.1:[0-9]+ +backup failed$' "$TMP/out"; echo $?) "  its history: created, by the client, the message"
run --api $API --json show 1
is "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["key"], j["history"][0]["event"])' "$TMP/out")" "1 created" \
	"show --json: the API's alert with its history"
bad 100 "show of an unknown KEY (404)" --api $API show 999

run --api $API bin 1
is "$ST $(cat "$TMP/out")" "0 binned 1 (ops.daytime backup@db1, id $id1)" "bin KEY: status 0, says what it binned"
is "$(curl -sS "$API/api/alerts/1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" "binned" "  the alert is binned in xmond"
bad 100 "bin of a binned alert (409)" --api $API bin 1
bad 100 "bin of an alert that is not binnable (409)" --api $API bin 2
bad 100 "bin of an unknown KEY (404)" --api $API bin 999
run --api $API alerts
is "$(tail -1 "$TMP/out")" "2 open alerts" "the binned alert is no longer open"
run --api $API alerts --all
is "$(tail -1 "$TMP/out") $(row_of 1 | awk '{print $2}')" "3 alerts binned" "alerts --all shows it, binned"
ok $(row_of 1 | grep -qF "backup failed"; echo $?) "  with its message"

run --api $API instances
is "$ST $(head -1 "$TMP/out" | tr -s ' ')" "0 APP TYPE INSTANCE STATE SINCE OPEN PEER" "instances: a table with its header"
is "$(awk '$2 == "disk@db2" {print $1, $3, $6}' "$TMP/out")" "ops.critical down 1" "  an instance, down (xmonctl left), 1 open alert"
is "$(tail -1 "$TMP/out")" "3 instances" "  and the count"
XMON_API=$API run instances
is "$ST $(tail -1 "$TMP/out")" "0 3 instances" "XMON_API is the default --api"
run --api $API/ instances
is "$ST" 0 "a URL with a trailing slash"

# ---- a bearer token ------------------------------------------------------------------------
printf 'secret-token-0123456789\n' > "$TMP/token"
printf 'wrong-token-0123456789\n' > "$TMP/wrong"
xmond_start tok --http-token "$TMP/token"
TAPI=http://127.0.0.1:$HPORT
bad 100 "no token, xmond wants one (401)" --api $TAPI alerts
ok $(grep -q "token-file" "$TMP/err"; echo $?) "  and it says how to give one"
bad 100 "a wrong token (401)" --api $TAPI --token-file "$TMP/wrong" alerts
run --api $TAPI --token-file "$TMP/token" alerts
is "$ST $(cat "$TMP/out")" "0 0 open alerts" "--token-file: status 0"
[ "$ST" = 0 ] || diag "TAPI=$TAPI stderr: $(cat "$TMP/err"); xmond: $(cat "$TMP/tok.log" "$TMP/tok.err")" >&2
XMON_TOKEN_FILE=$TMP/token run --api $TAPI instances
is "$ST $(tail -1 "$TMP/out")" "0 0 instances" "XMON_TOKEN_FILE is the default --token-file"

# ---- failures: refused, 5xx, malformed, timeouts ---------------------------------------------
fp=$(free_port)
bad 111 "connection refused" --api http://127.0.0.1:$fp alerts
fake() {
	rm -f "$TMP/fake.port"
	python3 "$HERE/httpfake.py" "$1" "$TMP/fake.port" 2> /dev/null &
	track $!
	disown $!
	wait_for "fake http $1" 10 test -s "$TMP/fake.port"
	FAPI=http://127.0.0.1:$(cat "$TMP/fake.port")
}
fake 500
bad 111 "HTTP 500" --api $FAPI alerts
ok $(grep -q "HTTP 500: out of disks" "$TMP/err"; echo $?) "  with the server's error message"
for m in chunked nolength huge badstatus notjson; do
	fake $m
	bad 111 "a malformed answer ($m)" --api $FAPI alerts
done
fake silent
t0=$SECONDS
bad 111 "a server that never answers, --timeout 1" --api $FAPI --timeout 1 alerts
ok $([ $((SECONDS - t0)) -le 5 ]; echo $?) "  gives up within seconds ($((SECONDS - t0)) s)"
fake slowbody
bad 111 "an answer cut short, --timeout 1" --api $FAPI --timeout 1 alerts
done_testing
