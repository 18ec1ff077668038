#!/usr/bin/env bash
# bench/size.sh: binary size of build/bin/echod, as built and after
# `strip -s` on a copy, next to a static Go hello world (golang-go).
. "$(dirname "$0")/lib.sh"

echo
echo "== Binary size (bytes)"
echo
row "binary" "as built" "strip -s copy"
sep 3
if need echod; then
	cp "$ECHOD" "$tmp/echod.stripped" && strip -s "$tmp/echod.stripped"
	row "echod (static musl; the build keeps .symtab, debug info in $(basename "$B")/debug/)" \
		"$(stat -c %s "$ECHOD")" "$(stat -c %s "$tmp/echod.stripped")"
else
	row "echod" "$why" ""
fi
if command -v go >/dev/null 2>&1; then
	mkdir -p "$tmp/gohello"
	printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, world") }\n' >"$tmp/gohello/main.go"
	if (cd "$tmp/gohello" && GOFLAGS='' CGO_ENABLED=0 GO111MODULE=off GOCACHE="$tmp/gocache" \
		go build -o "$tmp/gohello/hello" main.go) >/dev/null 2>&1; then
		cp "$tmp/gohello/hello" "$tmp/gohello/hello.stripped" && strip -s "$tmp/gohello/hello.stripped"
		row "Go hello world, CGO_ENABLED=0 ($(go version | awk '{ print $3 }'))" \
			"$(stat -c %s "$tmp/gohello/hello")" "$(stat -c %s "$tmp/gohello/hello.stripped")"
	else
		row "Go hello world" "go build failed" ""
	fi
else
	row "Go hello world" "skipped: $(_missing_pkg go-hello || true) not installed" ""
fi
exit 0
