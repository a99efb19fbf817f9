#!/bin/bash
# Incremental apply on the host kernel, in throwaway network namespaces
# (kernel-only mode: this kernel may lack the nft queue expression).
#  1. Random policy edits (rules added, removed, ports, peers, actions
#     changed; IPv4 and IPv6, exact and interval maps): namespace A
#     applies each edit incrementally, namespace B replaces its table
#     (--full); both listings, counters and handles left out, must be
#     equal after every edit.  INCR_EDITS edits (default 100) in each
#     layout: the flat one and the bucket one of large policies (forced
#     on small ones), and a quarter as many on a generated policy of 3,000
#     rules (bench/gen-policy: several buckets, whose peer map is a
#     single-field interval map).
#  2. Counters of unchanged elements survive an incremental apply, and
#     not a --full one.
#  3. An element added by hand with nft: the next apply replaces the
#     whole table, and says so (stderr and --json).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
edits=${INCR_EDITS:-100}
a=sgt-incra-$$ b=sgt-incrb-$$ c=sgt-incrc-$$
tmp=$(mktemp -d)
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/incr.sh"
netns_require_root
command -v python3 >/dev/null || { echo "FAIL: python3 is needed" >&2; exit 1; }
cleanup() {
	ip netns del "$a" 2>/dev/null
	ip netns del "$b" 2>/dev/null
	ip netns del "$c" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0 passes=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { passes=$((passes + 1)); }
ip netns add "$a" && ip netns add "$b" && ip netns add "$c" || exit 1

# 1. random edits, in the flat layout and in the bucket layout (forced
# for small policies by SAGATE_BUCKET_LAYOUT_MIN)
edit_run() {	# LAYOUT N SEED0: N edits from a fresh policy and state
	local layout=$1 n=$2 s0=$3 pol=$tmp/p-$1.json incr=0 full=0 i what
	if [ "$layout" = bucket ]; then export SAGATE_BUCKET_LAYOUT_MIN=2; else unset SAGATE_BUCKET_LAYOUT_MIN; fi
	sa() { ip netns exec "$a" "$sagate" -s "$tmp/sa-$layout" "$@"; }
	sb() { ip netns exec "$b" "$sagate" -s "$tmp/sb-$layout" "$@"; }
	if [ "$layout" = large ]; then
		"$top/bench/gen-policy" 3000 "$s0" >"$pol"	# the bucket layout, several buckets
	else
		python3 "$here/incr-edit.py" "$pol" "$s0" >/dev/null
	fi
	sa apply -k "$pol" >/dev/null 2>&1 || bad "$layout: first apply in A"
	sb apply -k "$pol" >/dev/null 2>&1 || bad "$layout: first apply in B"
	for i in $(seq 1 "$n"); do
		what=$(python3 "$here/incr-edit.py" "$pol" $((s0 + i)))
		# every 4th edit, a commit by someone else (to another table)
		# first: the kept plan is no longer vouched for, the live table
		# is read and compared
		foreign=$((i % 4 == 0))
		[ "$foreign" = 1 ] && ip netns exec "$a" nft add table ip "sgt-foreign-$layout-$i"
		sa --json apply -k "$pol" >"$tmp/oa" 2>"$tmp/ea" || { bad "$layout edit $i ($what): apply in A: $(cat "$tmp/ea")"; continue; }
		sb apply -k --full "$pol" >/dev/null 2>"$tmp/eb" || { bad "$layout edit $i ($what): apply in B: $(cat "$tmp/eb")"; continue; }
		case $(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))["incremental"]; print(i["done"], i["kept_plan"])' "$tmp/oa") in
		"True True") [ "$foreign" = 0 ] || bad "$layout edit $i: a foreign commit, yet the kept plan was trusted" ;;
		"True False") [ "$foreign" = 1 ] || bad "$layout edit $i: nobody committed since, yet the live table was read" ;;
		esac
		if [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["incremental"]["done"])' "$tmp/oa")" = True ]; then
			incr=$((incr + 1))
		else
			full=$((full + 1))
		fi
		if ! cmp -s <(incr_norm "$a") <(incr_norm "$b"); then
			bad "$layout edit $i ($what): the incremental table differs from the full one"
			diff <(incr_norm "$a") <(incr_norm "$b") | head -20 >&2
			break
		fi
		ok
	done
	echo "$layout layout: $n random edits, $incr incremental, $full fell back to the full replace"
	# a large policy's edits often move bucket boundaries: many elements
	# change, and the apply replaces the whole table
	local want=$((n / 2))
	[ "$layout" = large ] && want=0
	[ "$incr" -gt "$want" ] || bad "$layout: only $incr of $n edits were applied incrementally"
}
edit_run flat "$edits" 0
edit_run bucket "$edits" 100000
edit_run large $((edits / 4 + 1)) 7
ip netns exec "$a" nft list table inet sagate | grep -Eq 'chain [a-z0-9]*_b[0-9a-f]+ ' && ok ||
	bad "the bucket layout was not used (no bucket chain *_b...)"
