#!/usr/bin/env bash
# bench/reactor.sh: lull/reactor.h at server scale (bench/reactor.c):
# 10 000 watched fds and 100 000 pending timers; timer operations against
# one timerfd per timer, dispatch against a bare epoll_wait loop, and the
# wakeups of the idle reactor thread until its first deadline.
# Results: reactor.idle_wakeups, reactor.dispatch_ratio, reactor.timer_ratio.
. "$(dirname "$0")/lib.sh"

echo
echo "== Reactor"
echo
if ! need reactor; then
	echo "reactor: $why"
	exit 0
fi
outp=$("$out/reactor") || { echo "reactor: failed (status $?)"; echo "$outp"; exit 0; }
grep -v '^results ' <<<"$outp"
line=$(grep '^results ' <<<"$outp")
result reactor.idle_wakeups "$(field idle_wakeups "$line")"
result reactor.dispatch_ratio "$(field dispatch_ratio "$line")" "$(field dispatch_ratio "$line")x"
result reactor.timer_ratio "$(field timer_set_ratio "$line")" "$(field timer_set_ratio "$line")x"
exit 0
