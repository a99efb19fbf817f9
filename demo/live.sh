#!/bin/bash
# The live half of the demo (demo/run): the db-server policy applied in a
# throwaway network namespace, with real ESP SAs and the verdict engine
# sagated.  Needs a kernel with ESP and the nft queue expression: demo/run
# runs it directly on such a kernel, and inside the QEMU test bed
# (tests/vm/vm-run, Debian's own kernel) otherwise.  It touches nothing
# but the namespaces it creates.  Exit status 1 when anything did not
# happen as the policy says.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgt-demo-db-$$ net=sgt-demo-net-$$
state=$(mktemp -d)
chmod 755 "$state"	# sagated (user sagated, where it exists) reads the generations below
log=$state/sagated.log
export SAGATE_STATE_DIR=$state/sagate
dpid= unexpected=0
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$state"
}
trap cleanup EXIT
cd "$top" || exit 1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
probe() {	# DESC SRC DST PORT EXPECT
	local r
	r=$(tcp_probe "$net" "$2" "$3" "$4")
	printf '  %-60s %-8s %s\n' "$1" "$r" "$([ "$r" = "$5" ] && echo "(as the policy says)" || echo "(UNEXPECTED)")"
	[ "$r" = "$5" ] || unexpected=1
}
last_decision() {	# sagated's last verdict line, short
	tail -n 20 "$log" | grep '"verdict"' | tail -1 |
		jq -r '"    sagated: \(.verdict) (\(.reason)), rule \(.rule // "-"), SA spi \(.spi // "-") from \(.sa_peer // .src // "-")"' 2>/dev/null
}

say "Network namespaces: $db (the database server, 10.77.0.10) and $net (app server .21, admin .30, stranger .66)"
site_up >/dev/null || { echo "cannot build the namespaces"; exit 1; }
echo "  kernel $(uname -r): ESP and nft queue available"

say "sagate apply policies/db-server.json, inside $db only (engine mode)"
ip netns exec "$db" "$sagate" apply policies/db-server.json || exit 1
say "sagated, the verdict engine, on queue 0 in $db"
daemon_start || { echo "sagated did not start: $(cat "$log")"; exit 1; }
grep '"event":"ready"' "$log" | jq -r '"  ready: \(.sas // 0) SA(s) known, queue \(.queue)"' 2>/dev/null

say "An ESP transport SA (AES-GCM, reqid 7) between the app server and the database"
sa_up
ip -n "$db" xfrm state | sed -n 's/^src \(.*\) dst \(.*\)$/  SA \1 -> \2/p'
probe "PostgreSQL from the app server over the AES-GCM SA" $app $dbaddr 5432 open
last_decision
probe "ssh from the app server over its SA (it is no admin)" $app $dbaddr 22 dropped
probe "PostgreSQL from a stranger 10.77.0.66, cleartext (logged)" 10.77.0.66 $dbaddr 5432 dropped

say "The SA gone: the same client in cleartext"
sa_down
probe "PostgreSQL from the app server, cleartext" $app $dbaddr 5432 dropped
echo "    (dropped in the kernel: a require-ipsec class with no secpath never reaches sagated)"

say "An SA with a null cipher (integrity only): the rule requires encryption"
sa_up_null
probe "PostgreSQL from the app server over ESP-null" $app $dbaddr 5432 dropped
last_decision

say "sagated stopped: new require-ipsec flows fail closed"
sa_down
sa_up
kill "$dpid" && wait "$dpid" 2>/dev/null
dpid=
probe "PostgreSQL over the AES-GCM SA, no sagated" $app $dbaddr 5432 dropped
daemon_start || { echo "sagated did not restart"; exit 1; }
probe "the same after sagated restarts" $app $dbaddr 5432 open

say "What the kernel counted, per policy rule (sagate list)"
ip netns exec "$db" "$sagate" list -j | jq -r '.rules[] | select(.packets > 0) | "  \(.rule): \(.packets) packet(s)"'

say "sagate audit: the live table against the policy, and what is in use"
ip netns exec "$db" "$sagate" audit -j >"$state/audit.json" 2>/dev/null
jq -r '"  \(.counts.error) error(s), \(.counts.warning) warning(s), \(.counts.info) info",
	(.findings[] | select(.severity != "info") | "  \(.severity): \(.message)")' "$state/audit.json"

say "A new policy with commit-confirm, not confirmed: sagate rolls it back"
ip netns exec "$db" "$sagate" apply --confirm 2 policies/web-server.json 2>/dev/null || true
sleep 3
ip netns exec "$db" nft list table inet sagate | sed -n 's/^\tcomment "\(.*\)"/  live now: \1/p'
[ "$unexpected" = 0 ] && echo && echo "Everything happened as the policy says." && exit 0
echo && echo "Something did not happen as the policy says (UNEXPECTED above)." && exit 1
