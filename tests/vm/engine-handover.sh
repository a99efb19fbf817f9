#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run): the policy handed over to
# sagated with the kernel's table, with no window (handover.h).
# Policy: tests/vm/handover.json (PostgreSQL over AES-GCM only).  While a
# loop in the background keeps opening new flows over an AES-GCM SA:
#  - `sagate apply` of the same policy tightened to cbc(aes)+hmac(sha256):
#    from the moment apply returns, no new flow over AES-GCM is admitted:
#    every decision sagated logs after it is a drop-algorithm, and its
#    accept counter stands still; apply says sagated serves the new
#    generation on the other queue bank; status agrees;
#  - `sagate rollback`: admission again, from the moment it returns; it
#    sends only the difference, in which the queueing chain's rules are
#    replaced (the other bank);
#  - `sagate rollback --to 2` (the tightened generation, rolled back):
#    handed over as apply's was, drops again from the moment it returns;
#  - sagated started with --policy of another file: `sagate status` and
#    `sagate audit` report the mismatch as an error;
#  - sagated refusing the load (a queue bank it does not serve): the
#    apply changes nothing.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgvm-db-$$ net=sgvm-net-$$
export SAGATE_STATE_DIR=/tmp/sagate-vm-state-$$
export SAGATE_RUN_DIR=/tmp/sagate-vm-run-$$
log=/tmp/sagated-vm-$$.log
tight=/tmp/sagate-vm-tight-$$.json
stopf=/tmp/sagate-vm-stop-$$
dpid= spid= lpid=
cleanup() {
	touch "$stopf"
	[ -n "$lpid" ] && wait "$lpid" 2>/dev/null
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$SAGATE_STATE_DIR" "$SAGATE_RUN_DIR" "$log" "$tight" "$stopf"
}
trap cleanup EXIT

