#!/bin/bash
# sagate history and rollback --to on the host kernel, in a throwaway
# network namespace with its own state directory, replaying issue 17's
# admin: apply A, apply B --confirm 2, let it expire; then `rollback`
# must not re-apply B (nor `restore` at boot load it), `history` shows B
# rolled back by expiry and who applied what from where, `rollback --to`
# goes to a chosen generation (B included), and a generation that does
# not exist or is damaged is refused with the kernel left alone.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
netns_require_root
ns=sgt-history-$$
netns_throwaway "$ns"
export SAGATE_STATE_DIR=$tmp/state
. "$top/tests/lib/netns-cli.sh"
. "$top/tests/lib/incr.sh"
hist() {	# GEN JQ: jq of generation GEN of `history --json`, compact
	sg --json history | jq -c ".generations[] | select(.generation == $1) | $2"
}
expired() {	# the watcher acted (it ends by removing the pending record)
	for _ in $(seq 1 100); do
		[ -e "$SAGATE_STATE_DIR/pending" ] || return 0
		sleep 0.1
	done
	bad "the confirm watcher did not act in 10 s"
}
cd "$top" || exit 1
A=policies/db-server.json B=policies/web-server.json C=policies/bastion.json

# --- the reported sequence ---------------------------------------------
sg apply -k "$A" >/dev/null || bad "apply A"
incr_norm "$ns" >"$tmp/A"
sg apply -k --full --confirm 2 "$B" >/dev/null || bad "apply B --confirm 2"
incr_norm "$ns" >"$tmp/B"
expired
same_table "$ns" "$tmp/A" "B not confirmed: A is back at the deadline"
[ "$(sg --json status | jq -r '.previous_generation // "none"')" = none ] &&
	ok "status offers no rollback to B" || bad "status: $(sg --json status | jq -c .previous_generation)"
sg rollback >/dev/null
rc=$?
[ $rc -eq 1 ] && ok "rollback after the expiry refuses (exit 1)" || bad "rollback after the expiry: exit $rc"
said "no previous policy to return to" "and says there is nothing to return to"
same_table "$ns" "$tmp/A" "rollback does not re-apply B"

# --- history ------------------------------------------------------------
[ "$(hist 2 '[.outcome, .rolled_back.by, .rolled_back.to, .current]')" = '["rolled-back","expiry",1,false]' ] &&
	ok "history: B rolled back by expiry, to generation 1" || bad "history of B: $(hist 2 .)"
[ "$(hist 2 '[.applied_by.uid, .applied_by.user, .applied_by.command, .source_path, .mode, .confirm_seconds]')" = \
	"[0,\"root\",\"apply\",\"$top/$B\",\"kernel-only\",2]" ] &&
	ok "history: who applied B, how, from which file (absolute)" || bad "history of B: $(hist 2 .)"
[ "$(hist 2 .sha256)" = "$(in_ns "$sagate" --json check "$B" | jq -c .sha256)" ] &&
	ok "history: B's digest is the one check gives the file" || bad "digest: $(hist 2 .sha256)"
[ "$(hist 1 '[.outcome, .current, .reinstated.command]')" = '["live",true,"expiry"]' ] &&
	ok "history: A live again, by the expiry" || bad "history of A: $(hist 1 .)"
sg history >"$tmp/out"
grep -q '^  2 .* root (uid 0) apply .*rolled back by expiry at ' "$tmp/out" &&
	grep -q "^\* 1 .* live again by expiry at .* $top/$A\$" "$tmp/out" &&
	[ "$(grep -c . "$tmp/out")" = 3 ] &&
	ok "history: a header and one line per generation, current marked" ||
	bad "history text: $(cat "$tmp/out")"

# --- an admin's rollback rejects too -------------------------------------
sg apply -k "$C" >/dev/null || bad "apply C"
sg rollback >/dev/null && ok "rollback from C" || bad "rollback from C"
same_table "$ns" "$tmp/A" "A is back"
[ "$(hist 3 '[.outcome, .rolled_back.by, .rolled_back.command]')" = '["rolled-back","admin","rollback"]' ] &&
	ok "history: C rolled back by the admin" || bad "history of C: $(hist 3 .)"
sg rollback >/dev/null
[ $? -eq 1 ] && same_table "$ns" "$tmp/A" "a second rollback returns to neither B nor C" ||
	bad "second rollback did not refuse"

# --- rollback --to ------------------------------------------------------
sg rollback --to 2 >"$tmp/out" && grep -q '^rolled back to generation 2 ' "$tmp/out" &&
	ok "rollback --to 2: chosen explicitly, B comes back" || bad "rollback --to 2: $(cat "$tmp/out" "$tmp/stderr")"
same_table "$ns" "$tmp/B" "the kernel holds B"
[ "$(sg --json status | jq -c '[.applied.generation, .previous_generation, .kernel]')" = \
	'[2,1,"matches the applied policy"]' ] && ok "status: B current, A its rollback target" ||
	bad "status after --to: $(sg --json status | jq -c .)"
