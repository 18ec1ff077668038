# bench/lib.sh: helpers shared by the benchmark scripts bench/*.sh (bash),
# as tests/sys/tap.sh is for the system tests. Source it first; it sets
#   $B      the build directory (LULL_BUILD; `make bench` sets it)
#   $out    $B/bench, where the Makefile built the programs of bench/
#   $here   bench/;  $root the source tree;  $tmp a private directory
#   LOOPS   idle loop threads per daemon in the idle, termination and
#           crash benchmarks (8)
# and removes $tmp, the scratch directories and a daemon left running at
# exit. Helpers:
#   need PROG...              0 if every PROG is built; else 1 with $why set
#                             to the row's text ("skipped: PKG not installed")
#   row CELL... / sep NCOLS   a markdown table row / its separator line
#   calc '"%.2f", A / B'      awk arithmetic;  field KEY LINE: KEY=value lookup
#   median / spread           of the numbers on stdin (spread: (max-min)/median %)
#   all_yes WORDS             yes, no or mixed;   human RATE: 1.23M / 456k
#   result KEY VALUE [TEXT]   record a measurement for the goals (bench/goals)
#   fstype DIR; shm_scratch / disk_scratch: set $shm_dir / $disk_dir to a new
#                             directory on tmpfs / on a disk file system
#   start_ready CMD... / stop_ready: a daemon started through bench/ready,
#                             up (READY=1 received) with its pid in $daemon
# A script runs alone too: `LULL_BUILD=build bench/log.sh`.
set -u -o pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
B=${LULL_BUILD:-}
if [[ -z $B ]]; then
	echo "$(basename "$0"): set LULL_BUILD to the build directory (make bench does)" >&2
	exit 100
fi
B=$(cd "$B" && pwd) || exit 111
out=$B/bench
LOOPS=8
ECHOD=$B/bin/echod

tmp=$(mktemp -d /tmp/lull-bench.XXXXXX) || exit 111
shm_dir='' disk_dir='' bg=''
_bench_cleanup() {
	[[ -n $bg ]] && kill -KILL "$bg" 2>/dev/null
	rm -rf "$tmp" ${shm_dir:+"$shm_dir"} ${disk_dir:+"$disk_dir"}
}
trap _bench_cleanup EXIT
trap 'exit 130' INT TERM

# The Debian package (bench/deps) that PROG needs and that is missing.
_missing_pkg() { # PROG
	local deb check users u
	while read -r deb check users; do
		[[ -z $deb || $deb == \#* ]] && continue
		for u in $users; do
			[[ $u == "$1" ]] || continue
			case $check in
			cmd:*) command -v "${check#cmd:}" >/dev/null 2>&1 ;;
			pc:*) pkg-config --exists "${check#pc:}" 2>/dev/null ;;
			esac || { echo "$deb"; return; }
		done
	done <"$here/deps"
}

why=''
need() { # PROG...
	local p pkg
	for p in "$@"; do
		[[ -x $out/$p || ($p == echod && -x $ECHOD) ]] && continue
		pkg=$(_missing_pkg "$p")
		if [[ -n $pkg ]]; then
			why="skipped: $pkg not installed"
		elif [[ $p == echod ]]; then
			why="skipped: $ECHOD missing (run make)"
		else
			why="skipped: $out/$p not built (make bench-progs)"
		fi
		return 1
	done
	return 0
}

row() { # CELLS...
	local s="|" c
	for c in "$@"; do s+=" $c |"; done
	echo "$s"
}
sep() { # NCOLS
	local s="|" i
	for ((i = 0; i < $1; i++)); do s+="---|"; done
	echo "$s"
}
calc() { awk "BEGIN { printf $1 }"; }
field() { # KEY LINE -> value of KEY=value
	local kv
	for kv in $2; do [[ $kv == "$1="* ]] && { echo "${kv#*=}"; return; }; done
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
spread() {
	tr ' ' '\n' | grep . | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", (v[NR] - v[1]) / v[int((NR + 1) / 2)] * 100 }'
}
all_yes() { # WORDS -> yes / no / mixed
	local w y=0 n=0
	for w in $1; do if [[ $w == yes ]]; then ((y++)); else ((n++)); fi; done
	if ((n == 0 && y > 0)); then echo yes; elif ((y == 0)); then echo no; else echo mixed; fi
}
human() { awk -v r="$1" 'BEGIN { if (r >= 1e6) printf "%.2fM", r / 1e6; else printf "%.0fk", r / 1e3 }'; }

# Measurements for the goal check: bench/run sets BENCH_RESULTS to a file
# and compares its lines with bench/goals. TEXT is what the goal line
# shows (the value with its unit), VALUE what is compared.
result() { # KEY VALUE [TEXT]
	[[ -n ${BENCH_RESULTS:-} && -n $2 ]] && printf '%s\t%s\t%s\n' "$1" "$2" "${3:-$2}" >>"$BENCH_RESULTS"
	return 0
}

fstype() { df --output=fstype "$1" 2>/dev/null | tail -n 1; }
shm_scratch() {
	[[ -n $shm_dir ]] && return 0
	[[ $(fstype /dev/shm) == tmpfs ]] && shm_dir=$(mktemp -d /dev/shm/lull-bench.XXXXXX)
}
# /var/tmp, or the build directory if /var/tmp is not on a disk.
disk_scratch() {
	local d t
	[[ -n $disk_dir ]] && return 0
	for d in /var/tmp "$B"; do
		t=$(fstype "$d")
		if [[ -n $t && $t != tmpfs && $t != ramfs ]]; then
			disk_dir=$(mktemp -d "$d/lull-bench.XXXXXX") && return 0
		fi
	done
	return 1
}

start_ready() { # CMD...
	local pidfile=$tmp/pid i
	rm -f "$pidfile"
	"$out/ready" "$pidfile" "$@" 2>"$tmp/daemon.err" &
	bg=$!
	for ((i = 0; i < 200; i++)); do
		[[ -s $pidfile ]] && break
		kill -0 "$bg" 2>/dev/null || break
		sleep 0.05
	done
	if [[ ! -s $pidfile ]]; then
		wait "$bg" 2>/dev/null
		bg=''
		sed 's/^/   /' "$tmp/daemon.err"
		return 1
	fi
	daemon=$(<"$pidfile")
}
stop_ready() {
	kill -TERM "$daemon" 2>/dev/null
	wait "$bg" 2>/dev/null
	bg=
}
