#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run), whose Debian kernel has
# ESP and the nft queue expression: the host kernel has neither.
#
# sagated deciding queued flows of the db-server policy (engine mode) with
# real ESP transport SAs between an app server and the database server:
#  - over an AES-GCM SA, PostgreSQL is accepted and logged under rule
#    "postgresql";
#  - over an ESP-null SA (integrity only), it is dropped as not encrypted;
#  - with sagated killed, the queue has no listener: dropped (fail closed);
#  - restarted, accepted again; SIGHUP reloads; SIGTERM exits 0.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgvm-db-$$ net=sgvm-net-$$
export SAGATE_STATE_DIR=/tmp/sagate-vm-state-$$
log=/tmp/sagated-vm-$$.log
dpid=
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$SAGATE_STATE_DIR" "$log"
}
trap cleanup EXIT

site_up || { bad "namespaces"; summary; exit 1; }

cd "$top" || exit 1
out=$(ip netns exec "$db" "$sagate" apply policies/db-server.json 2>&1)
grep -q "engine mode" <<<"$out" && ok "apply in engine mode" || bad "apply: $out"

sa_up || bad "ESP (AES-GCM) SAs"
daemon_start && ok "sagated is ready" || { bad "sagated not ready: $(cat "$log")"; summary; exit 1; }
log_has '"event":"ready"' '"queue":0' && ok "ready line names queue 0" || bad "ready line: $(grep ready "$log")"

r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = open ] && ok "PostgreSQL over AES-GCM ESP: accepted by sagated" ||
	bad "PostgreSQL over AES-GCM ESP: $r"
log_has '"verdict":"accept"' '"reason":"accept"' '"rule":"postgresql"' '"src":"10.77.0.21"' \
	'"dport":5432' '"spi":"0x00001000"' &&
	ok "log: accept line naming rule postgresql and SPI 0x1000" ||
	bad "no accept line: $(cat "$log")"

sa_down
sa_up_null || bad "ESP-null SAs"
r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = dropped ] && ok "PostgreSQL over ESP-null: dropped" || bad "PostgreSQL over ESP-null: $r"
log_has '"verdict":"drop"' '"reason":"drop-not-encrypted"' '"rule":"postgresql"' '"spi":"0x00003000"' &&
	ok "log: drop-not-encrypted for the ESP-null SA" ||
	bad "no not-encrypted line: $(tail -5 "$log")"

sa_down
sa_up || bad "ESP (AES-GCM) SAs again"
kill -HUP "$dpid"
for i in $(seq 1 30); do log_has '"event":"reloaded"' && break; sleep 0.1; done
log_has '"event":"reloaded"' && ok "SIGHUP reloads the policy" || bad "no reload line: $(tail -3 "$log")"
daemon_stop TERM && ok "SIGTERM: sagated exits 0" || bad "SIGTERM: exit status $?"
log_has '"event":"stopped"' && ok "log: stopped line" || bad "no stopped line"

r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = dropped ] && ok "sagated stopped: PostgreSQL over AES-GCM ESP dropped (fail closed)" ||
	bad "sagated stopped: $r"

ip netns exec "$db" "$sagated" >/dev/null 2>&1 &
p1=$!
sleep 1
kill -9 $p1 2>/dev/null; wait $p1 2>/dev/null
r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = dropped ] && ok "sagated killed (SIGKILL): dropped (fail closed)" || bad "sagated killed: $r"

daemon_start && ok "sagated restarted" || bad "restart: $(cat "$log")"
log_has '"event":"ready"' '"sas":2' && ok "restart: the dump found db's 2 SAs" ||
	bad "restart ready line: $(grep ready "$log")"
r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = open ] && ok "restarted: PostgreSQL over AES-GCM ESP accepted again" || bad "restarted: $r"

# sagate status shows the running engine's counters (sagated.json, 1 s)
for i in $(seq 1 30); do
	st=$(ip netns exec "$db" "$sagate" status -j 2>/dev/null)
	[ "$(jq -r '.engine.accepted // 0' <<<"$st")" -ge 1 ] && break
	sleep 0.1
done
jq -e '.engine.alive == true and .engine.accepted >= 1' <<<"$st" >/dev/null &&
	ok "sagate status: the running sagated and its accepts" ||
	bad "sagate status engine: $(jq -c .engine <<<"$st")"

daemon_stop TERM || bad "second SIGTERM: $?"
summary