[ "$(hist 2 '[.outcome, .reinstated.command, .rolled_back]')" = '["live","rollback --to",null]' ] &&
	ok "history: B live again by rollback --to, no longer marked" || bad "history of B: $(hist 2 .)"
sg rollback >/dev/null && same_table "$ns" "$tmp/A" "a plain rollback then returns to A" || bad "rollback after --to"

# --- bad N ----------------------------------------------------------------
sg rollback --to 99 >/dev/null
rc=$?
[ $rc -eq 1 ] && ok "rollback --to 99: exit 1" || bad "rollback --to 99: exit $rc"
said "no generation 99 in the state directory" "and says there is no such generation"
sg rollback --to 1 >/dev/null
[ $? -eq 1 ] && ok "rollback --to the current generation: exit 1" || bad "rollback --to current"
said "generation 1 is already current" "and says so"
usage=0
for arg in x 0 -1 1x; do
	sg rollback --to "$arg" >/dev/null
	rc=$?
	[ $rc -eq 2 ] && grep -q -- "--to takes a generation number" "$tmp/stderr" && usage=$((usage + 1)) ||
		bad "rollback --to $arg: exit $rc, $(cat "$tmp/stderr")"
done
[ $usage = 4 ] && ok "rollback --to x / 0 / -1 / 1x: usage errors (exit 2)"
# damaged: another valid policy in place of C's copy (only the digest tells)
ruleset >"$tmp/now"
printf '{"version": 1, "rules": [{"name": "all", "action": "permit"}]}\n' \
	>"$SAGATE_STATE_DIR/gen-000003/policy.json"
sg rollback --to 3 >/dev/null
rc=$?
[ $rc -eq 3 ] && ok "rollback --to a damaged generation: exit 3" || bad "rollback --to 3: exit $rc"
said "generation 3 is damaged: policy.json does not match the digest" "and says it is damaged"
same_as "$tmp/now" "and leaves the kernel as it was"
[ "$(readlink "$SAGATE_STATE_DIR/current")" = gen-000001 ] && ok "and current as it was" ||
	bad "current is $(readlink "$SAGATE_STATE_DIR/current")"
echo '{"source": 1}' >"$SAGATE_STATE_DIR/gen-000003/meta.json"
sg rollback --to 3 >/dev/null
rc=$?
[ $rc -eq 3 ] && grep -q "generation 3 is damaged (its meta.json)" "$tmp/stderr" &&
	ok "rollback --to a generation whose meta.json is damaged: refused" ||
	bad "rollback --to 3 (meta): exit $rc, $(cat "$tmp/stderr")"
same_as "$tmp/now" "and leaves the kernel as it was"
[ "$(hist 3 .outcome)" = '"damaged"' ] && [ "$(sg --json history | jq '.generations | length')" = 3 ] &&
	ok "history lists a damaged generation as damaged, and the others" || bad "history: $(sg --json history)"

# --- a generation written before who and where were recorded -------------
# (older sagate recorded the source as named on the command line, relative)
jq -c --arg b "$B" 'del(.applied_by, .source_path, .confirm) | .source = $b' \
	"$SAGATE_STATE_DIR/gen-000002/meta.json" >"$tmp/m"
cp "$tmp/m" "$SAGATE_STATE_DIR/gen-000002/meta.json"
[ "$(hist 2 '[.applied_by, .source_path, .source, .confirm_seconds]')" = "[null,null,\"$B\",0]" ] &&
	ok "history --json: an older generation's applied_by and source_path are null" ||
	bad "older generation: $(hist 2 .)"
sg history >"$tmp/out"
grep -q "^  2 .* unknown .* unknown (recorded as $B, relative)\$" "$tmp/out" &&
	ok "history: an older generation lists, what it lacks unknown" || bad "history text: $(cat "$tmp/out")"

# --- restore at boot never loads the generation the expiry rejected ------
export SAGATE_STATE_DIR=$tmp/state-boot
sg apply -k "$A" >/dev/null && sg apply -k --confirm 1 "$B" >/dev/null || bad "apply A, B --confirm 1"
expired
same_table "$ns" "$tmp/A" "B not confirmed: A is back"
echo garbage >"$SAGATE_STATE_DIR/gen-000001/policy.json"	# then A is damaged
sg flush >/dev/null
sg restore >/dev/null
rc=$?
[ $rc -eq 3 ] && ok "restore with A damaged: nothing usable, exit 3" || bad "restore: exit $rc"
said "no usable generation to restore" "and says so"
! ruleset | grep -q 'table inet sagate' && ok "restore did not load B, the rejected one" ||
	bad "restore loaded: $(ruleset | grep -o 'comment "sagate policy [^ ]*')"

summary
