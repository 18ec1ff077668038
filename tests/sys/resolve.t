#!/usr/bin/env bash
# tests/sys/resolve.t: name resolution in the static binaries (lull/resolve.h
# over musl's resolver, no NSS), from /etc/hosts and from DNS, IPv4 and IPv6,
# every address tried in turn, failures as one line (xmonctl) or as retries
# (the agent in echod), and resolution kept off the raising threads.
#
# Runs in a private mount namespace (unshare -m, so root) where a test
# /etc/hosts and an /etc/resolv.conf naming a small DNS responder on
# 127.0.0.1:53 (written below: A/AAAA for the names of a file it re-reads
# on every query, NXDOMAIN for the rest, silence for names marked "drop")
# are bind-mounted over the real ones.
if [ -z "${LULL_IN_NS:-}" ] && [ "$(id -u)" = 0 ] && unshare -m true 2> /dev/null; then
	LULL_IN_NS=1 exec unshare -m "$0" "$@"
fi
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"
[ -n "${LULL_IN_NS:-}" ] || skip_all "needs root and unshare -m to bind-mount /etc/hosts and /etc/resolv.conf"
command -v python3 > /dev/null || skip_all "python3 is needed for the fake servers"

HERE=$(cd "$(dirname "$0")" && pwd)
X=$BIN/xmonctl
XR=$TBIN/xmonraise
for b in "$X" "$BIN/echod" "$XR"; do [ -x "$b" ] || { echo "Bail out! $b is not built"; exit 1; }; done
plan 22

fake() {   # fake NAME ARGS...: sets FPORT, FPID; events in $TMP/NAME.jsonl
	local name=$1; shift
	rm -f "$TMP/$name.port"
	python3 "$HERE/fakexmon.py" --log "$TMP/$name.jsonl" --port-file "$TMP/$name.port" "$@" 2>> "$TMP/$name.err" &
	FPID=$!
	track $FPID
	disown $FPID
	wait_for "fake server $name listening" 10 test -s "$TMP/$name.port"
	FPORT=$(cat "$TMP/$name.port")
}
evq() { python3 "$HERE/fakexmon.py" query "$TMP/$1.jsonl" "$2" ${3:+"$3"}; }
evn() { evq "$1" "$2" | wc -l; }
evhas() { [ "$(evn "$1" "$2")" -gt 0 ]; }
lines() { wc -l < "$1" | tr -d ' '; }
# ctl_raise NAME SERVER MESSAGE: xmonctl raise; sets ST, stderr in $TMP/NAME.err
ctl_raise() {
	timeout 20 "$X" --server "$2" --app-type resolve --timeout 5 raise "$3" > "$TMP/$1.out" 2> "$TMP/$1.err"
	ST=$?
}
# reached NAME FAKE MESSAGE: xmonctl's raise arrived at fake FAKE
reached() { evhas "$1" "e.name == 'create' and e.message == '$2'"; }

V6=0
python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2> /dev/null && V6=1

