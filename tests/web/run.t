#!/usr/bin/env bash
# tests/web/run.t: xmond's page in headless Chromium (web.test.js), run by
# prove from `make check`. Needs node, Debian's chromium and playwright-core
# (npm ci in tests/web; .ci/run does both); skips, saying what is missing,
# when one is not there.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export LULL_BUILD=${LULL_BUILD:-$(cd "$HERE/../.." && pwd)/build}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
command -v node > /dev/null || skip_all "node is not installed (apt-get install nodejs npm)"
[ -x "$CHROMIUM" ] || skip_all "$CHROMIUM is not installed (apt-get install chromium)"
[ -d "$HERE/node_modules/playwright-core" ] || skip_all "playwright-core is not installed (cd tests/web && npm ci)"
[ -x "$LULL_BUILD/bin/xmond" ] || { echo "Bail out! $LULL_BUILD/bin/xmond is not built"; exit 1; }
cd "$HERE/../.." && exec node "$HERE/web.test.js"
