#!/bin/bash
# sagate apply / --dry-run / rollback / --confirm / confirm / flush on the
# host kernel, each in a throwaway network namespace with its own state
# directory: what the kernel holds is compared with `nft list ruleset`
# before and after (nft only reads here); after a rollback, which sends
# only the difference, table inet sagate's content (same_table).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
ns=sgt-apply-$$
tmp=$(mktemp -d)
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/incr.sh"
netns_require_root
cleanup() {
	ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns" || exit 1
export SAGATE_STATE_DIR=$tmp/state
in_ns() { ip netns exec "$ns" "$@"; }
sg() { in_ns "$sagate" "$@" 2>>"$tmp/stderr"; }
ruleset() { in_ns nft list ruleset; }
same_as() {	# FILE DESC: the live ruleset is byte-identical to FILE
	if ruleset | diff -u "$1" - >"$tmp/diff"; then ok "$2"; else bad "$2"; cat "$tmp/diff"; fi
}
cd "$top" || exit 1

# a foreign table that must survive everything
in_ns nft -f - <<'NFT'
table inet filter {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 9999 counter accept
	}
}
NFT
ruleset >"$tmp/foreign"

sg apply --dry-run -k policies/db-server.json >/dev/null &&
	same_as "$tmp/foreign" "dry run on an empty firewall changes nothing" ||
	bad "dry run failed"

sg apply -k policies/db-server.json >/dev/null && ok "apply db-server" || bad "apply db-server"
ruleset >"$tmp/db"
incr_norm "$ns" >"$tmp/db.t"
grep -q "comment \"sagate policy $top/policies/db-server.json" "$tmp/db" &&
	ok "the table names its source policy" || bad "table comment"
grep -q "tcp dport 9999" "$tmp/db" && ok "the foreign table survived apply" || bad "foreign table lost"

st=$(SAGATE_STATE_DIR=$SAGATE_STATE_DIR in_ns "$sagate" --json status)
[ "$(jq -r .kernel <<<"$st")" = "matches the applied policy" ] &&
	[ "$(jq -r .applied.source <<<"$st")" = "$top/policies/db-server.json" ] &&
	ok "status: the kernel holds the applied policy" || bad "status: $st"
n=$(in_ns "$sagate" --json list | jq '.rules | length')
[ "$n" = 6 ] && ok "list: one line per policy rule" || bad "list: $n rules"

sg apply --dry-run -k policies/web-server.json >/dev/null
same_as "$tmp/db" "dry run over a live policy changes nothing"

printf '{"version": 1, "rules": [{"name": "x", "action": "permit", "peers": "10.0.0.1/8"}]}' >"$tmp/bad.json"
sg apply -k "$tmp/bad.json" >/dev/null
rc=$?
[ $rc -eq 1 ] && ok "a bad policy is refused with exit 1" || bad "bad policy: exit $rc"
same_as "$tmp/db" "a bad policy leaves the live firewall as it was"

sg apply -k --full policies/web-server.json >/dev/null && ok "apply web-server over db-server" || bad "apply web-server"
ruleset >"$tmp/web"
incr_norm "$ns" >"$tmp/web.t"
sg rollback >/dev/null && ok "rollback" || bad "rollback"
# a rollback sends only the difference: the table comment stays, elements
# may be listed in another order (sagate(8), Incremental apply)
same_table "$ns" "$tmp/db.t" "rollback restores the previous table"
# the policy rolled back is never a rollback's target again; --to can
# still choose it
in_ns "$sagate" rollback >/dev/null 2>"$tmp/again"
[ $? -eq 1 ] && grep -q 'no previous policy to return to' "$tmp/again" &&
	ok "a second rollback does not return to the policy it rolled back" ||
	bad "second rollback: $(cat "$tmp/again")"
same_table "$ns" "$tmp/db.t" "and changes nothing"
sg rollback --to 2 >/dev/null && ok "rollback --to 2" || bad "rollback --to 2"
same_table "$ns" "$tmp/web.t" "rollback --to goes forward again"

# commit-confirm: not confirmed -> rolled back at the deadline
sg apply -k --confirm 2 policies/bastion.json >/dev/null && ok "apply --confirm" || bad "apply --confirm"
grep -q bastion <(ruleset) && ok "the unconfirmed policy is live at first" || bad "bastion not live"
sg apply -k policies/db-server.json >/dev/null
[ $? -eq 2 ] && ok "a second apply is refused while a confirm is pending" ||
	bad "apply while pending was not refused"
for _ in $(seq 1 50); do	# wait for the event, not a fixed time
	[ -e "$SAGATE_STATE_DIR/pending" ] || break
	sleep 0.2
