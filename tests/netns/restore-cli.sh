#!/bin/bash
# sagate restore on the host kernel, in a throwaway network namespace with
# its own state directory and a foreign table that must survive: the
# confirmed generation comes back exactly as applied; a damaged one falls
# back to the one before it, loudly; an apply --confirm whose watcher died
# is rolled back (one whose watcher runs is left alone); nothing usable
# fails, says what to do and leaves the kernel alone.  (The same at a real boot under systemd:
# tests/vm/boot-restore.sh.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
netns_require_root
ns=sgt-restore-$$
netns_throwaway "$ns"
export SAGATE_STATE_DIR=$tmp/state
. "$top/tests/lib/netns-cli.sh"
current() { readlink "$SAGATE_STATE_DIR/current"; }
restores() {	# STATUS DESC [PATTERN]: `sagate restore` exits STATUS (and prints PATTERN)
	local rc
	sg restore >"$tmp/out"
	rc=$?
	if [ $rc -eq "$1" ] && { [ -z "${3:-}" ] || grep -q -- "$3" "$tmp/out"; }; then
		ok "$2"
	else
		bad "$2: exit $rc, $(cat "$tmp/out" "$tmp/stderr")"
	fi
}
# the watcher of the pending confirm gone, as with the machine that ran it
kill_watcher() {
	local w= p f rec
	# the watcher is the process that holds the pending record open (and
	# flock(2)ed: /proc/locks names the process that took the lock, which
	# may be the parent it was forked from)
	rec=$(readlink -f "$SAGATE_STATE_DIR/pending")
	for p in /proc/[0-9]*; do
		for f in "$p"/fd/*; do
			[ "$(readlink "$f" 2>/dev/null)" = "$rec" ] && w=${p#/proc/} && break 2
		done
	done
	[ -n "$w" ] || { bad "no process holds the pending record"; return; }
	kill -9 "$w"
	for _ in $(seq 1 50); do	# dead (a zombie counts) rather than dying
		[ -e "/proc/$w" ] && ! grep -q ') Z ' "/proc/$w/stat" 2>/dev/null || break
		sleep 0.1
	done
}
cd "$top" || exit 1

in_ns nft add table inet filter
in_ns nft add chain inet filter input '{ type filter hook input priority 10; policy accept; }'
ruleset >"$tmp/foreign"

restores 1 "nothing applied yet: restore exits 1"
said "nothing to restore: no policy was ever applied" "and says there is nothing to restore"
said "sagate apply FILE" "and what to do"
same_as "$tmp/foreign" "and leaves the kernel alone"

sg apply -k policies/db-server.json >/dev/null || bad "apply db-server"
ruleset >"$tmp/db"
sg flush >/dev/null
sg restore --dry-run >"$tmp/out" && grep -q "^dry run: the kernel accepts generation 1 " "$tmp/out" &&
	ok "restore --dry-run: the kernel accepts generation 1" || bad "dry run: $(cat "$tmp/out" "$tmp/stderr")"
same_as "$tmp/foreign" "a dry run changes nothing"
restores 0 "restore after a flush" \
	"^restored generation 1 (kernel-only mode, applied from $top/policies/db-server.json): [0-9]* kernel rules, 26 set elements$"
same_as "$tmp/db" "the restored ruleset is the applied one, byte for byte"
[ "$(in_ns "$sagate" --json status | jq -r .kernel)" = "matches the applied policy" ] &&
	ok "status: the kernel holds the applied policy" || bad "status after restore"
sg restore >/dev/null && same_as "$tmp/db" "restore over a live table replaces it with the same"

# a damaged current generation: the one before it, loudly
sg apply -k policies/web-server.json >/dev/null || bad "apply web-server"
# another valid policy in its place: only the digest tells
printf '{"version": 1, "rules": [{"name": "all", "action": "permit"}]}\n' \
	>"$SAGATE_STATE_DIR/gen-000002/policy.json"
sg flush >/dev/null
restores 0 "a damaged current generation: restore goes back to generation 1" "^restored generation 1 "
said "state: warning: generation 2 is damaged (policy.json does not match the digest meta.json records" \
	"a warning names the damaged generation and what is wrong"
same_as "$tmp/db" "the kernel holds generation 1"
[ "$(current)" = gen-000001 ] && ok "current names what the kernel holds" || bad "current is $(current)"
sg --json restore >"$tmp/json"
# current is generation 1 now, and undamaged: nothing to report
[ "$(jq -c '[.generation, .rolled_back, .damaged]' "$tmp/json")" = '[1,null,[]]' ] &&
	ok "--json restore: generation, rolled_back, damaged" || bad "json: $(cat "$tmp/json")"
echo garbage >"$SAGATE_STATE_DIR/gen-000001/policy.json"
sg --json restore >"$tmp/json"
rc=$?
# (the damaged generation 2 that restore passed over is no rollback
# target of generation 1: only 1 is a candidate)
[ $rc -eq 3 ] && [ "$(jq -c '[.ok, .generation, [.damaged[].generation]]' "$tmp/json")" = '[false,null,[1]]' ] &&
	jq -e '.damaged[0].reason | startswith("policy.json: invalid JSON")' "$tmp/json" >/dev/null &&
	ok "--json: the only candidate damaged, with its reason, exit 3" || bad "json, all damaged: exit $rc, $(cat "$tmp/json")"
same_as "$tmp/db" "nothing usable: the kernel is left as it was"
restores 3 "the same in text: exit 3"
said "no usable generation to restore: nothing was loaded" "and the text says nothing was loaded"
said "sagate apply FILE" "and what to do"

# an apply --confirm whose watcher died (a reboot) is rolled back
rm -rf "$SAGATE_STATE_DIR"
sg apply -k policies/db-server.json >/dev/null
sg apply -k --confirm 600 policies/bastion.json >/dev/null || bad "apply --confirm"
ruleset >"$tmp/bastion"
restores 2 "while the confirm's watcher runs, restore refuses (exit 2)"
said "an apply --confirm is waiting for its confirm" "and says why"
same_as "$tmp/bastion" "and changes nothing"
[ -e "$SAGATE_STATE_DIR/pending" ] && ok "the confirm still waits" || bad "the pending confirm is gone"
kill_watcher
sg flush >/dev/null
restores 0 "an unconfirmed apply is rolled back to the generation before it" "^restored generation 1 "
said "generation 2 was applied with --confirm and never confirmed: rolled back to generation 1" "and says so"
same_as "$tmp/db" "the kernel holds the confirmed policy"
[ "$(current)" = gen-000001 ] && [ ! -e "$SAGATE_STATE_DIR/pending" ] &&
	ok "the state records the rollback: current is generation 1, no confirm pending" ||
	bad "state after the rollback: current $(current), $(ls "$SAGATE_STATE_DIR")"
[ "$(in_ns "$sagate" --json status | jq -r '[.kernel, .applied.generation, .previous_generation] | @tsv')" = \
	"$(printf 'matches the applied policy\t1\t')" ] &&
	ok "status agrees, and offers no rollback to the unconfirmed generation" || bad "status after the rollback"
[ "$(in_ns "$sagate" --json history | jq -c '.generations[] | select(.generation == 2) | [.outcome, .rolled_back.by, .rolled_back.command]')" = \
	'["rolled-back","expiry","restore"]' ] && ok "history: generation 2 rolled back by expiry, at restore" ||
	bad "history after restore: $(in_ns "$sagate" --json history)"

# the unconfirmed apply was the first one: nothing to go back to
rm -rf "$SAGATE_STATE_DIR"
sg flush >/dev/null
sg apply -k --confirm 600 policies/bastion.json >/dev/null
kill_watcher
sg flush >/dev/null
restores 1 "an unconfirmed first apply: nothing to restore, exit 1"
said "no policy was confirmed before generation 1" "and says why"
same_as "$tmp/foreign" "the unconfirmed policy is not loaded"
[ ! -e "$SAGATE_STATE_DIR/current" ] && [ ! -e "$SAGATE_STATE_DIR/pending" ] &&
	ok "nor recorded as current any more" || bad "state: $(ls "$SAGATE_STATE_DIR")"

summary
