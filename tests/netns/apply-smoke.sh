#!/bin/bash
# sagate's own netlink apply (src/nft/nft_apply.c) against `nft -f`, in a
# throwaway network namespace (never the host's own rules):
#  - for every shipped policy, and a generated one in the bucket layout,
#    the table nft loads from `sagate compile` and the table nft_apply
#    builds with libnftnl list identically, and every set attribute and
#    user data TLV nft reads back to print a set (key type, byte orders,
#    typeof: src/nft/nft_udata.c) is one that nft itself writes;
#  - applying again replaces the table; a dry run changes nothing, with or
#    without a table; a flush removes only table inet sagate;
#  - a plan the kernel must reject (overlapping interval elements) fails,
#    the error names the policy rule, and the ruleset is byte-identical;
#  - a foreign table survives apply and flush;
#  - engine mode: without nft `queue` in the kernel the apply fails with
#    ENOENT naming the queue rule and changes nothing;
#  - apply time for generated policies (timing is reported, never judged).
#
# Needs root.  APPLY_SMOKE names a built tests/netns/apply-smoke.c; when
# unset the script builds it against the tree's src/libsagate-*.a (run make first).
# APPLY_SMOKE_BENCH lists the generated policy sizes to time: 10000 by
# default; "10000 100000" adds the large run, which takes about half an
# hour on the project's hosts (the kernel's insertion into a concatenated
# interval set costs time proportional to the set's size); "" skips them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
bench_sizes=${APPLY_SMOKE_BENCH-10000}
ns=sgt-apply-$$
pass=0 fail=0
tmp=$(mktemp -d)

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: apply-smoke.sh needs root (network namespaces, nf_tables)" >&2
	exit 77
fi
cleanup() {
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
in_ns() { ip netns exec "$ns" "$@"; }

cd "$top" || exit 1
prog=${APPLY_SMOKE:-}
if [ -z "$prog" ]; then
	prog=$tmp/apply-smoke
	# shellcheck disable=SC2046
	if ! gcc -std=gnu11 -O2 -Wall -Wextra -I. -Itests/unit \
		-Isrc/base -Isrc/policy -Isrc/compile -Isrc/xfrm -Isrc/verdict -Isrc/nft \
		$(pkg-config --cflags libnftnl libmnl jansson) \
		tests/netns/apply-smoke.c tests/unit/gen.c \
		src/libsagate-kernel.a src/libsagate-core.a \
		$(pkg-config --libs libnftnl libmnl jansson) -o "$prog"; then
		echo "FAIL: cannot build apply-smoke"
		exit 1
	fi
fi
ip netns add "$ns" || { echo "FAIL: cannot create a network namespace"; exit 1; }

# listings compared without counter values (nothing flows in the namespace,
# but a listing should not depend on that)
# The one statement nft's syntax cannot say, ct mark set ipsec in|out
# reqid (sagate compile leaves it as a comment), is taken out of both.
listing() {
	in_ns nft list table inet sagate 2>/dev/null |
		sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g; s/ct mark set ipsec (in|out) reqid //'
}
json_listing() {
	in_ns nft -j list table inet sagate |
		jq -S 'del(.. | .handle?) | del(.. | select(type == "object" and has("mangle") and
			(.mangle.value | type == "object" and has("ipsec"))))'
}
ruleset() { in_ns nft -j list ruleset; }
set_names() { awk '{ print $2 }' | uniq; }
has_table() { in_ns nft list table inet sagate >/dev/null 2>&1; }