done
same_table "$ns" "$tmp/web.t" "an unconfirmed apply is rolled back at the deadline"
in_ns "$sagate" status | grep -q '^confirm: .*was not confirmed by .*: rolled back at' &&
	ok "status shows the watcher's rollback" || bad "status after the watcher's rollback"
in_ns "$sagate" confirm 2>"$tmp/late"
[ $? -eq 1 ] && grep -q 'nothing to confirm: already rolled back at' "$tmp/late" &&
	ok "a late confirm says it was already rolled back" || bad "late confirm: $(cat "$tmp/late")"

# confirmed in time -> stays
sg apply -k --confirm 3 policies/bastion.json >/dev/null
ruleset >"$tmp/bastion"
sg confirm >/dev/null && ok "confirm" || bad "confirm"
sleep 4
same_as "$tmp/bastion" "a confirmed apply stays after its deadline"
sg confirm >/dev/null
[ $? -eq 1 ] && ok "confirm with nothing pending says so (exit 1)" || bad "confirm twice"

sg flush >/dev/null && ok "flush" || bad "flush"
same_as "$tmp/foreign" "flush removes table inet sagate and nothing else"
[ "$(in_ns "$sagate" --json status | jq -r .kernel)" = missing ] &&
	ok "status after flush: the table is missing" || bad "status after flush"
sg flush >/dev/null && ok "flush without a table is not an error" || bad "second flush"

# --confirm on the very first apply: the state before it had no table
SAGATE_STATE_DIR=$tmp/state-first in_ns "$sagate" flush >/dev/null 2>&1
SAGATE_STATE_DIR=$tmp/state-first in_ns "$sagate" apply -k --confirm 1 policies/db-server.json >/dev/null 2>&1
for _ in $(seq 1 50); do
	[ -e "$tmp/state-first/pending" ] || break
	sleep 0.2
done
same_as "$tmp/foreign" "an unconfirmed first apply is undone: no table, as before it"

# apply --confirm killed after the kernel took the table, before it was
# recorded: the watcher, started before the kernel changed, puts the
# recorded policy back at its deadline
sg apply -k --full policies/db-server.json >/dev/null
incr_norm "$ns" >"$tmp/db3.t"
SAGATE_TEST_PAUSE=before-switch:$tmp/go in_ns "$sagate" apply -k --full --confirm 2 policies/web-server.json \
	>/dev/null 2>&1 &
for _ in $(seq 1 500); do [ -e "$tmp/go.paused" ] && break; sleep 0.01; done
pid=$(sed -n 's/^pid \([0-9]*\): apply$/\1/p' "$SAGATE_STATE_DIR/lock")	# sagate itself
kill -9 "$pid"
wait
rm -f "$tmp/go.paused"
grep -q web-server <(ruleset) && [ "$(in_ns "$sagate" --json status | jq -r .kernel)" = \
	"differs from the applied policy" ] && ok "apply killed between commit and record: status sees it" ||
	bad "apply killed between commit and record: $(in_ns "$sagate" --json status | jq -c .kernel)"
for _ in $(seq 1 50); do	# the watcher ends once it has acted
	[ "$(in_ns "$sagate" --json status | jq -r .kernel)" = "matches the applied policy" ] && break
	sleep 0.2
done
same_table "$ns" "$tmp/db3.t" "its watcher put the recorded policy back at the deadline"

# a cancelled confirm's timer must not roll back a later apply
sg apply -k policies/db-server.json >/dev/null
sg apply -k --confirm 2 policies/web-server.json >/dev/null
sg rollback >/dev/null
sg apply -k --confirm 60 policies/bastion.json >/dev/null
ruleset >"$tmp/bastion2"
sleep 3
same_as "$tmp/bastion2" "rollback stopped the old timer: a later apply is not rolled back by it"
sg confirm >/dev/null && ok "the later apply's confirm is still pending and confirms" ||
	bad "the later confirm was lost"

