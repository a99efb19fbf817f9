# Helpers of the netns tests that drive the sagate CLI in one namespace:
# source after netns_throwaway, with $ns, $sagate and $tmp set.
in_ns() { ip netns exec "$ns" "$@"; }
sg() { in_ns "$sagate" "$@" 2>"$tmp/stderr"; }
ruleset() { in_ns nft list ruleset; }
same_as() {	# FILE DESC: the live ruleset is byte-identical to FILE
	if ruleset | diff -u "$1" - >"$tmp/diff"; then ok "$2"; else bad "$2"; cat "$tmp/diff"; fi
}
said() {	# PATTERN DESC: stderr of the last sg holds PATTERN
	if grep -q -- "$1" "$tmp/stderr"; then ok "$2"; else bad "$2"; cat "$tmp/stderr"; fi
}