unset SAGATE_BUCKET_LAYOUT_MIN
sa() { ip netns exec "$a" "$sagate" -s "$tmp/sa" "$@"; }

# 2. counters survive: C sends to A over a veth
incr_probe "$a" "$c" "$tmp/c.json" || exit 1
sed 's/"ports": \[22\]/"ports": [23]/' "$tmp/c.json" >"$tmp/c2.json"
sed 's/"ports": \[22\]/"ports": [24]/' "$tmp/c.json" >"$tmp/c3.json"
probe_packets() { incr_packets "$a" "$tmp/sa" probe; }
sa apply -k "$tmp/c.json" >/dev/null 2>&1 || bad "apply of the counter policy"
incr_send "$c"
before=$(probe_packets)
[ "${before:-0}" -ge 3 ] || bad "the probe rule counted ${before:-nothing}, 3 packets expected"
sa --json apply -k "$tmp/c2.json" >"$tmp/o2" 2>&1
grep -q '"done": true' "$tmp/o2" || bad "the port change was not applied incrementally: $(cat "$tmp/o2")"
after=$(probe_packets)
[ "${after:-0}" = "$before" ] && ok || bad "counter of the unchanged probe element: $before before, ${after:-?} after an incremental apply"
sa apply -k --full "$tmp/c3.json" >/dev/null 2>&1 || bad "apply --full"
after=$(probe_packets)
[ "${after:-x}" = 0 ] && ok || bad "after --full the probe counter is ${after:-?}, 0 expected (a new table)"

# 3. drift: an element added by hand
ip netns exec "$a" nft add element inet sagate in4_exact '{ 10.66.0.1 . tcp . 80 : accept }' 2>/dev/null ||
	ip netns exec "$a" nft list sets inet sagate >&2
sa --json apply -k "$tmp/c.json" >"$tmp/o3" 2>"$tmp/e3"
if grep -q "replaced the whole table: the live table is not generation" "$tmp/e3" &&
	grep -q '"done": false' "$tmp/o3" && grep -q 'drift-element-added' "$tmp/o3"; then
	ok
else
	bad "a hand-added element did not make the apply replace the whole table and say so: $(cat "$tmp/e3" "$tmp/o3")"
fi
ip netns exec "$a" nft list table inet sagate | grep -q 10.66.0.1 && bad "the hand-added element survived the full replace" || ok


