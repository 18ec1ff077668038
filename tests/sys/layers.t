#!/usr/bin/env bash
# tests/sys/layers.t: the module layering holds in the source (the include
# graph, scripts/check-layers) and in what programs link: a program that
# only sends READY=1 links notify.o and nothing else of lull (no loop, no
# log, no threads), and xmonctl links neither the loops nor the agent.
. "$(dirname "$0")/tap.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=$TBIN/notifyonly
[ -x "$N" ] || { echo "Bail out! $N is not built"; exit 1; }
command -v nm > /dev/null || skip_all "nm (binutils) is needed"
command -v python3 > /dev/null || skip_all "python3 runs scripts/check-layers"
plan 5

"$ROOT/scripts/check-layers" 2> "$TMP/layers.err"
is "$? $(wc -l < "$TMP/layers.err" | tr -d ' ')" "0 0" "scripts/check-layers: no include sideways or up, no circle"
[ -s "$TMP/layers.err" ] && diag "$(cat "$TMP/layers.err")"

# defined functions of lull's modules in a binary (.symtab is kept)
lull_syms() { nm "$1" | awk '$2 ~ /^[TtWw]$/ { print $3 }' |
	grep -E '^(notify|log|loop|crash|xmon|reactor|resolve|prog|lull|time)_' | sort; }
got=$(lull_syms "$N" | tr '\n' ' ')
is "$(lull_syms "$N" | grep -v '^notify_' | tr '\n' ' ')" "" "a READY=1-only program links only notify_* of lull (got: $got)"
ok $(nm "$N" | grep -qE ' [TtWw] pthread_create$'; [ $? = 1 ]; echo $?) "  and no pthread_create (no threads)"
ok $(nm "$N" | grep -qE ' [TtWw] notify_ready$'; echo $?) "  but notify_ready itself"
X=$BIN/xmonctl
is "$(lull_syms "$X" | grep -E '^(loop|log|xmon|reactor|crash)_' | grep -vE '^xmon_(enc|parser|reader|str)' | tr '\n' ' ')" "" \
	"xmonctl links the wire codec and the resolver, not the loops, the log or the agent"

done_testing
