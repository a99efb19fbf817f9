#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run), whose Debian kernel has
# ESP and the nft queue expression: the host kernel has neither.
#
# The db-server policy applied by `sagate apply` in engine mode, with real
# ESP transport SAs between an app server and the database server:
#  - the engine layout loads whole (queue statement and SPI mark included);
#  - a new PostgreSQL flow over ESP is handed to the queue, and with no
#    sagated listening it is dropped: fail closed;
#  - the same flow in cleartext is dropped in the kernel, never queued;
#  - in kernel-only mode the flow over ESP is admitted.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgvm-db-$$ net=sgvm-net-$$
export SAGATE_STATE_DIR=/tmp/sagate-vm-state-$$
cleanup() {
	topo_down "$db" "$net"
	rm -rf "$SAGATE_STATE_DIR"
}
trap cleanup EXIT

site_up || { bad "namespaces"; summary; exit 1; }


cd "$top" || exit 1
out=$(ip netns exec "$db" "$sagate" apply policies/db-server.json 2>&1)
grep -q "engine mode" <<<"$out" && ok "apply in engine mode on a kernel with nft queue" ||
	bad "apply: $out"
chain=$(ip netns exec "$db" nft list chain inet sagate ipsec_in)
grep -q "queue" <<<"$chain" && grep -q "meta priority set ipsec in spi" <<<"$chain" &&
	ok "ipsec_in hands the SPI over in the priority and queues (no bypass)" ||
	bad "ipsec_in: $chain"
grep -Eq "queue[^\"]*bypass" <<<"$chain" && bad "the queue statement has bypass: it would fail open"

sa_up && ok "ESP transport SAs between app and db" || bad "ESP SAs"
queued0=$(rule_counter ipsec_in "to sagated")
clear0=$(rule_counter ipsec_in "arrived in cleartext")
r=$(tcp_probe "$net" $app $dbaddr 5432)
queued1=$(rule_counter ipsec_in "to sagated")
clear1=$(rule_counter ipsec_in "arrived in cleartext")
[ "$r" = dropped ] && ok "PostgreSQL over ESP with no sagated running: dropped (fail closed)" ||
	bad "PostgreSQL over ESP without sagated: $r"
[ "$queued1" -gt "$queued0" ] && ok "the flow reached the queue ($queued0 -> $queued1 packets)" ||
	bad "the flow did not reach the queue ($queued0 -> $queued1)"
[ "$clear1" -eq "$clear0" ] && ok "nothing was counted as cleartext" || bad "ESP counted as cleartext"

sa_down
r=$(tcp_probe "$net" $app $dbaddr 5432)
clear2=$(rule_counter ipsec_in "arrived in cleartext")
queued2=$(rule_counter ipsec_in "to sagated")
[ "$r" = dropped ] && [ "$clear2" -gt "$clear1" ] && [ "$queued2" -eq "$queued1" ] &&
	ok "PostgreSQL in cleartext: dropped in the kernel, never queued" ||
	bad "cleartext: $r, cleartext $clear1 -> $clear2, queued $queued1 -> $queued2"

ip netns exec "$db" "$sagate" apply -k policies/db-server.json >/dev/null 2>&1 ||
	bad "apply kernel-only"
sa_up
r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = open ] && ok "kernel-only mode: PostgreSQL over ESP is admitted" ||
	bad "kernel-only mode over ESP: $r"
sa_down
r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = dropped ] && ok "kernel-only mode: the same in cleartext is dropped" ||
	bad "kernel-only mode in cleartext: $r"
summary
