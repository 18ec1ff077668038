#!/usr/bin/env bash
# tests/sys/emptyroot.t: the release binaries in an empty root. The root
# holds only xmond, echod and xmonctl, an /etc/hosts naming xmond.test, a
# state directory, and /dev/null and /dev/urandom (bind-mounted from the
# host): no libc, no shell, no /proc, no /etc/resolv.conf. The test runs in
# its own user, mount and network namespaces (unshare -rmn, loopback only),
# and each program is started by chroot(8) into the root. xmond starts; an
# echod logs on to it by host name (--xmon xmond.test:5004); a malformed
# datagram (one with a NUL byte) makes echod raise an alert; xmonctl in the
# root reads it back through the API, by host name too, bins it, and raises
# one of its own through the protocol.
#
# Nothing here needs /proc: the binaries are static (no loader), names come
# from /etc/hosts through musl's resolver, and the crash reporter, the log
# and the agent read no /proc file at start. The test checks the logs for
# complaints to keep it so. Only a crash would: the reporter then lists the
# other threads from /proc/self/task and finds its binary through
# /proc/self/exe, so a root meant for production keeps /proc/self (the
# units do: ProcSubset=pid).
if [ -z "${EMPTYROOT_INNER:-}" ]; then
	. "$(dirname "$0")/tap.sh"
	[ "${LULL_SAN:-0}" = 1 ] && skip_all "the empty root holds static release binaries; SAN=1 builds are dynamic"
	for b in xmond echod xmonctl; do
		[ -x "$BIN/$b" ] || { echo "Bail out! $BIN/$b is not built"; exit 1; }
	done
	for c in unshare chroot ip mount; do
		command -v $c > /dev/null || skip_all "$c is needed (util-linux, coreutils, iproute2)"
	done
	why=$(unshare -rmn true 2>&1) || skip_all "unprivileged user, mount and network namespaces are unavailable here: $why"
	trap - EXIT
	rm -rf "$TMP"
	EMPTYROOT_INNER=1 exec unshare -rmn "$BASH" "$0" "$@"
fi

. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"
plan 15

ip link set lo up || { echo "Bail out! cannot bring up lo in the new network namespace"; exit 1; }
R=$TMP/root
mkdir -p "$R/bin" "$R/etc" "$R/dev" "$R/var/lib/xmond"
cp "$BIN/xmond" "$BIN/echod" "$BIN/xmonctl" "$R/bin/"
printf '127.0.0.1\tlocalhost\n127.0.0.1\txmond.test\n' > "$R/etc/hosts"
for d in null urandom; do
	: > "$R/dev/$d"
	mount --bind "/dev/$d" "$R/dev/$d" || { echo "Bail out! cannot bind-mount /dev/$d"; exit 1; }
done
unbind() { umount "$R/dev/null" "$R/dev/urandom" 2> /dev/null; }
trap 'unbind; _tap_cleanup' EXIT
is "$(cd "$R" && find . | LC_ALL=C sort | tr '\n' ' ')" \
	". ./bin ./bin/echod ./bin/xmonctl ./bin/xmond ./dev ./dev/null ./dev/urandom ./etc ./etc/hosts ./var ./var/lib ./var/lib/xmond " \
	"the root holds the three binaries, /etc/hosts, /dev/null, /dev/urandom and the state directory, nothing else"
ok $(file -L "$R/bin/xmond" "$R/bin/echod" "$R/bin/xmonctl" | grep -vc 'statically linked' | grep -qx 0; echo $?) \
	"  and the binaries are static"

# in ROOT: a program of the empty root, run by chroot
in_root() { chroot "$R" "$@"; }

# chroot itself in the background (not the in_root function, whose
# subshell would be what $! names): the pid is the daemon's
chroot "$R" /bin/xmond --listen 0.0.0.0:5004 --http 127.0.0.1:8080 --state-dir /var/lib/xmond \
	--log /var/lib/xmond/xmond.log --down-grace 2s > /dev/null 2> "$TMP/xmond.err" &
XPID=$!
track $XPID
disown $XPID
wait_for "xmond ready" 20 log_has "$R/var/lib/xmond/xmond.log" "xmond ready"
ok $? "xmond starts in the empty root (READY line in its log)"
[ -s "$TMP/xmond.err" ] && diag "xmond stderr: $(cat "$TMP/xmond.err")"

chroot "$R" /bin/echod --listen 127.0.0.1:7777 --loops 2 --xmon xmond.test:5004 --app-type emptyroot.t \
	--instance echod@root --log /var/lib/xmond/echod.log > /dev/null 2> "$TMP/echod.err" &
EPID=$!
track $EPID
disown $EPID
ctl() { in_root /bin/xmonctl --api http://xmond.test:8080 --timeout 10 "$@"; }
up() { ctl instances | awk '$2 == "echod@root" && $3 == "up"' | grep -q .; }
wait_for "echod logged on" 20 up
ok $? "echod in the root logs on to xmond by host name (xmond.test:5004): up in xmonctl instances"
ok $(grep -q 'xmond\.test' "$R/var/lib/xmond/echod.log"; echo $?) "  its log names the server by its host name"
is "$(grep -ciE 'warn|error|crash reports disabled' "$R/var/lib/xmond/echod.log")" 0 "  and holds no warning or error (no /proc needed)"

# a malformed datagram: it holds a NUL byte
printf 'bad\0datagram' > /dev/udp/127.0.0.1/7777
has_alert() { ctl alerts --instance echod@root > "$TMP/alerts" && grep -q ' yes ' "$TMP/alerts"; }
wait_for "the malformed-datagram alert" 20 has_alert
ok $? "a datagram with a NUL byte raises a binnable alert, read back with xmonctl in the root"
diag "$(cat "$TMP/alerts")"
KEY=$(awk 'NR == 2 {print $1}' "$TMP/alerts")
ctl --json show "$KEY" > "$TMP/show.json"
is "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["app_type"], j["instance"], j["binnable"], j["source"])' "$TMP/show.json")" \
	"emptyroot.t echod@root True client" "  xmonctl show: app type, instance, binnable, raised by the client"
ok $(grep -qi 'malformed' "$TMP/show.json"; echo $?) "  its message says the datagram was malformed"
ctl bin "$KEY" > "$TMP/bin.out"
is "$?" 0 "xmonctl bin in the root: $(cat "$TMP/bin.out")"

id=$(in_root /bin/xmonctl --server xmond.test:5004 --app-type emptyroot.t --instance cron@root raise "from the empty root")
is "$(ctl alerts --instance cron@root | awk 'NR == 2 {print $5}')" "$id" "xmonctl raise by host name from the root: the alert is open"

# nothing in the root asked for more than it holds
is "$(grep -ciE 'warn|error' "$R/var/lib/xmond/xmond.log")" 0 "xmond's log holds no warning or error"
kill -TERM $EPID $XPID
wait_for "both stopped" 20 eval "exited $EPID && exited $XPID"
ok $? "both stop on SIGTERM"
is "$(ps -eo args= | grep -cE '^/bin/(xmond|echod) .*/var/lib/xmond')" 0 "  no daemon of the root left running"
ok $(test -s "$R/var/lib/xmond/lock" && ls "$R/var/lib/xmond" | grep -q '^journal\.'; echo $?) "the state directory holds the lock and a journal"
done_testing
