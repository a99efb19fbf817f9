#!/bin/bash
# Every long option and every command that `sagate --help` and
# `sagated --help` name must be documented in their man pages: an option
# as "\-\-name", a command as a .B / .BI / .TP entry of its own.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# man text with roff escapes undone: "\-\-json" -> "--json", fonts dropped
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(lq\|\\(rq//g' "$1"; }

check() {	# PROGRAM MANPAGE
	local prog=$1 man=$2 help text opt cmd
	help=$("$prog" --help) || { bad "$prog --help failed"; return; }
	text=$(plain "$man")
	for opt in $(grep -o -- '--[a-z][a-z-]*' <<<"$help" | sort -u); do
		if grep -q -- "$opt\\b" <<<"$text"; then ok; else bad "$(basename "$prog"): option $opt is not in $(basename "$man")"; fi
	done
	# commands: the lines of the Commands: block, "  name ..."
	for cmd in $(awk '/^Commands:/ { on = 1; next } on && /^$/ { on = 0 } on { print $1 }' <<<"$help"); do
		if grep -Eq "^\.(B|BI|BR) \"?$cmd\b" <<<"$text"; then ok; else bad "$(basename "$prog"): command $cmd has no entry in $(basename "$man")"; fi
	done
}
check "$sagate" "$top/man/sagate.8"
check "$sagated" "$top/man/sagated.8"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