# a generated policy large enough for the bucket layout (see compile.c)
"$top/bench/gen-policy" 3000 3 >"$tmp/generated-buckets.json"
for pol in policies/*.json "$tmp/generated-buckets.json"; do
	name=$(basename "$pol" .json)
	if [ "$name" = generated-buckets ]; then
		export SAGATE_BUCKET_LAYOUT_MIN=256
	else
		unset SAGATE_BUCKET_LAYOUT_MIN
	fi
	if ! "$sagate" compile --no-engine "$pol" >"$tmp/a.nft" 2>/dev/null; then
		bad "$name: sagate compile"
		continue
	fi
	if ! in_ns nft -f "$tmp/a.nft" 2>"$tmp/err"; then
		bad "$name: nft -f rejects the compiled ruleset: $(cat "$tmp/err")"
		continue
	fi
	listing >"$tmp/ref"
	json_listing >"$tmp/ref.json"
	in_ns "$prog" sets >"$tmp/ref.sets"

	if in_ns "$prog" flush >"$tmp/out" && ! has_table; then
		ok "$name: flush removes table inet sagate"
	else
		bad "$name: flush: $(cat "$tmp/out")"
	fi

	if ! in_ns "$prog" apply "$pol" >"$tmp/out"; then
		bad "$name: apply failed: $(cat "$tmp/out")"
		continue
	fi
	listing >"$tmp/got"
	if diff -u "$tmp/ref" "$tmp/got" >"$tmp/diff"; then
		ok "$name: applied table lists exactly as nft -f's ($(grep -c comment "$tmp/got") comments)"
	else
		bad "$name: applied table differs from nft -f's:"
		cat "$tmp/diff"
	fi
	json_listing >"$tmp/got.json"
	if cmp -s "$tmp/ref.json" "$tmp/got.json"; then
		ok "$name: JSON listing identical too"
	else
		bad "$name: JSON listing differs"
	fi
	# nft writes more than we do (a typeof for a `type` set, ...): ours
	# must be a subset of its, over the same sets
	in_ns "$prog" sets >"$tmp/got.sets"
	extra=$(comm -13 <(sort "$tmp/ref.sets") <(sort "$tmp/got.sets"))
	if [ -s "$tmp/got.sets" ] && [ -z "$extra" ] &&
		[ "$(set_names <"$tmp/ref.sets")" = "$(set_names <"$tmp/got.sets")" ]; then
		ok "$name: sets carry nft's own key types and user data ($(set_names <"$tmp/got.sets" | wc -l) sets)"
	else
		bad "$name: set attributes nft does not write:" $extra
	fi

	in_ns "$prog" apply "$pol" >"$tmp/out" && listing >"$tmp/got2"
	if cmp -s "$tmp/got" "$tmp/got2"; then
		ok "$name: applying again replaces the table"
	else
		bad "$name: second apply: $(cat "$tmp/out")"
	fi

	ruleset >"$tmp/before"
	if in_ns "$prog" apply "$pol" --dry-run >"$tmp/out"; then
		ruleset >"$tmp/after"
		if cmp -s "$tmp/before" "$tmp/after"; then
			ok "$name: dry run over an existing table passes and changes nothing"
		else
			bad "$name: dry run changed the ruleset"
		fi
	else
		bad "$name: dry run failed: $(cat "$tmp/out")"
	fi

	in_ns "$prog" flush >/dev/null
	ruleset >"$tmp/before"
	if in_ns "$prog" apply "$pol" --dry-run >"$tmp/out"; then
		ruleset >"$tmp/after"
		if cmp -s "$tmp/before" "$tmp/after" && ! has_table; then
			ok "$name: dry run without a table passes and leaves none"
		else
			bad "$name: dry run without a table changed the ruleset"
		fi
	else
		bad "$name: dry run without a table failed: $(cat "$tmp/out")"
	fi
done
unset SAGATE_BUCKET_LAYOUT_MIN

pol=policies/db-server.json

# flush with no table is not an error
in_ns "$prog" flush >/dev/null
if in_ns "$prog" flush >"$tmp/out" && in_ns "$prog" flush --dry-run >>"$tmp/out"; then
	ok "flush without a table succeeds"
else
	bad "flush without a table: $(cat "$tmp/out")"
fi

# a foreign table survives apply and flush
in_ns nft -f - <<'EOF'
table inet filter {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 22 counter accept comment "not sagate's"
	}
}
EOF
in_ns nft list table inet filter >"$tmp/foreign"
in_ns "$prog" apply "$pol" >"$tmp/out" || bad "apply next to a foreign table: $(cat "$tmp/out")"
in_ns nft list table inet filter >"$tmp/foreign2"
in_ns "$prog" flush >>"$tmp/out" || bad "flush next to a foreign table: $(cat "$tmp/out")"
in_ns nft list table inet filter >"$tmp/foreign3"
if cmp -s "$tmp/foreign" "$tmp/foreign2" && cmp -s "$tmp/foreign" "$tmp/foreign3" && ! has_table; then
	ok "table inet filter survives apply and flush untouched"
else
	bad "table inet filter changed"
fi

# a plan the kernel rejects: nothing changes, the error names the rule
in_ns "$prog" apply "$pol" >/dev/null
for mode in "" --dry-run; do
	ruleset >"$tmp/before"
	if in_ns "$prog" overlap "$pol" $mode >"$tmp/out"; then
		bad "overlapping elements${mode:+ ($mode)} were accepted"
		continue
	fi
	ruleset >"$tmp/after"
	rule=$(sed -n 's/^EXPECT_RULE //p' "$tmp/out")
	set=$(sed -n 's/^EXPECT_SET //p' "$tmp/out")
	err=$(grep -v '^EXPECT_' "$tmp/out")
	if grep -q "(rule \"$rule\"): error: map $set element " <<<"$err"; then
		ok "overlapping elements${mode:+ ($mode)} rejected, naming rule \"$rule\": $(head -n1 <<<"$err")"
	else
		bad "overlap error${mode:+ ($mode)} does not name rule \"$rule\" in map $set: $err"
	fi
	if cmp -s "$tmp/before" "$tmp/after"; then
		ok "rejected transaction${mode:+ ($mode)} left the ruleset byte-identical"
	else
		bad "rejected transaction${mode:+ ($mode)} changed the ruleset"
	fi
done

# engine mode needs nft's queue expression in the kernel
printf 'table inet sgt_probe {\n chain c {\n  queue num 0\n }\n}\n' >"$tmp/probe.nft"
if in_ns nft -c -f "$tmp/probe.nft" 2>/dev/null; then
	ruleset >"$tmp/before"
	if in_ns "$prog" apply "$pol" --engine >"$tmp/out" && listing | grep -q "meta priority set ipsec in spi"; then
		ok "engine layout loads (queue and meta priority set ipsec in spi included)"
	else
		bad "engine layout on a kernel with nft queue: $(cat "$tmp/out")"
	fi
else
	in_ns "$prog" apply "$pol" >/dev/null
	ruleset >"$tmp/before"
	if in_ns "$prog" apply "$pol" --engine >"$tmp/out"; then
		bad "engine plan applied although this kernel has no nft queue"
	else
		ruleset >"$tmp/after"
		if grep -q 'chain ipsec_in rule [0-9]* .*statement "queue num [0-9]*" (expression "queue"): No such file or directory' "$tmp/out"; then
			ok "engine plan fails with ENOENT naming the queue rule: $(grep -m1 queue "$tmp/out")"
		else
			bad "engine plan failed without naming the queue rule: $(cat "$tmp/out")"
		fi
		if cmp -s "$tmp/before" "$tmp/after"; then
			ok "failed engine apply left the ruleset byte-identical"
		else
			bad "failed engine apply changed the ruleset"
		fi
	fi
	echo "NOTE: this kernel has no nft queue expression (CONFIG_NFT_QUEUE): the engine layout"
	echo "NOTE: can only be loaded on a kernel with nft_queue (the QEMU test bed, tests/vm)."
	# the rest of the engine layout, with its queue verdicts made drops
	if in_ns "$prog" apply "$pol" --engine --queue-as-drop >"$tmp/out" &&
		listing | grep -q "meta priority set ipsec in spi"; then
		ok "engine layout without its queue verdict loads, listing 'meta priority set ipsec in spi'"
	else
		bad "engine layout without queue: $(cat "$tmp/out")"
	fi
fi
in_ns "$prog" flush >/dev/null

for n in $bench_sizes; do
	if in_ns "$prog" bench "$n" >"$tmp/out"; then
		ok "apply of a generated policy of $n rules"
	else
		bad "apply of a generated policy of $n rules: $(grep -v '^BENCH' "$tmp/out" | head -n 5)"
	fi
	grep '^BENCH' "$tmp/out"
	in_ns "$prog" flush >/dev/null
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
