# Helpers of the incremental apply's netns tests (incr-apply.sh,
# incr-rollback.sh): the table compared without what only a full replace
# changes, and a policy rule's counter.  Source after setting $top and
# $sagate.
#
# incr_norm NS: `nft -j list table inet sagate` in NS without handles,
# counters and the table comment, elements sorted (incr-norm.py).
incr_norm() {
	ip netns exec "$1" nft -j list table inet sagate | python3 "$top/tests/netns/incr-norm.py" /dev/stdin
}
# incr_packets NS STATE RULE: the packets policy rule RULE counted
# (`sagate list`, state directory STATE); nothing when it cannot be read.
incr_packets() {
	ip netns exec "$1" "$sagate" -s "$2" --json list | python3 -c '
import json,sys
j=json.load(sys.stdin)
print(sum(r["packets"] for r in j["rules"] if r["rule"]==sys.argv[1]))' "$3" 2>/dev/null
}
# same_table NS FILE DESC: table inet sagate in NS is the one incr_norm
# saved in FILE: the same chains, rules, sets and elements.  What an
# apply or a rollback that sends only the difference keeps (handles,
# counters, the table comment) or may list in another order (elements)
# is left out; ok or bad (tests/lib/netns.sh), the difference in $tmp/diff.
same_table() {
	if incr_norm "$1" | diff -u "$2" - >"$tmp/diff"; then ok "$3"; else bad "$3"; cat "$tmp/diff"; fi
}
