# Helpers for system tests that run lull daemons (source after tap.sh).

# all_asleep PID: every thread of PID is blocked (state S) - the real
# condition to wait for before counting wakeups.
all_asleep() {
	local st
	for st in /proc/"$1"/task/*/stat; do
		# field 3 after the ")" that closes comm
		[ "$(sed 's/.*) //' "$st" 2>/dev/null | cut -d' ' -f1)" = S ] || return 1
	done
}

# wakeups_total FILE: the WAKEUPS column of the total line of a wakeups report
wakeups_total() { awk '$1 == "total" { print $3 }' "$1"; }
# wakeups_busy_threads FILE: "name=wakeups" for each thread that woke up
wakeups_busy_threads() { awk '$1 ~ /^[0-9]+$/ && $3 != 0 { printf "%s=%s ", $2, $3 }' "$1"; }

# log_has FILE PATTERN: grep -E in a log file
log_has() { grep -qE "$2" "$1" 2>/dev/null; }

# exited PID: the process is gone (reaped or zombie of someone else)
exited() { ! kill -0 "$1" 2>/dev/null; }
