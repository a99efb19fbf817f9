#!/bin/bash
# Golden files: `sagate compile` of every shipped policy, in both modes,
# and its `sagate ike-config` (NAME.swanctl) must print exactly what
# tests/golden/ holds.  After a deliberate change
# of the compiler, regenerate with: tests/check-golden.sh --update
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
sagate=${SAGATE:-$top/sagate}
update=false
[ "${1:-}" = "--update" ] && update=true
cd "$top" || exit 1

pass=0 fail=0
for pol in policies/*.json; do
	name=$(basename "$pol" .json)
	for mode in engine kernel-only; do
		golden=tests/golden/$name.$mode.nft
		args=()
		[ "$mode" = kernel-only ] && args=(--no-engine)
		out=$(mktemp)
		"$sagate" compile "${args[@]}" "$pol" >"$out" 2>/dev/null
		rc=$?
		if $update; then
			cp "$out" "$golden"
		fi
		if [ $rc -eq 0 ] && diff -u "$golden" "$out"; then
			echo "PASS: $name ($mode)"
			pass=$((pass + 1))
		else
			echo "FAIL: $name ($mode): exit $rc or output differs from $golden"
			fail=$((fail + 1))
		fi
		rm -f "$out"
	done
	golden=tests/golden/$name.swanctl
	out=$(mktemp)
	"$sagate" ike-config "$pol" >"$out" 2>/dev/null
	rc=$?
	$update && cp "$out" "$golden"
	if [ $rc -eq 0 ] && diff -u "$golden" "$out"; then
		echo "PASS: $name (ike-config)"
		pass=$((pass + 1))
	else
		echo "FAIL: $name (ike-config): exit $rc or output differs from $golden"
		fail=$((fail + 1))
	fi
	rm -f "$out"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
