#!/bin/bash
# Writers racing for the live firewall, 200 rounds in two lanes (each its
# own network namespace and state directory, run side by side):
#   lane 1: apply vs apply, apply vs rollback (both started at once), and
#           apply vs `nft` changing the ruleset between sagate's read of
#           the live table and its commit (SAGATE_TEST_PAUSE, test-only,
#           holds sagate there until this script lets it go)
#   lane 2: apply vs the rollback of an `apply --confirm 1` watcher
# After every round: each command succeeded, or failed with the lock's or
# the changed ruleset's message and changed nothing (exit 2 only for an
# apply refused while a confirm waits); the generation now current is the
# one the last writer reported (no interleaving); the kernel holds it
# (status); and over a lane the generations applied are 1..N, none lost,
# none twice.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
tmp=$(mktemp -d)
ns1=sgt-race1-$$ ns2=sgt-race2-$$
. "$top/tests/lib/netns.sh"
netns_require_root
cleanup() {
	for n in "$ns1" "$ns2"; do	# watchers live in the namespace
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns1" && ip netns add "$ns2" || exit 1
cd "$top" || exit 1
policies=(policies/db-server.json policies/web-server.json policies/bastion.json)
ROUNDS_APPLY=${ROUNDS_APPLY:-70} ROUNDS_ROLLBACK=${ROUNDS_ROLLBACK:-55}
ROUNDS_NFT=${ROUNDS_NFT:-50} ROUNDS_WATCHER=${ROUNDS_WATCHER:-25}
t0=$(date +%s.%N)

# --- what each lane shares ------------------------------------------------
# A lane sets ns and SAGATE_STATE_DIR; its findings go to its log as
# PASS/FAIL lines.
in_ns() { ip netns exec "$ns" "$@"; }
fail() { echo "FAIL: $*"; }
# NAME ARGS...: sagate in the background; NAME.out, NAME.err, NAME.rc
bg() {
	local name=$1
	shift
	(in_ns "$sagate" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; echo $? >"$tmp/$name.rc") &
}
# NAME ARGS...: the same, waited for
fg() { bg "$@"; wait $!; }
rc() { cat "$tmp/$1.rc"; }
# NAME: how it ended: ok, locked (naming the holder, or "pid unknown" when
# it looked just as one holder left and the next came), moved (the
# ruleset changed) or pending;
# anything else is a FAIL.  A failure must say that nothing changed.
outcome() {
	local n=$1 r
	r=$(rc "$n")
	if [ "$r" = 0 ]; then
		echo ok
	elif [ "$r" = 3 ] && grep -Eq 'error: the state directory is locked by another sagate command \(pid ([0-9]+: [a-z ]+|unknown)\); gave up after [0-9]+ s \(--wait\): nothing was changed' "$tmp/$n.err"; then
		echo locked
	elif [ "$r" = 3 ] && grep -Eq 'error: the ruleset changed while sagate read it \(generation [0-9]+, now [0-9]+\): nothing was applied; run the command again' "$tmp/$n.err"; then
		echo moved
	elif [ "$r" = 2 ] && grep -q 'error: an earlier apply --confirm is waiting' "$tmp/$n.err"; then
		echo pending
	else
		echo "wrong (exit $r: $(head -c 300 "$tmp/$n.err" | tr '\n' ' '))"
	fi
	if [ "$r" != 0 ] && grep -q 'applied:\|rolled back to' "$tmp/$n.out"; then
		echo "wrong (exit $r, yet it reported success)"
	fi
}
# NAME: the generation an apply reported ("..., generation G)")
applied_gen() { sed -n 's/.*applied: .*generation \([0-9]*\))$/\1/p' "$tmp/$1.out"; }
rolled_to() { sed -n 's/^rolled back to generation \([0-9]*\) .*/\1/p' "$tmp/$1.out"; }
current() { local g; g=$(readlink "$SAGATE_STATE_DIR/current"); echo $((10#${g#gen-})); }
previous() { in_ns "$sagate" --json status | jq -r '.previous_generation // 0'; }
# the kernel holds what current names
holds_current() {
	local k
	k=$(in_ns "$sagate" --json status | jq -r .kernel)
	[ "$k" = "matches the applied policy" ] || fail "$1: status says the kernel $k"
}
# the generations a lane's applies reported: 1..N, each once
gens_whole() {
	local n
	n=$(wc -l <"$1")
	sort -n "$1" | awk -v n="$n" '$1 != NR { bad = 1 } END { exit bad || NR != n }' ||
		fail "$2: generations applied are not 1..$n once each: $(sort -n "$1" | tr '\n' ' ')"
}

# --- lane 1: apply vs apply, apply vs rollback, apply vs nft ----------------
lane1() {
	ns=$ns1
	export SAGATE_STATE_DIR=$tmp/state1
	local gens=$tmp/gens1 i o a b g1 g2 c0 p0 r locked=0 moved=0 cur
	: >"$gens"
	fg first apply -k "${policies[0]}"
	[ "$(outcome first)" = ok ] && applied_gen first >>"$gens" || fail "first apply: $(outcome first)"
	fg second apply -k "${policies[1]}"
	applied_gen second >>"$gens"

	# two applies at once: one waits for the other (or, with --wait 0,
	# may give up), and the later generation is current
	for i in $(seq 1 "$ROUNDS_APPLY"); do
		w=()
		[ $((i % 4)) = 0 ] && w=(--wait 0)
		bg a "${w[@]}" apply -k "${policies[i % 3]}"
		bg b "${w[@]}" apply -k "${policies[(i + 1) % 3]}"
		wait
		g1=0 g2=0
		for x in a b; do
			o=$(outcome $x)
			case $o in
			ok) applied_gen $x >>"$gens" ;;
			locked) locked=$((locked + 1)) ;;
			*) fail "apply vs apply round $i, $x: $o" ;;
			esac
		done
		[ "$(outcome a)" = ok ] && g1=$(applied_gen a)
		[ "$(outcome b)" = ok ] && g2=$(applied_gen b)
		cur=$(current)
		[ "$cur" = $((g1 > g2 ? g1 : g2)) ] ||
			fail "apply vs apply round $i: generations $g1 and $g2 applied, $cur current"
		holds_current "apply vs apply round $i"
	done
	echo "PASS: apply vs apply: $ROUNDS_APPLY rounds ($locked applies gave up with --wait 0)"

	# apply and rollback at once: either order, never a mix
	for i in $(seq 1 "$ROUNDS_ROLLBACK"); do
		c0=$(current) p0=$(previous)
		bg a apply -k "${policies[i % 3]}"
		bg b rollback
		wait
		[ "$(outcome a)" = ok ] && [ "$(outcome b)" = ok ] ||
			fail "apply vs rollback round $i: apply $(outcome a), rollback $(outcome b)"
		applied_gen a >>"$gens"
		g1=$(applied_gen a) r=$(rolled_to b) cur=$(current)
		# apply first: rollback returns to c0; rollback first: to p0, then apply is current
		{ [ "$cur" = "$r" ] && [ "$r" = "$c0" ]; } || { [ "$cur" = "$g1" ] && [ "$r" = "$p0" ]; } ||
			fail "apply vs rollback round $i: before $c0 (after $p0), applied $g1, rolled back to $r, now $cur"
		holds_current "apply vs rollback round $i"
	done
	echo "PASS: apply vs rollback: $ROUNDS_ROLLBACK rounds, each in one order or the other"

	# nft commits between sagate's read and its commit: refused, nothing
	# overwritten; the next apply carries what nft added
	for i in $(seq 1 "$ROUNDS_NFT"); do
		c0=$(current)
		rm -f "$tmp/go" "$tmp/go.paused" "$tmp/a.rc"
		SAGATE_TEST_PAUSE=before-commit:$tmp/go bg a apply -k "${policies[i % 3]}"
		for _ in $(seq 1 1000); do	# the pause point says when it is there
			[ -e "$tmp/go.paused" ] || [ -e "$tmp/a.rc" ] && break
			sleep 0.01
		done
		if [ ! -e "$tmp/go.paused" ]; then
			fail "apply vs nft round $i: sagate never paused before its commit ($(outcome a))"
			touch "$tmp/go"
			wait
			continue
		fi
		# meanwhile the lock says who holds it, and a second writer gives up
		fg z --wait 0 rollback
		holder=$(sed -n 's/^pid \([0-9]*\): apply$/\1/p' "$SAGATE_STATE_DIR/lock")
		[ "$(outcome z)" = locked ] && grep -q "(pid $holder: apply)" "$tmp/z.err" ||
			fail "apply vs nft round $i: a rollback beside the paused apply: $(outcome z) (holder ${holder:-?})"
		if [ $((i % 2)) = 0 ]; then
			in_ns nft add element inet sagate ipsec_bound "{ $((0x80000000 + i)) . $i }"
		else
			in_ns nft add table inet race$i
		fi
		touch "$tmp/go"
		wait
		o=$(outcome a)
		[ "$o" = moved ] && moved=$((moved + 1)) || fail "apply vs nft round $i: $o"
		[ "$(current)" = "$c0" ] || fail "apply vs nft round $i: current moved from $c0 to $(current)"
		holds_current "apply vs nft round $i"
		if [ $((i % 2)) = 0 ]; then
			in_ns nft list set inet sagate ipsec_bound | grep -q "$(printf '0x%08x . %d' $((0x80000000 + i)) "$i")" ||
				fail "apply vs nft round $i: the binding nft added was overwritten"
		fi
		fg b apply -k "${policies[i % 3]}"
		[ "$(outcome b)" = ok ] && applied_gen b >>"$gens" || fail "apply vs nft round $i, again: $(outcome b)"
		if [ $((i % 2)) = 0 ]; then
			in_ns nft list set inet sagate ipsec_bound | grep -q "$(printf '0x%08x . %d' $((0x80000000 + i)) "$i")" ||
				fail "apply vs nft round $i: the next apply did not carry the binding over"
		else
			in_ns nft delete table inet race$i
		fi
		holds_current "apply vs nft round $i, again"
	done
	echo "PASS: apply vs nft: $ROUNDS_NFT rounds, $moved commits refused for a changed ruleset, none overwrote it"
	gens_whole "$gens" "lane 1"
	echo "PASS: lane 1: generations 1..$(wc -l <"$gens"), each applied once"
}

# --- lane 2: apply vs the confirm watcher's rollback ------------------------
lane2() {
	ns=$ns2
	export SAGATE_STATE_DIR=$tmp/state2
	local gens=$tmp/gens2 i n o c0 g1 g2 refused=0 cur
	: >"$gens"
	fg w0 apply -k "${policies[0]}"
	applied_gen w0 >>"$gens"
	for i in $(seq 1 "$ROUNDS_WATCHER"); do
		c0=$(current)
		fg wa apply -k --confirm 1 "${policies[i % 3]}"
		[ "$(outcome wa)" = ok ] || { fail "watcher round $i: apply --confirm: $(outcome wa)"; continue; }
		g1=$(applied_gen wa)
		echo "$g1" >>"$gens"
		# applies keep coming, before, at and after the deadline
		for n in $(seq 1 200); do
			fg wb apply -k "${policies[(i + 1) % 3]}"
			o=$(outcome wb)
			[ "$o" = ok ] && break
			[ "$o" = pending ] && refused=$((refused + 1)) && sleep 0.02 && continue
			fail "watcher round $i: apply beside the watcher: $o"
			break
		done
		[ "$o" = ok ] || { fail "watcher round $i: no apply got through"; continue; }
		g2=$(applied_gen wb)
		echo "$g2" >>"$gens"
		cur=$(current)
		# the watcher went back to c0 before the apply: g1 < g2, the
		# apply current with c0 as its rollback target
		[ "$cur" = "$g2" ] && [ "$g2" -gt "$g1" ] && [ "$(previous)" = "$c0" ] ||
			fail "watcher round $i: before $c0, unconfirmed $g1, applied $g2; now $cur after $(previous)"
		[ -e "$SAGATE_STATE_DIR/pending" ] && fail "watcher round $i: a pending confirm is left"
		holds_current "watcher round $i"
	done
	echo "PASS: apply vs the confirm watcher: $ROUNDS_WATCHER rounds ($refused applies refused while the confirm waited)"
	gens_whole "$gens" "lane 2"
	echo "PASS: lane 2: generations 1..$(wc -l <"$gens"), each applied once"
}

lane1 >"$tmp/lane1.log" 2>&1 &
l1=$!
lane2 >"$tmp/lane2.log" 2>&1 &
l2=$!
wait $l1 $l2
cat "$tmp/lane1.log" "$tmp/lane2.log"
pass=$(cat "$tmp/lane1.log" "$tmp/lane2.log" | grep -c '^PASS:')
fail=$(cat "$tmp/lane1.log" "$tmp/lane2.log" | grep -c '^FAIL:')
echo "$((ROUNDS_APPLY + ROUNDS_ROLLBACK + ROUNDS_NFT + ROUNDS_WATCHER)) rounds in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
summary