# ---- the DNS responder and the bind mounts --------------------------------------------
cat > "$TMP/dns.py" << 'EOF'
import socket, struct, sys
zone, log, status = sys.argv[1:4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(("127.0.0.1", 53))
except OSError as e:
    open(status, "w").write("busy %s\n" % e)
    sys.exit(0)
open(status, "w").write("listening\n")
TYPES = {1: "A", 28: "AAAA"}
while True:
    q, peer = s.recvfrom(512)
    qid, flags = struct.unpack(">HH", q[:4])
    pos, labels = 12, []
    while q[pos]:
        labels.append(q[pos + 1:pos + 1 + q[pos]].decode())
        pos += 1 + q[pos]
    qtype = struct.unpack(">H", q[pos + 1:pos + 3])[0]
    question = q[12:pos + 5]
    name = ".".join(labels).lower()
    records = [l.split() for l in open(zone) if l.split() and l.split()[0] == name]
    with open(log, "a") as f:
        f.write("%s %s\n" % (name, TYPES.get(qtype, qtype)))
    if any(r[1] == "drop" for r in records):
        continue
    answers = []
    for r in records:
        if r[1] == TYPES.get(qtype):
            rdata = socket.inet_pton(socket.AF_INET if r[1] == "A" else socket.AF_INET6, r[2])
            answers.append(struct.pack(">HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata)
    rcode = 0 if records else 3   # a known name without this type: NOERROR, no answer
    hdr = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
    s.sendto(hdr + question + b"".join(answers), peer)
EOF
cat > "$TMP/zone" << 'EOF'
xmon-dns.lull.test A 127.0.0.1
xmon-dnsmulti.lull.test A 127.0.0.2
xmon-dnsmulti.lull.test A 127.0.0.1
xmon-silent.lull.test drop
EOF
python3 "$TMP/dns.py" "$TMP/zone" "$TMP/dns.log" "$TMP/dns.status" 2> "$TMP/dns.err" &
DNS=$!
track $DNS
disown $DNS
wait_for "DNS responder" 10 test -s "$TMP/dns.status"
DNS_OK=0
grep -q listening "$TMP/dns.status" && DNS_OK=1
[ $DNS_OK = 1 ] || diag "127.0.0.1:53 is taken ($(cat "$TMP/dns.status")): resolv.conf cannot name another port, the DNS checks are skipped"

{
	echo "127.0.0.1 localhost"
	echo "127.0.0.1 xmon-hosts.lull.test"
	echo "127.0.0.2 xmon-multi.lull.test"
	echo "127.0.0.1 xmon-multi.lull.test"
	[ $V6 = 1 ] && echo "::1 xmon-v6.lull.test"
} > "$TMP/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:1\n' > "$TMP/resolv.conf"
mount --bind "$TMP/hosts" /etc/hosts && mount --bind "$TMP/resolv.conf" /etc/resolv.conf
ok $? "private mount namespace: test /etc/hosts and /etc/resolv.conf bind-mounted"

if [ "${LULL_SAN:-0}" = 1 ] || file "$X" | grep -q 'dynamically linked'; then
	ok 0 "# SKIP sanitizer build is dynamic (glibc resolver) by design"
else
	file "$X" "$BIN/echod" | grep -c 'statically linked' | grep -qx 2
	ok $? "xmonctl and echod are static binaries: no NSS to load"
fi

# ---- xmonctl: one name from each source --------------------------------------------------
fake v4
P4=$FPORT
ctl_raise hosts xmon-hosts.lull.test:$P4 via-hosts
ok $([ $ST = 0 ] && reached v4 via-hosts; echo $?) "a name from /etc/hosts: xmonctl reaches the server (status $ST $(head -1 "$TMP/hosts.err"))"
ctl_raise multi xmon-multi.lull.test:$P4 via-multi
ok $([ $ST = 0 ] && reached v4 via-multi; echo $?) "/etc/hosts 127.0.0.2 (refused) then 127.0.0.1: every address tried in turn (status $ST)"
if [ $V6 = 1 ]; then
	fake v6 --host ::1
	ctl_raise v6 xmon-v6.lull.test:$FPORT via-v6
	ok $([ $ST = 0 ] && reached v6 via-v6; echo $?) "an /etc/hosts name for ::1: xmonctl reaches a server on IPv6 (status $ST $(head -1 "$TMP/v6.err"))"
	is "$(evq v6 'e.ev == "accept"' 'e.peer' | head -1)" "::1" "  the connection came over IPv6"
else
	ok 0 "# SKIP no IPv6 loopback"
	ok 0 "# SKIP no IPv6 loopback"
fi
ctl_raise nowhere xmon-nowhere.lull.test:$P4 nowhere
is "$ST $(lines "$TMP/nowhere.err")" "100 1" "a name no source knows: xmonctl status 100, one line: $(head -1 "$TMP/nowhere.err")"

if [ $DNS_OK = 1 ]; then
	ctl_raise dns xmon-dns.lull.test:$P4 via-dns
	ok $([ $ST = 0 ] && reached v4 via-dns; echo $?) "a name only the DNS responder knows: xmonctl reaches the server (status $ST $(head -1 "$TMP/dns.err"))"
	ok $(grep -q '^xmon-dns.lull.test A$' "$TMP/dns.log"; echo $?) "  the responder was asked for its A record"
	ctl_raise dnsmulti xmon-dnsmulti.lull.test:$P4 via-dnsmulti
	ok $([ $ST = 0 ] && reached v4 via-dnsmulti; echo $?) "DNS answers 127.0.0.2 (refused) and 127.0.0.1: xmonctl gets through (status $ST)"
	t0=$(date +%s%N)
	ctl_raise silent xmon-silent.lull.test:$P4 silent
	ms=$((($(date +%s%N) - t0) / 1000000))
	is "$ST $(lines "$TMP/silent.err")" "111 1" "a DNS server that never answers: status 111 (temporary), one line after $ms ms: $(head -1 "$TMP/silent.err")"
else
	for i in 1 2 3 4; do ok 0 "# SKIP 127.0.0.1:53 is taken"; done
fi

# ---- the agent (echod) -------------------------------------------------------------------
# agent NAME SERVER: echod whose agent uses SERVER; sets EPID, EPORT
agent() {
	EPORT=$(free_port)
	"$BIN/echod" --listen 127.0.0.1:$EPORT --loops 1 --log "$TMP/$1.log" --xmon "$2" --app-type resolve --instance "$1" \
		2> "$TMP/$1.stderr" &
	EPID=$!
	track $EPID
	disown $EPID
}
logged_on() { evhas "$1" "e.name == 'logon' and e.app_instance == '$2'"; }
fake agents
PA=$FPORT
agent a-hosts xmon-hosts.lull.test:$PA
wait_for "agent via /etc/hosts" 20 logged_on agents a-hosts
ok $? "echod's agent logs on by an /etc/hosts name"
grep -h 'xmon: connected' "$TMP/a-hosts.log" | head -1 | sed 's/^/# /'
agent a-multi xmon-multi.lull.test:$PA
wait_for "agent via a two-address name" 20 logged_on agents a-multi
ok $? "echod's agent logs on through the second address of a /etc/hosts name"
if grep -q 'connect to 127.0.0.2' "$TMP/a-multi.log"; then
	ok 0 "  after 127.0.0.2 was refused (addresses tried in turn)"
else
	ok 0 "# SKIP the resolver put 127.0.0.1 first: $(grep -h 'xmon: connected' "$TMP/a-multi.log" | head -1)"
fi
if [ $DNS_OK = 1 ]; then
	agent a-dns xmon-dns.lull.test:$PA
	wait_for "agent via DNS" 20 logged_on agents a-dns
	ok $? "echod's agent logs on by a name only DNS knows"
else
	ok 0 "# SKIP 127.0.0.1:53 is taken"
fi

# A name nobody knows: the agent retries with back-off, echod serves; when
# the name appears (DNS) or the server becomes reachable, it logs on.
agent a-late xmon-late.lull.test:$PA
LATE=$EPID LATE_PORT=$EPORT
two_fails() { [ "$(cat "$TMP/a-late.log" 2> /dev/null | grep -c 'cannot resolve xmon-late.lull.test')" -ge 2 ]; }
wait_for "two failed resolutions" 20 two_fails
ok $? "an unknown name: the agent logs the failure and retries ($(grep -c 'cannot resolve' "$TMP/a-late.log") tries so far)"
diag "$(grep -m1 'cannot resolve' "$TMP/a-late.log")"
is "$(python3 "$HERE/udpecho.py" 127.0.0.1 $LATE_PORT late 2)" late "  echod still echoes"
ok $(kill -0 $LATE && ! grep -qi 'crash\|fatal' "$TMP/a-late.stderr" "$TMP/a-late.log"; echo $?) "  and has not crashed"
wait_for "a-late asleep" 10 all_asleep $LATE
ok $? "  every thread asleep between tries"
if [ $DNS_OK = 1 ]; then
	echo "xmon-late.lull.test A 127.0.0.1" >> "$TMP/zone"
	wait_for "agent once the name exists" 40 logged_on agents a-late
	ok $? "the name appears in DNS: the agent's next try logs on"
else
	ok 0 "# SKIP 127.0.0.1:53 is taken"
fi

# Resolution runs in the xmon loop, never in the raising thread: a raise
# returns while the loop waits on a DNS server that does not answer.
if [ $DNS_OK = 1 ]; then
	asked() { [ "$(grep -c '^xmon-silent.lull.test' "$TMP/dns.log")" -gt "$1" ]; }
	n=$(grep -c '^xmon-silent.lull.test' "$TMP/dns.log")
	mkfifo "$TMP/xr.in"
	exec {XIN}<> "$TMP/xr.in"
	"$XR" --server xmon-silent.lull.test:$PA --app-type resolve --log "$TMP/xr.log" < "$TMP/xr.in" > "$TMP/xr.out" 2>&1 &
	XPID=$!
	track $XPID
	disown $XPID
	wait_for "the agent's query" 10 asked $n
	echo "raise 0 while resolving" >&$XIN
	wait_for "raise answered" 10 grep -q '^raised' "$TMP/xr.out"
	ok $(! grep -q 'cannot resolve xmon-silent' "$TMP/xr.log"; echo $?) \
		"a raise returns ($(grep '^raised' "$TMP/xr.out")) while the xmon loop still waits for the DNS answer"
	wait_for "temporary failure logged" 10 grep -q 'cannot resolve xmon-silent.lull.test: temporary failure' "$TMP/xr.log"
	ok $? "  the loop then logs a temporary failure and retries"
	exec {XIN}>&-
else
	ok 0 "# SKIP 127.0.0.1:53 is taken"
	ok 0 "# SKIP 127.0.0.1:53 is taken"
fi
done_testing