# a pending confirm whose timer is gone (reboot: nobody holds its lock)
# does not block applies; nor does one an older sagate wrote
cur=$(readlink "$SAGATE_STATE_DIR/current")
printf '{"generation": %d, "replaces": 1, "deadline": 1, "token": "0"}\n' $((10#${cur#gen-})) \
	>"$SAGATE_STATE_DIR/pending"
in_ns "$sagate" status | grep -q "^confirm: .*pending, but its timer is gone" &&
	ok "status: a pending confirm nobody holds has no timer" || bad "status of an orphaned confirm"
sg apply -k policies/db-server.json >/dev/null && ok "a stale pending confirm is dropped, apply goes on" ||
	bad "a stale pending confirm blocked apply"
grep -q "dropped a pending confirm whose timer is gone" "$tmp/stderr" &&
	ok "apply says it dropped the orphaned confirm" || bad "no word of the dropped confirm"
printf '{"generation": 1, "deadline": 1, "watcher": 999999}\n' >"$SAGATE_STATE_DIR/pending"
sg apply -k policies/db-server.json >/dev/null && ok "an older sagate's pending record is dropped too" ||
	bad "an older pending record blocked apply"

# a state directory others may write is refused, before anything changes
# (whoever writes there chooses what the firewall loads)
mkdir -m 0700 "$tmp/open-state"
chmod 0777 "$tmp/open-state"
ruleset >"$tmp/before-open"
SAGATE_STATE_DIR=$tmp/open-state in_ns "$sagate" apply -k policies/web-server.json \
	>/dev/null 2>"$tmp/open-err"
rc=$?
want="$tmp/open-state: error: the state directory may be written by any user (mode 0777), who could then choose what the firewall loads: run \`chmod go-w $tmp/open-state\`"
if [ $rc -eq 3 ] && grep -qxF "$want" "$tmp/open-err"; then
	ok "a world-writable state directory is refused (exit 3)"
else
	bad "world-writable state directory: exit $rc, $(cat "$tmp/open-err")"
fi
same_as "$tmp/before-open" "and nothing was applied"
[ -z "$(ls "$tmp/open-state")" ] && ok "nor recorded" || bad "recorded: $(ls "$tmp/open-state")"

# a killed apply: the transaction is one sendmsg, so the kernel holds the
# old ruleset or the new one, never a mix.  The kills are spread over the
# time a whole apply takes, so some land while the kernel works.
bench/gen-policy 10000 7 >"$tmp/big.json"
t0=$(date +%s%N)
sg apply -k "$tmp/big.json" >/dev/null
full=$((($(date +%s%N) - t0) / 1000000))
sg apply -k policies/db-server.json >/dev/null
ruleset >"$tmp/db2"
killed=0
for pct in 10 30 50 70 85 95; do
	delay=$(awk -v ms="$full" -v p="$pct" 'BEGIN { printf "%.3f", ms * p / 100000 }')
	in_ns "$sagate" apply -k "$tmp/big.json" >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
	wait "$pid" 2>/dev/null
	ruleset >"$tmp/now"
	if cmp -s "$tmp/now" "$tmp/db2"; then
		:
	elif grep -q "big.json" "$tmp/now" && grep -q 'comment "r9999"' "$tmp/now"; then
		cp "$tmp/now" "$tmp/db2"	# the kill came after the commit
	else
		bad "after kill -9 at ${delay}s the ruleset is neither the old nor the new one"
		continue
	fi
done
ok "apply killed $killed times: the kernel always held a whole ruleset"

# many findings of one kind: apply shows the first 5 and counts the rest,
# --all-findings shows each, --json holds each; the exit status is 0 all
# the same (findings are warnings)
{
	printf '{"version": 1, "rules": [{"name": "wide", "action": "permit", "peers": "10.0.0.0/8", "protocol": "tcp", "ports": [80]}'
	for i in 0 1 2 3 4 5 6 7; do
		printf ', {"name": "r%d", "action": "require-ipsec", "peers": "192.0.2.%d", "protocol": "tcp", "ports": [%d]}' \
			"$i" $((i + 1)) $((1000 + i))
	done
	printf ']}\n'
} >"$tmp/many.json"
in_ns "$sagate" apply -k "$tmp/many.json" >/dev/null 2>"$tmp/many.err"; rc=$?
[ "$rc" = 0 ] && [ "$(grep -c ' warning: ESP from .*\[ipsec-unreachable\]$' "$tmp/many.err")" = 5 ] &&
	grep -qxF "$tmp/many.json: warning: ... and 3 more of this kind, not shown (--all-findings shows them all) [ipsec-unreachable]" "$tmp/many.err" &&
	grep -q '(rule "wide"): warning: .*\[cleartext-wide\]$' "$tmp/many.err" &&
	ok "apply of 8 ipsec-unreachable: 5 shown, \"... and 3 more\", the other kind shown, exit 0" ||
	bad "apply of many findings: exit $rc: $(cat "$tmp/many.err")"
in_ns "$sagate" apply -k --all-findings "$tmp/many.json" >/dev/null 2>"$tmp/many.err"; rc=$?
[ "$rc" = 0 ] && [ "$(grep -c ' warning: ESP from .*\[ipsec-unreachable\]$' "$tmp/many.err")" = 8 ] &&
	! grep -q 'more of this kind' "$tmp/many.err" &&
	ok "apply --all-findings: all 8, no count line, exit 0" || bad "apply --all-findings: exit $rc: $(cat "$tmp/many.err")"
n=$(in_ns "$sagate" --json apply -k "$tmp/many.json" 2>/dev/null | jq '[.diagnostics[] | select(.kind == "ipsec-unreachable")] | length')
[ "$n" = 8 ] && ok "apply --json: all 8 findings" || bad "apply --json: $n ipsec-unreachable findings"

summary