counter() { jq -r ".$1" "$SAGATE_RUN_DIR/sagated.json" 2>/dev/null; }
now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
# decisions on the AES-GCM SA logged after time T: "verdict reason" lines
# (the log also holds sagated's plain-text lines on stderr: skipped)
after() {
	jq -rR --arg t "$1" 'fromjson? | select(.verdict and .spi == "0x00001000" and .time > $t) | "\(.verdict) \(.reason)"' \
		"$log" 2>/dev/null
}
# wait_after T N: until N decisions on the SA were logged after T (10 s)
wait_after() {
	local i
	for i in $(seq 1 100); do
		[ "$(after "$1" | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# new flows app -> db:5432 until $stopf exists, ~10 a second (sagated
# logs at most 100 decisions a second: every one must be in the log)
flows_start() {
	rm -f "$stopf"
	ip netns exec "$net" python3 -c '
import os, socket, sys, time
while not os.path.exists(sys.argv[1]):
    s = socket.socket()
    s.settimeout(0.3)
    try:
        s.connect(("10.77.0.10", 5432))
    except OSError:
        pass
    s.close()
    time.sleep(0.1)
' "$stopf" &
	lpid=$!
}
flows_stop() { touch "$stopf"; wait "$lpid" 2>/dev/null; lpid=; }

site_up || { bad "namespaces"; summary; exit 1; }
cd "$top" || exit 1
jq --arg top "$top" '(.rules[] | select(.name == "postgresql") | .ipsec.algorithms) = ["aes128", "sha256"]
	| .include = [$top + "/rules/services.json", $top + "/rules/hosts.json"]' \
	tests/vm/handover.json >"$tight" || bad "tightened policy"

out=$(ip netns exec "$db" "$sagate" apply --queues 1 tests/vm/handover.json 2>&1)
grep -q "engine mode, generation 1" <<<"$out" && ok "apply handover.json: generation 1, engine mode" ||
	bad "apply: $out"
grep -q "no sagated listens here" <<<"$out" && ok "apply without sagated: says there was nothing to hand over" ||
	bad "apply without sagated: $out"
sa_up || bad "ESP (AES-GCM) SAs"
daemon_start || { bad "sagated not ready: $(cat "$log")"; summary; exit 1; }
log_has '"event":"ready"' '"generation":1' '"live_queue":0' &&
	ok "sagated serves generation 1 on queue 0 (bank A)" || bad "ready line: $(grep ready "$log")"
[ "$(ip netns exec "$db" awk '$1 <= 1' /proc/net/netfilter/nfnetlink_queue | wc -l)" = 2 ] &&
	ok "both banks bound: queues 0 and 1" ||
	bad "queues: $(ip netns exec "$db" cat /proc/net/netfilter/nfnetlink_queue)"
[ "$(stat -c %a "$SAGATE_RUN_DIR/sagated.ctl")" = 600 ] && ok "control socket: mode 0600" ||
	bad "control socket: $(ls -l "$SAGATE_RUN_DIR")"

ip netns exec "$db" python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.10", 5432))
s.listen(64)
while True:
    s.accept()[0].close()
' &
spid=$!
for i in $(seq 1 50); do
	ip netns exec "$db" ss -ltn | grep -q ':5432 ' && break
	sleep 0.1
done
r=$(tcp_probe "$net" $app $dbaddr 5432)	# also pins the source address
[ "$r" = open ] && ok "AES-GCM flow accepted under generation 1" || bad "AES-GCM flow: $r"

# --- tighten while flows keep arriving ---
t0=$(now)
flows_start
wait_after "$t0" 5 && [ -z "$(after "$t0" | grep -v '^accept ')" ] &&
	ok "background flows over AES-GCM: accepted ($(after "$t0" | wc -l) so far)" ||
	bad "background flows before the apply: $(after "$t0" | sort | uniq -c)"
out=$(ip netns exec "$db" "$sagate" apply --queues 1 "$tight" 2>&1)
rc=$?
t1=$(now)
acc1=$(counter accepted)
[ $rc = 0 ] && grep -q "generation 2" <<<"$out" && ok "apply of the tightened policy: generation 2" ||
	bad "apply tightened (exit $rc): $out"
grep -q "sagated serves generation 2 on queue 1" <<<"$out" &&
	ok "apply: sagated serves generation 2 on queue 1 (bank B) when it returns" || bad "apply said: $out"
ip netns exec "$db" nft list chain inet sagate ipsec_in | grep -q "queue to 1\|queue num 1" &&
	ok "the new table queues to queue 1" || bad "table: $(ip netns exec "$db" nft list chain inet sagate ipsec_in)"
wait_after "$t1" 10 || bad "fewer than 10 decisions after the apply returned: $(after "$t1" | wc -l)"
flows_stop
n=$(after "$t1" | wc -l)
wrong=$(after "$t1" | grep -vx 'drop drop-algorithm')
[ "$n" -ge 10 ] && [ -z "$wrong" ] &&
	ok "after apply returned: all $n decisions on the AES-GCM SA are drop-algorithm" ||
	bad "after apply returned ($t1): $(after "$t1" | sort | uniq -c | tr '\n' ';')"
[ "$(counter accepted)" = "$acc1" ] && ok "sagated's accept counter stood still after the apply ($acc1)" ||
	bad "accepted $acc1 -> $(counter accepted) after the apply returned"
log_has '"event":"handover-loaded"' '"generation":2' '"queue":1' && log_has '"event":"handover-live"' '"generation":2' &&
	ok "log: generation 2 loaded into queue 1, then live" || bad "no handover lines: $(grep handover "$log")"
st=$(ip netns exec "$db" "$sagate" -j status 2>&1)
jq -e '.ok and .engine_serves_applied == true and .engine.generation == 2' <<<"$st" >/dev/null &&
	ok "status: sagated serves the applied generation 2" || bad "status: $st"

# --- rollback: admission again ---
t2=$(now)
flows_start
wait_after "$t2" 3 || bad "no decisions before the rollback"
out=$(ip netns exec "$db" "$sagate" rollback 2>&1)
rc=$?
t3=$(now)
[ $rc = 0 ] && grep -q "rolled back to generation 1" <<<"$out" &&
	grep -q "sagated serves generation 1 on queue 0" <<<"$out" &&
	ok "rollback: generation 1, served on queue 0 when it returns" || bad "rollback (exit $rc): $out"
grep -q "sent only the difference: .*; [1-9][0-9]* chains' rules replaced" <<<"$out" &&
	ok "rollback: only the difference sent, the queueing chain's rules replaced (queue 1 to 0)" ||
	bad "rollback did not send only the difference: $out"
wait_after "$t3" 5 || bad "fewer than 5 decisions after the rollback"
flows_stop
n=$(after "$t3" | wc -l)
[ "$n" -ge 5 ] && [ -z "$(after "$t3" | grep -v '^accept accept$')" ] &&
	ok "after rollback returned: all $n decisions accept" ||
	bad "after rollback: $(after "$t3" | sort | uniq -c | tr '\n' ';')"
st=$(ip netns exec "$db" "$sagate" -j status 2>&1)
jq -e '.ok and .engine_serves_applied == true and .engine.generation == 1' <<<"$st" >/dev/null &&
	ok "status: sagated serves generation 1 again" || bad "status after rollback: $st"

# --- rollback --to 2: the rolled back generation, chosen, handed over ---
t4=$(now)
flows_start
wait_after "$t4" 3 || bad "no decisions before rollback --to"
out=$(ip netns exec "$db" "$sagate" rollback --to 2 2>&1)
rc=$?
t5=$(now)
[ $rc = 0 ] && grep -q "rolled back to generation 2" <<<"$out" &&
	grep -q "sagated serves generation 2 on queue 1" <<<"$out" &&
	ok "rollback --to 2: generation 2, served on queue 1 when it returns" || bad "rollback --to 2 (exit $rc): $out"
grep -q "sent only the difference: .*; [1-9][0-9]* chains' rules replaced" <<<"$out" &&
	ok "rollback --to 2: only the difference sent, the queueing chain's rules replaced (queue 0 to 1)" ||
	bad "rollback --to 2 did not send only the difference: $out"
wait_after "$t5" 5 || bad "fewer than 5 decisions after rollback --to"
flows_stop
n=$(after "$t5" | wc -l)
[ "$n" -ge 5 ] && [ -z "$(after "$t5" | grep -vx 'drop drop-algorithm')" ] &&
	ok "after rollback --to returned: all $n decisions drop-algorithm" ||
	bad "after rollback --to: $(after "$t5" | sort | uniq -c | tr '\n' ';')"
st=$(ip netns exec "$db" "$sagate" -j status 2>&1)
jq -e '.ok and .engine_serves_applied == true and .engine.generation == 2 and .previous_generation == 1' \
	<<<"$st" >/dev/null && ok "status: sagated serves generation 2, generation 1 the rollback target" ||
	bad "status after rollback --to: $st"
ip netns exec "$db" "$sagate" rollback >/dev/null 2>&1 || bad "rollback to generation 1 again"

# --- sagated refuses: nothing changes ---
# (a bank it does not serve: asked for queues 5-6, it holds 0 and 1)
gens=$(ls -d "$SAGATE_STATE_DIR"/gen-* | wc -l)
out=$(ip netns exec "$db" "$sagate" apply --queue 5 --queues 1 "$tight" 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "sagated refused" <<<"$out" && grep -q "unchanged" <<<"$out" &&
	ok "apply --queue 5 with sagated on queues 0-1: refused by sagated, nothing changed" ||
	bad "apply --queue 5 (exit $rc): $out"
[ "$(ls -d "$SAGATE_STATE_DIR"/gen-* | wc -l)" = "$gens" ] &&
	ip netns exec "$db" nft list chain inet sagate ipsec_in | grep -q "queue to 0\|queue num 0" &&
	ok "refused apply: no new generation, the table still queues to 0" || bad "refused apply left a trace"

# --- a sagated serving another policy: an error for status and audit ---
daemon_stop TERM || bad "SIGTERM: $?"
[ ! -e "$SAGATE_RUN_DIR/sagated.ctl" ] && ok "control socket removed at exit" || bad "control socket left behind"
daemon_start --policy "$tight" || bad "sagated --policy: $(cat "$log")"
st=$(ip netns exec "$db" "$sagate" status 2>&1)
rc=$?
[ $rc = 3 ] && grep -q "MISMATCH" <<<"$st" && grep -q "error:.*--policy" <<<"$st" &&
	ok "status: sagated --policy of another file is an error (exit 3)" || bad "status (exit $rc): $st"
aj=$(ip netns exec "$db" "$sagate" -j audit 2>/dev/null)
rc=$?
[ $rc = 4 ] && [ "$(jq -r '.findings[] | select(.kind == "engine-policy-mismatch") | .severity' <<<"$aj")" = error ] &&
	ok "audit: engine-policy-mismatch, an error (exit 4)" ||
	bad "audit (exit $rc): $(jq -c '[.findings[] | {kind, severity}]' <<<"$aj")"
# a handover puts it right: the apply's policy replaces the file's
out=$(ip netns exec "$db" "$sagate" apply --queues 1 tests/vm/handover.json 2>&1)
st=$(ip netns exec "$db" "$sagate" -j status 2>&1)
jq -e '.ok and .engine_serves_applied == true' <<<"$st" >/dev/null &&
	ok "apply while sagated --policy runs: handed over, status clean" || bad "apply over --policy: $out; $st"
daemon_stop TERM || bad "SIGTERM: $?"
summary
