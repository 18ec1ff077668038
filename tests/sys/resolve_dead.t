#!/usr/bin/env bash
# tests/sys/resolve_dead.t: a DNS server that never answers (issue 8, item 6).
# The xmon loop must never block on a lookup: echod keeps serving, the xmon
# thread waits in its reactor while a "resolve" helper thread waits on the
# name server, failed lookups are retried after a growing back-off, and a
# graceful stop during a lookup ends within its deadline (nothing waits
# for the helper).
#
# Runs in a private mount namespace (unshare -m, so root) whose
# /etc/resolv.conf names deaddns.py (UDP 53 on a free 127.0.0.100-199,
# "options timeout:2 attempts:1": each lookup fails after about 2 s).
if [ -z "${LULL_IN_NS:-}" ] && [ "$(id -u)" = 0 ] && unshare -m true 2> /dev/null; then
	LULL_IN_NS=1 exec unshare -m "$0" "$@"
fi
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"
[ -n "${LULL_IN_NS:-}" ] || skip_all "needs root and unshare -m to bind-mount /etc/resolv.conf"
command -v python3 > /dev/null || skip_all "python3 is needed for the DNS server"
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$BIN/echod" ] || { echo "Bail out! $BIN/echod is not built"; exit 1; }

python3 "$HERE/deaddns.py" "$TMP/dns.status" "$TMP/dns.log" 2> "$TMP/dns.err" &
DNS=$!
track $DNS
disown $DNS
wait_for "the DNS server" 10 test -s "$TMP/dns.status"
read -r DNS_ST DNS_ADDR < "$TMP/dns.status"
[ "$DNS_ST" = listening ] || skip_all "no free UDP port 53 on 127.0.0.100-199"
plan 9

printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DNS_ADDR" > "$TMP/resolv.conf"
printf '127.0.0.1 localhost\n' > "$TMP/hosts"
mount --bind "$TMP/resolv.conf" /etc/resolv.conf && mount --bind "$TMP/hosts" /etc/hosts
ok $? "private mount namespace: /etc/resolv.conf names a DNS server that never answers ($DNS_ADDR)"

NAME=xmon-dead.lull.test
# lookups: one line per lookup, the time of its first query (A and AAAA
# go out together; a lookup is the queries within 0.5 s of its first)
lookups() {
	awk -v n="$NAME" '$2 == n { if (!seen || $1 - t > 0.5) { print $1; t = $1; seen = 1 } }' "$TMP/dns.log" 2> /dev/null
}
nlookups_gt() { [ "$(lookups | wc -l)" -gt "$1" ]; }
tid_of() { grep -lx "$2" /proc/"$1"/task/*/comm 2> /dev/null | head -1 | cut -d/ -f5; }
has_thread() { [ -n "$(tid_of "$1" "$2")" ]; }

EPORT=$(free_port)
"$BIN/echod" --listen 127.0.0.1:$EPORT --loops 1 --log "$TMP/e.log" --xmon $NAME:5004 --app-type dead \
	--instance e1 --term graceful --term-deadline 1000 2> "$TMP/e.err" &
EPID=$!
track $EPID
wait_for "echod listening" 10 log_has "$TMP/e.log" "echod listening"
wait_for "the first lookup" 10 nlookups_gt 0
wait_for "the helper thread" 5 has_thread $EPID resolve
HELPER=$?
XT=$(tid_of $EPID xmon)
xsys=$(cut -d' ' -f1 /proc/$EPID/task/$XT/syscall 2> /dev/null)
xst=$(sed 's/.*) //' /proc/$EPID/task/$XT/stat | cut -d' ' -f1)
# 232 epoll_wait, 281 epoll_pwait, 441 epoll_pwait2 (x86-64)
ok $([ $HELPER = 0 ] && [ "$xst" = S ] && [[ " 232 281 441 " == *" $xsys "* ]]; echo $?) \
	"during a lookup a \"resolve\" thread waits on the DNS server, the xmon thread waits in its reactor (state $xst, syscall $xsys)"
is "$(python3 "$HERE/udpecho.py" 127.0.0.1 $EPORT during-lookup 2)" during-lookup "  and echod echoes meanwhile"

# Four lookups: at about 0, 2 + 1, +2 + 2, +2 + 4 s (2 s resolver timeout,
# then the back-off: 1 s doubling, +-20 % jitter).
wait_for "four lookups" 30 nlookups_gt 3
L=$(lookups | head -4 | awk 'NR > 1 { printf "%.2f ", $1 - p } { p = $1 }')
diag "gaps between the starts of the first four lookups: $L s"
ok $(echo "$L" | awk '{ exit !($1 >= 2.6 && $1 <= 3.8 && $2 >= 3.4 && $2 <= 4.9 && $3 >= 5 && $3 <= 7.3) }'; echo $?) \
	"the DNS server saw the lookup retried after a growing back-off (2 s timeout + 1, 2, 4 s)"
is "$(grep -o "cannot resolve $NAME: temporary failure; reconnecting in about [0-9]* ms" "$TMP/e.log" | head -3 | awk '{ printf "%s ", $(NF - 1) }')" \
	"1000 2000 4000 " "  each failure logged once, with the back-off"
is "$(python3 "$HERE/udpecho.py" 127.0.0.1 $EPORT after-lookups 2)" after-lookups "  echod still echoes"

# A graceful stop while a lookup waits on the dead server: within the
# 1000 ms deadline, status 0 (not 124: no loop missed the deadline).
n=$(lookups | wc -l)
wait_for "a fresh lookup" 20 nlookups_gt $n
has_thread $EPID resolve
ok $? "a lookup is in flight (the resolve thread exists)"
t0=$(date +%s%N)
kill -TERM $EPID
wait $EPID
st=$?
ms=$((($(date +%s%N) - t0) / 1000000))
is "$st" 0 "SIGTERM during the lookup: graceful stop with status 0"
# loop_main's own account of the stop (the process exit after it, with the
# sanitizers' leak check, is not the stop)
us=$(grep -o 'termination: [0-9]* loop(s) joined in [0-9]* us' "$TMP/e.log" | awk '{ print $(NF - 1) }')
diag "SIGTERM to exit: $ms ms; $(grep -o 'termination: .*' "$TMP/e.log")"
ok $([ -n "$us" ] && [ "$us" -lt 1000000 ]; echo $?) \
	"  every loop joined in $((${us:-0} / 1000)) ms, within the 1000 ms deadline (nothing waits for the helper)"
done_testing
