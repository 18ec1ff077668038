# tests/sys/tap.sh: TAP helpers for the system test scripts (bash).
# Source it; it sets $BIN (release or SAN build binaries), $TBIN (test
# helper programs), a private $TMP removed at exit, and these helpers:
#   plan N | ok COND_STATUS "desc" | is GOT WANT "desc" | diag MSG | skip_all MSG
#   wait_for "desc" SECONDS CMD...   poll a condition (not a timing claim: the
#                                    bound only stops a broken test from hanging;
#                                    the condition's stderr is discarded)
set -u
LULL_BUILD=${LULL_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
BIN=$LULL_BUILD/bin
TBIN=$LULL_BUILD/tests/sys
TMP=$(mktemp -d /tmp/lull-test.XXXXXX)
_tap_n=0
_tap_fail=0
_tap_pids=()
_tap_cleanup() {
	local p
	for p in "${_tap_pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap _tap_cleanup EXIT
plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
diag() { echo "# $*" | sed '2,$s/^/# /'; }
ok() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = 0 ]; then echo "ok $_tap_n - $2"
	else echo "not ok $_tap_n - $2"; diag "failed test $_tap_n: $2" >&2; _tap_fail=$((_tap_fail + 1)); fi
}
is() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = "$2" ]; then echo "ok $_tap_n - $3"
	else echo "not ok $_tap_n - $3"; diag "failed test $_tap_n: $3: got '$1', want '$2'" >&2; _tap_fail=$((_tap_fail + 1)); fi
}
# register a background pid for kill at exit
track() { _tap_pids+=("$1"); }
# The condition's stderr is discarded: while it polls, a file it reads may
# not exist yet (a background job opens its output only once it runs), and
# "grep: ...: No such file or directory" in the test output is noise.
wait_for() {
	local desc=$1 secs=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" 2> /dev/null; do
		if [ $SECONDS -ge $end ]; then diag "timed out waiting for: $desc ($*)"; return 1; fi
		sleep 0.02
	done
}
# a free UDP/TCP port on loopback (best effort)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
done_testing() { [ "$_tap_fail" = 0 ]; exit $?; }
