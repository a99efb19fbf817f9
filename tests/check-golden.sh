#!/bin/bash
# Golden files: `sagate compile` of every shipped policy, in both modes
# (one queue: the default, the online CPUs, differs between machines),
# and its `sagate ike-config` (NAME.swanctl) must print exactly what
# tests/golden/ holds; db-server spread over a range of queues too.  After a deliberate change
# of the compiler, regenerate with: tests/check-golden.sh --update
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
sagate=${SAGATE:-$top/sagate}
update=false
[ "${1:-}" = "--update" ] && update=true
cd "$top" || exit 1

pass=0 fail=0
# same LABEL GOLDEN COMMAND...: COMMAND prints exactly GOLDEN
same() {
	local label=$1 golden=$2 out rc
	shift 2
	out=$(mktemp)
	"$@" >"$out" 2>/dev/null
	rc=$?
	$update && cp "$out" "$golden"
	if [ $rc -eq 0 ] && diff -u "$golden" "$out"; then
		echo "PASS: $label"
		pass=$((pass + 1))
	else
		echo "FAIL: $label: exit $rc or output differs from $golden"
		fail=$((fail + 1))
	fi
	rm -f "$out"
}

for pol in policies/*.json; do
	name=$(basename "$pol" .json)
	same "$name (engine)" "tests/golden/$name.engine.nft" "$sagate" compile --queues 1 "$pol"
	same "$name (kernel-only)" "tests/golden/$name.kernel-only.nft" "$sagate" compile --queues 1 --no-engine "$pol"
	same "$name (ike-config)" "tests/golden/$name.swanctl" "$sagate" ike-config "$pol"
done
same "db-server (queues 8-11, fanout)" tests/golden/db-server.engine-queues.nft \
	"$sagate" compile --queue 8 --queues 4 policies/db-server.json
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
