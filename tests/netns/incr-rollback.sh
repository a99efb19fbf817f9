#!/bin/bash
# Incremental rollback on the host kernel, in throwaway network namespaces
# (kernel-only mode: this kernel may lack the nft queue expression).
# Namespace A rolls back; namespace B applies the same policy with --full,
# the table A must then hold (handles, counters and the table comment left
# out); C sends the packets A's probe rule counts.
#  1. `rollback` after two applies sends only the difference (--json
#     says so), the table is the full apply's, and the counter of the
#     unchanged probe element survives.
#  2. `rollback --to N`: the same.
#  3. `rollback --full` replaces the whole table: the counter starts
#     from zero.
#  4. A rollback killed between the kernel's commit and its switch of
#     current: the next command makes the target current (by its kept
#     plan, and with plan.bin gone by the table's content), says so, and
#     records the history the rollback would have; status then says the
#     kernel holds the current generation.
#  5. A rollback killed before the kernel's commit: the next command
#     leaves current as it was, says so, and the target generation stays.
#  6. An apply --confirm left to expire: the watcher's rollback sends
#     only the difference too (the probe counter survives).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/incr.sh"
netns_require_root
for t in python3 jq; do command -v $t >/dev/null || { echo "FAIL: $t is needed (tests/lib/deps.sh)" >&2; exit 1; }; done
a=sgt-irba-$$ b=sgt-irbb-$$ c=sgt-irbc-$$
netns_throwaway "$a" "$b" "$c"
sa() { ip netns exec "$a" "$sagate" -s "$tmp/sa" "$@"; }
sb() { ip netns exec "$b" "$sagate" -s "$tmp/sb" "$@"; }
cur() { readlink "$tmp/sa/current"; }
num() { echo $((10#${1#gen-})); }	# gen-000003 -> 3

incr_probe "$a" "$c" "$tmp/p1.json" || exit 1
for n in 2 3 4; do sed "s/\"ports\": \[22\]/\"ports\": [2$n]/" "$tmp/p1.json" >"$tmp/p$n.json"; done
probe() { incr_packets "$a" "$tmp/sa" probe; }
send() { incr_send "$c"; }
field() {	# FILE KEY: incremental.KEY of a --json output
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("incremental",{}).get(sys.argv[2]))' "$1" "$2" 2>/dev/null
}
# as_full DESC POLICY: A's table is B's after a full apply of POLICY
as_full() {
	sb apply -k --full "$tmp/$2" >/dev/null 2>&1 || bad "$1: the reference apply in B"
	if cmp -s <(incr_norm "$a") <(incr_norm "$b"); then
		ok "$1: the table is a full apply's"
	else
		bad "$1: the table differs from a full apply of $2"
		diff <(incr_norm "$a") <(incr_norm "$b") | head -20
	fi
}
# incremental DESC OUT: the --json output OUT says only the difference was sent
incremental() {
	[ "$(field "$2" done)" = True ] && ok "$1: only the difference was sent" ||
		bad "$1: not sent as a difference: $(cat "$2")"
}
# kept DESC N: the probe counter is N (what it was: it survived; 0: reset)
kept() {
	local now
	now=$(probe)
	[ "${now:-x}" = "$2" ] && ok "$1: the probe counter is $2" ||
		bad "$1: the probe counter is ${now:-unreadable}, $2 expected"
}
# paused POINT OUT ARGS...: sa ARGS run until test pause POINT, then
# killed; false when it never got there
paused() {
	local point=$1 out=$2 pid
	shift 2
	SAGATE_TEST_PAUSE=$point:$tmp/go sa "$@" >"$out" 2>&1 &
	pid=$!
	for _ in $(seq 200); do [ -e "$tmp/go.paused" ] && break; sleep 0.05; done
	if [ ! -e "$tmp/go.paused" ]; then
		wait "$pid"
		return 1
	fi
	# the paused sagate is the only process in namespace A
	kill -9 $(ip netns pids "$a") 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$tmp/go.paused" "$tmp/go"
	return 0
}
history_of() {	# GEN: [outcome, rolled_back.command, reinstated.command] in history
	sa --json history | python3 -c '
import json,sys
for g in json.load(sys.stdin)["generations"]:
    if g["generation"]==int(sys.argv[1]):
        print([g.get("outcome"), (g.get("rolled_back") or {}).get("command"), (g.get("reinstated") or {}).get("command")])' "$1"
}

# 1. rollback
sa apply -k "$tmp/p1.json" >/dev/null 2>&1 || bad "apply p1"
send
before=$(probe)
[ "${before:-0}" -ge 3 ] || bad "the probe rule counted ${before:-nothing}, 3 packets expected"
sa apply -k "$tmp/p2.json" >/dev/null 2>&1 || bad "apply p2"
sa --json rollback >"$tmp/o1" 2>"$tmp/e1" || bad "rollback: $(cat "$tmp/e1")"
[ "$(cur)" = gen-000001 ] && ok "rollback: generation 1 current" || bad "rollback: current is $(cur)"
incremental rollback "$tmp/o1"
kept rollback "$before"
as_full rollback p1.json

# 2. rollback --to
sa --json rollback --to 2 >"$tmp/o2" 2>"$tmp/e2" || bad "rollback --to 2: $(cat "$tmp/e2")"
[ "$(cur)" = gen-000002 ] && ok "rollback --to 2: generation 2 current" || bad "rollback --to 2: current is $(cur)"
incremental "rollback --to" "$tmp/o2"
kept "rollback --to" "$before"
as_full "rollback --to" p2.json

# 3. rollback --full (to generation 1: 2's rollback target after --to)
sa --json rollback --full >"$tmp/o3" 2>"$tmp/e3" || bad "rollback --full: $(cat "$tmp/e3")"
[ "$(field "$tmp/o3" done) $(field "$tmp/o3" fallback)" = "False --full" ] &&
	grep -q 'replaced the whole table (--full)' "$tmp/o3" && ok "rollback --full: says it replaced the whole table" ||
	bad "rollback --full: $(cat "$tmp/o3")"
kept "rollback --full" 0
as_full "rollback --full" p1.json

# 4. killed between the kernel's commit and the switch: generation 1 is
# the target each time, the table's comment still names the generation
# left
send
before=$(probe)
for how in kept content; do
	sa apply -k "$tmp/p3.json" >/dev/null 2>&1 || bad "$how: apply p3"
	left=$(cur)
	if ! paused rollback-before-switch "$tmp/o4" rollback; then
		bad "$how: the rollback never reached its pause before the switch: $(cat "$tmp/o4")"
		continue
	fi
	[ "$(cur)" = "$left" ] || bad "$how: current moved before the switch"
	[ "$how" = content ] && rm -f "$tmp/sa/gen-000001/plan.bin"
	sa status 2>&1 | grep -q "^unsettled: a rollback is running, or ended between the kernel's commit and its switch" &&
		[ "$(sa --json status 2>/dev/null | jq -r .unsettled)" = rollback ] &&
		ok "$how: status, before it is settled, says a rollback is unsettled" ||
		bad "$how: status before settling: $(sa status 2>&1)"
	sa confirm >/dev/null 2>"$tmp/e4"
	if [ "$(cur)" = gen-000001 ] &&
		grep -q "rollback from generation $(num "$left") to 1 .*ended between the kernel's commit and its switch" "$tmp/e4"; then
		ok "$how: the next command made the rollback's target current, and said so"
	else
		bad "$how: a rollback killed before its switch was not made current ($(cur)): $(cat "$tmp/e4")"
	fi
	sa status >"$tmp/s4" 2>&1 && grep -q 'kernel:    table inet sagate matches the applied policy' "$tmp/s4" &&
		ok "$how: status says the kernel holds the current generation" || bad "$how: status: $(cat "$tmp/s4")"
	[ "$(history_of "$(num "$left")")" = "['rolled-back', 'rollback', None]" ] &&
		[ "$(history_of 1 | cut -d, -f1,3)" = "['live', 'rollback']" ] &&
		ok "$how: history as the rollback would have written it" ||
		bad "$how: history: ${left}: $(history_of "$(num "$left")"), 1: $(history_of 1)"
	[ -e "$tmp/sa/rolling-back" ] && bad "$how: the record stays after it was settled"
	grep -q "^unsettled:" "$tmp/s4" && bad "$how: status still says unsettled after it was settled"
	kept "$how" "$before"
	as_full "$how" p1.json
done

# 5. killed before the kernel's commit (the difference's batch is built)
sa apply -k "$tmp/p4.json" >/dev/null 2>&1 || bad "apply p4"
left=$(cur)
if paused before-commit "$tmp/o5" rollback; then
	sa confirm >/dev/null 2>"$tmp/e5"
	[ "$(cur)" = "$left" ] && ok "before the commit: current stays" ||
		bad "before the commit: current $(cur), $left expected"
	grep -q "rollback to generation 1 ended before the kernel took it: generation $(num "$left") stays current" "$tmp/e5" &&
		ok "before the commit: the next command says what happened" ||
		bad "before the commit: the next command did not say what happened: $(cat "$tmp/e5")"
	[ -e "$tmp/sa/gen-000001/meta.json" ] && ok "before the commit: the target generation is kept" ||
		bad "before the commit: generation 1 was discarded"
	sa status 2>&1 | grep -q 'kernel:    table inet sagate matches the applied policy' &&
		ok "before the commit: status says the kernel holds the current generation" || bad "before the commit: status: $(sa status 2>&1)"
	as_full "before the commit" p4.json
else
	bad "the rollback never reached its pause before the commit: $(cat "$tmp/o5")"
fi

# 6. the confirm expires: the watcher's rollback (to p4) is incremental
send
before=$(probe)
sa apply -k --confirm 2 "$tmp/p2.json" >/dev/null 2>&1 || bad "apply --confirm 2"
for _ in $(seq 100); do [ -e "$tmp/sa/pending" ] || break; sleep 0.1; done
[ -e "$tmp/sa/pending" ] && bad "the confirm watcher did not act in 10 s"
[ "$(cur)" = "$left" ] && ok "expiry: rolled back to $left" || bad "expiry: current is $(cur)"
kept expiry "$before"
as_full expiry p4.json

summary
