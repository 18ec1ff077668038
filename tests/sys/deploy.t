#!/usr/bin/env bash
# tests/sys/deploy.t: what `make install` gives a site. The tree installed
# into a scratch DESTDIR with PREFIX=/usr: binaries, units with every @VAR@
# substituted, man pages, the examples; the installed xmond.conf is one
# xmond accepts; every option each program's --help names is in its man
# page; then scripts/check-dist (systemd-analyze verify and security on the
# installed units, mandoc -T lint on the man pages), when systemd-analyze
# and mandoc are there.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib_daemon.sh"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
[ "${LULL_SAN:-0}" = 1 ] && skip_all "make install installs the release build; run without SAN=1"
command -v make > /dev/null || skip_all "make is needed"
plan 17

D=$TMP/dest
make -C "$TOP" -s --no-print-directory install O="$LULL_BUILD" DESTDIR="$D" PREFIX=/usr > "$TMP/install.log" 2>&1
ok $? "make install DESTDIR=... PREFIX=/usr"
for f in usr/bin/xmond usr/bin/xmonctl usr/bin/echod usr/bin/wakeups; do [ -x "$D/$f" ] || echo "$f"; done > "$TMP/missing"
for f in usr/lib/systemd/system/xmond.service usr/lib/systemd/system/echod@.service \
	usr/share/man/man8/xmond.8 usr/share/man/man8/echod.8 usr/share/man/man1/xmonctl.1 usr/share/man/man1/wakeups.1 \
	usr/share/lull/alertmanager.yml usr/share/lull/xmond.conf etc/xmond/xmond.conf usr/lib/liblull.a usr/lib/pkgconfig/lull.pc; do
	[ -f "$D/$f" ] || echo "$f"
done >> "$TMP/missing"
is "$(cat "$TMP/missing")" "" "binaries, units, man pages, examples, xmond.conf, library in place"
is "$(grep -l '@[A-Z]*@' "$D"/usr/lib/systemd/system/* | wc -l)" 0 "no @VAR@ left in the installed units"
is "$(grep -h '^ExecStart=' "$D/usr/lib/systemd/system/xmond.service" | cut -d' ' -f1)" "ExecStart=/usr/bin/xmond" "xmond.service runs /usr/bin/xmond"
is "$(grep -h '^EnvironmentFile=' "$D/usr/lib/systemd/system/echod@.service" | tr '\n' ' ')" \
	"EnvironmentFile=-/etc/lull/xmon.env EnvironmentFile=-/etc/lull/echod@%i.env " "echod@.service reads /etc/lull/xmon.env, then its instance's file"
# a site's xmond.conf is never overwritten
echo "# the site's" > "$D/etc/xmond/xmond.conf"
make -C "$TOP" -s --no-print-directory install O="$LULL_BUILD" DESTDIR="$D" PREFIX=/usr > /dev/null 2>&1
is "$(cat "$D/etc/xmond/xmond.conf")" "# the site's" "a second make install keeps the site's xmond.conf"

# the example configuration is one xmond takes, commented lines uncommented too
cfg_ok() {
	: > "$TMP/c.log"
	"$BIN/xmond" --config "$1" --listen 127.0.0.1:0 --http 127.0.0.1:0 --state-dir "$TMP/c.state" --log "$TMP/c.log" 2> "$TMP/c.err" &
	local p=$!
	wait_for "xmond ready" 10 log_has "$TMP/c.log" "xmond ready"
	local r=$?
	kill $p 2> /dev/null
	wait $p
	return $r
}
cfg_ok "$D/usr/share/lull/xmond.conf"
ok $? "xmond starts with the example xmond.conf"
sed -e 's/^#\([a-z-]* = \)/\1/' "$D/usr/share/lull/xmond.conf" | grep -vE '^(http-token|alertmanager|listen|http) = ' > "$TMP/all.conf"
cfg_ok "$TMP/all.conf"
ok $? "  and with its commented keys set (every key and value in it is valid)"

# every option of every program's --help is in its man page
for p in xmond:8 xmonctl:1 echod:8; do
	n=${p%:*} s=${p#*:}
	missing=$("$BIN/$n" --help 2>&1 | grep -oE -- '--[a-z][a-z-]+' | sort -u | while read -r o; do
		grep -q -- "Fl -${o#--}\b" "$TOP/dist/man/$n.$s" || echo "$o"; done | tr '\n' ' ')
	is "$missing" "" "$n($s) documents every option of $n --help"
done
grep -q 'Fl h , Fl -help' "$TOP/dist/man/wakeups.1"
ok $? "wakeups(1) documents -h, --help"

if ! command -v systemd-analyze > /dev/null || ! command -v mandoc > /dev/null; then
	for i in 1 2 3 4 5; do ok 0 "# SKIP systemd-analyze or mandoc not installed (.ci/run installs systemd and mandoc)"; done
	done_testing
fi
"$TOP/scripts/check-dist" "$LULL_BUILD" > "$TMP/dist.out" 2>&1
st=$?
diag "$(cat "$TMP/dist.out")"
ok $(grep -q '^verify xmond.service: ok' "$TMP/dist.out"; echo $?) "systemd-analyze verify xmond.service (installed, --root)"
ok $(grep -q '^verify echod@check.service: ok' "$TMP/dist.out"; echo $?) "systemd-analyze verify echod@check.service"
ok $(grep -qE '^security xmond.service: [0-3]\.[0-9] (OK|SAFE)' "$TMP/dist.out"; echo $?) "systemd-analyze security xmond.service: $(sed -n 's/^security xmond.service: //p' "$TMP/dist.out")"
is "$(grep -c '^mandoc .*: ok' "$TMP/dist.out")" 4 "mandoc -T lint -W warning: the 4 man pages are clean"
is "$st" 0 "scripts/check-dist exits 0"
done_testing
