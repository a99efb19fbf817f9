#!/bin/bash
# check-bad.sh: every broken policy under tests/bad/ must be rejected by
# "sagate check" with exit status 1 and exactly the messages in its .expect
# file; every shipped policy under policies/ must pass with exit status 0;
# a policy file over the size limit must be refused.
#
# The sagate binary: $SAGATE, else $abs_top_builddir/sagate, else ./sagate
# in the current directory (the build directory under "make check").
# The test files are found next to this script, so out-of-tree (VPATH)
# builds work; the checks run from the source root with relative paths
# (tests/bad/X.json) so that the file names in the messages are stable.
#
# Files under tests/bad/inc/ are helpers included by the cases, not cases.

set -u

script_dir=$(cd "$(dirname "$0")" && pwd) || exit 99
src_root=$(cd "$script_dir/.." && pwd) || exit 99

if [ -n "${SAGATE:-}" ]; then
	sagate=$SAGATE
elif [ -n "${abs_top_builddir:-}" ]; then
	sagate=$abs_top_builddir/sagate
else
	sagate=./sagate
fi
case $sagate in
/*) ;;
*) sagate=$PWD/$sagate ;;
esac
if [ ! -x "$sagate" ]; then
	echo "check-bad.sh: no sagate binary at $sagate (set SAGATE)" >&2
	exit 99
fi

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$src_root" || exit 99

passed=0
failed=0

pass() {
	echo "PASS: $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL: $1${2:+ ($2)}"
	failed=$((failed + 1))
}

# Broken policies: exact stdout and exit status 1.
found=0
for json in tests/bad/*.json; do
	[ -e "$json" ] || continue
	found=$((found + 1))
	name=$(basename "$json" .json)
	expect=tests/bad/$name.expect
	out=$tmp/$name.out
	if [ ! -f "$expect" ]; then
		fail "$name" "missing $expect"
		continue
	fi
	"$sagate" check "$json" >"$out"
	rc=$?
	ok=1
	if ! diff -u --label "$expect" --label "sagate check $json" \
		"$expect" "$out"; then
		ok=0
	fi
	if [ "$rc" -ne 1 ]; then
		echo "$name: exit status $rc, expected 1"
		ok=0
	fi
	if [ "$ok" -eq 1 ]; then
		pass "$name"
	else
		fail "$name"
	fi
done
if [ "$found" -eq 0 ]; then
	fail "bad-policies" "no test cases found under $src_root/tests/bad"
fi

# Shipped policies must pass.
for json in policies/*.json; do
	[ -e "$json" ] || continue
	name=policy-$(basename "$json" .json)
	out=$tmp/$name.out
	"$sagate" check "$json" >"$out"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$name"
	else
		cat "$out"
		fail "$name" "exit status $rc, expected 0"
	fi
done

# A file over the 32 MiB limit (PARSE_DEFAULT_MAX_SIZE): valid JSON padded
# with 33 MiB of whitespace.
name=size-limit
big=$tmp/big.json
{
	printf '{ "version": 1, "rules": [] }\n'
	head -c $((33 * 1024 * 1024)) /dev/zero | tr '\0' ' '
} >"$big"
"$sagate" check "$big" >"$tmp/$name.out"
rc=$?
rm -f "$big"
if [ "$rc" -eq 1 ] && grep -q -F "larger than the limit" "$tmp/$name.out"; then
	pass "$name"
else
	cat "$tmp/$name.out"
	fail "$name" "exit status $rc (expected 1) and/or no \"larger than the limit\" message"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