# 4. the kept plan: vouched for by the ruleset generation of sagate's last
# commit; any other commit (here to another table) makes the next apply
# read the live table, and the one after trusts its own commit again.
# First a dry run: it counts what the apply would change, and changes
# nothing (not even the ruleset generation: the apply after it still
# trusts the kept plan)
incr_norm "$a" >"$tmp/before-dry"
sa --json apply --dry-run -k "$tmp/c2.json" >"$tmp/od" 2>&1
cmp -s "$tmp/before-dry" <(incr_norm "$a") && ok || bad "apply --dry-run changed the table"
sa --json apply -k "$tmp/c2.json" >"$tmp/o4" 2>&1
grep -q '"done": true' "$tmp/o4" && grep -q '"kept_plan": true' "$tmp/o4" && ok ||
	bad "after sagate's own commit, the next apply did not diff from the kept plan: $(cat "$tmp/o4")"
counts() { python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))["incremental"]; print(i["done"], sorted(i["diff"].items()))' "$1"; }
[ "$(counts "$tmp/od")" = "$(counts "$tmp/o4")" ] && grep -q '"elements_added": [1-9]' "$tmp/o4" && ok ||
	bad "the dry run's counts ($(counts "$tmp/od")) are not the apply's ($(counts "$tmp/o4"))"
ip netns exec "$a" nft add table ip sgt-other || bad "nft add table"
sa --json apply -k "$tmp/c.json" >"$tmp/o4" 2>&1
grep -q '"done": true' "$tmp/o4" && grep -q '"kept_plan": false' "$tmp/o4" && ok ||
	bad "after a foreign commit, the apply did not read the live table (or not diff): $(cat "$tmp/o4")"
sa --json apply -k "$tmp/c3.json" >"$tmp/o4" 2>&1
grep -q '"done": true' "$tmp/o4" && grep -q '"kept_plan": true' "$tmp/o4" && ok ||
	bad "the apply after that did not trust its own commit again: $(cat "$tmp/o4")"
# a kept plan the tag still vouches for but that cannot be read whole
# (cut short): not used; the live table is read
cur=$(readlink "$tmp/sa/current")
truncate -s 100 "$tmp/sa/$cur/plan.bin"
sa --json apply -k "$tmp/c2.json" >"$tmp/o4" 2>&1
grep -q '"done": true' "$tmp/o4" && grep -q '"kept_plan": false' "$tmp/o4" && ok ||
	bad "a damaged plan.bin was not set aside for reading the live table: $(cat "$tmp/o4")"

# 5. an incremental apply killed between the kernel's commit and the
# switch of current: the table's comment still names the generation it
# replaced; the next command knows the new one by its kept plan, or
# (plan.bin gone) by the table's content, and makes it current
for how in kept content; do
	before=$(readlink "$tmp/sa/current")
	[ "$how" = kept ] && next=c.json || next=c2.json
	SAGATE_TEST_PAUSE=before-switch:$tmp/go sa --json apply -k "$tmp/$next" >"$tmp/o5" 2>&1 &
	pid=$!
	for _ in $(seq 600); do [ -e "$tmp/go.paused" ] && break; sleep 0.05; done
	# the paused sagate is the only process in namespace A
	pids=$(ip netns pids "$a")
	[ -n "$pids" ] && kill -9 $pids
	wait "$pid" 2>/dev/null
	rm -f "$tmp/go.paused"
	[ "$(readlink "$tmp/sa/current")" = "$before" ] || bad "$how: current moved before the switch"
	newest=$(cd "$tmp/sa" && ls -d gen-* | sort | tail -1)
	[ "$how" = content ] && rm -f "$tmp/sa/$newest/plan.bin"
	sa confirm >/dev/null 2>"$tmp/e5"
	if [ "$(readlink "$tmp/sa/current")" = "$newest" ] &&
		grep -q "ended between the kernel's commit and its switch" "$tmp/e5"; then
		ok
	else
		bad "$how: an incremental apply killed before its switch was not made current ($(readlink "$tmp/sa/current"), $newest): $(cat "$tmp/e5")"
	fi
	sa status >"$tmp/s5" 2>&1 && ok || bad "$how: status after the recovery: $(cat "$tmp/s5")"
done

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
