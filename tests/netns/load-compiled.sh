#!/bin/bash
# The kernel accepts what `sagate compile` prints: every shipped policy is
# loaded into a throwaway network namespace (never the host's own rules),
# listed back, and checked for its rule names.
#
# Needs root and nf_tables.  The engine-mode ruleset ends in an nft
# `queue` statement; kernels without it (CONFIG_NFT_QUEUE off, as on the
# project's Firecracker hosts) reject that one statement with ENOENT.  We
# then check the rest of the engine ruleset with the queue statement
# replaced, say so loudly, and leave the full check to the QEMU test bed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
ns=sgt-load-$$
tmp=$(mktemp -d)
. "$top/tests/lib/netns.sh"
netns_require_root
cleanup() {
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns" || { echo "FAIL: cannot create a network namespace"; exit 1; }
in_ns() { ip netns exec "$ns" "$@"; }

cd "$top" || exit 1
queue_missing=false
for pol in policies/*.json; do
	name=$(basename "$pol" .json)
	"$sagate" compile --no-engine "$pol" >"$tmp/k.nft" 2>/dev/null || { bad "$name: compile"; continue; }
	"$sagate" compile "$pol" >"$tmp/e.nft" 2>/dev/null || { bad "$name: compile (engine)"; continue; }

	if in_ns nft -f "$tmp/k.nft" 2>"$tmp/err"; then
		ok "$name: kernel-only ruleset loads"
	else
		bad "$name: kernel-only ruleset rejected: $(cat "$tmp/err")"
		continue
	fi
	in_ns nft list table inet sagate >"$tmp/list"
	missing=""
	for rule in $(jq -r '.rules[].name' "$pol"); do
		grep -q "comment \"$rule\"" "$tmp/list" || missing="$missing $rule"
	done
	# a shadowed rule has no element; sagate check names those
	shadowed=$("$sagate" --json check "$pol" | jq -r '.diagnostics[] | select(.message | startswith("rule can never match")) | .rule')
	for rule in $missing; do
		grep -qx "$rule" <<<"$shadowed" || { bad "$name: rule $rule not in the kernel's listing"; continue 2; }
	done
	ok "$name: every rule that can match is in the kernel's listing"

	# loading again replaces the table, it does not add to it
	in_ns nft -f "$tmp/k.nft" && in_ns nft list table inet sagate >"$tmp/list2"
	if diff -q "$tmp/list" "$tmp/list2" >/dev/null; then
		ok "$name: reloading replaces the table"
	else
		bad "$name: reloading changed the listing"
	fi

	if in_ns nft -c -f "$tmp/e.nft" 2>"$tmp/err"; then
		ok "$name: engine ruleset accepted, queue statement included"
	elif grep -q "queue num" "$tmp/err" && grep -q "No such file or directory" "$tmp/err"; then
		queue_missing=true
		sed -E "s/ queue num [0-9]+(-[0-9]+ fanout)? / drop /" "$tmp/e.nft" >"$tmp/e-noq.nft"
		if in_ns nft -c -f "$tmp/e-noq.nft" 2>"$tmp/err"; then
			ok "$name: engine ruleset accepted apart from its queue statement"
		else
			bad "$name: engine ruleset rejected: $(cat "$tmp/err")"
		fi
	else
		bad "$name: engine ruleset rejected: $(cat "$tmp/err")"
	fi
	in_ns nft delete table inet sagate
done
if $queue_missing; then
	echo "NOTE: this kernel has no nft queue expression (CONFIG_NFT_QUEUE is off):"
	echo "NOTE: engine-mode rulesets were checked without their queue statement;"
	echo "NOTE: tests/vm runs them whole on a Debian kernel."
fi
summary
