#!/bin/bash
# Real traffic against the compiled db-server policy, kernel-only mode, on
# the host kernel: namespace "db" holds the ruleset, namespace "net" holds
# the other hosts' addresses, joined by veth.  Only addresses inside these
# namespaces are used.  No ESP here (see testbed.md), so require-ipsec
# ports must refuse cleartext; the QEMU test bed covers real SAs.
#
# A TCP connect that reaches db gets a reset (nothing listens): "refused"
# means the firewall let it in, a timeout means it was dropped.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
db=sgt-db-$$ net=sgt-net-$$
tmp=$(mktemp -d)
. "$top/tests/lib/netns.sh"
netns_require_root
cleanup() {
	topo_down "$db" "$net"
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$top/tests/lib/topology.sh"
topo_up "$db" "$net" || { echo "FAIL: cannot build the namespaces"; exit 1; }

cd "$top" || exit 1
"$sagate" compile --no-engine policies/db-server.json >"$tmp/db.nft" 2>/dev/null &&
	ip netns exec "$db" nft -f "$tmp/db.nft" || { bad "load the db-server ruleset"; exit 1; }

probe_from() {	# SRC DST PORT
	tcp_probe "$net" "$@"
}
counter() {	# ELEMENT-COMMENT: packets of every element with that rule name
	ip netns exec "$db" nft list table inet sagate |
		awk -v want="comment \"$1\"" 'index($0, want) { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}
chain_counter() {	# CHAIN: packets of the first counter in that chain
	ip netns exec "$db" nft list chain inet sagate "$1" |
		awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") { print $(i + 1); exit } }'
}

# DESC SRC DST PORT COUNTER-COMMAND...: the probe is dropped and the
# counter moved
expect_dropped_counted() {
	local desc=$1 src=$2 dst=$3 port=$4 before after r
	shift 4
	before=$("$@")
	r=$(probe_from "$src" "$dst" "$port")
	after=$("$@")
	if [ "$r" = dropped ] && [ "$after" -gt "$before" ]; then
		ok "$desc: dropped and counted ($before -> $after)"
	else
		bad "$desc: $r, counter $before -> $after"
	fi
}

# A permitted ping must be answered; on a loaded machine one burst may all
# be late, so up to three bursts of three, each reply allowed 3 s.  A
# ruleset that drops the flow fails all of them.
ping_answered() {	# -FAMILY FROM TO
	local try
	for try in 1 2 3; do
		ip netns exec "$net" ping "$1" -c 3 -i 0.3 -W 3 -I "$2" "$3" >/dev/null 2>&1 && return 0
	done
	return 1
}

for fam in 4 6; do
	if [ $fam = 4 ]; then dbaddr=10.77.0.10 app=10.77.0.21 admin=10.77.0.30 stranger=10.77.0.66
	else dbaddr=fd77::10 app=fd77::21 admin=fd77::30 stranger=fd77::66; fi

	if ping_answered -$fam "$admin" "$dbaddr"; then
		ok "IPv$fam: ping from the site is permitted (rule ping-site)"
	else
		bad "IPv$fam: ping from the site was not answered"
	fi
	if ip netns exec "$net" ping -$fam -c 1 -W 1 -I "$stranger" "$dbaddr" >/dev/null 2>&1; then
		bad "IPv$fam: ping from a stranger was answered (default is block)"
	else
		ok "IPv$fam: ping from a stranger is blocked by the default"
	fi

	expect_dropped_counted "IPv$fam: PostgreSQL from an app server in cleartext, as require-ipsec" \
		"$app" "$dbaddr" 5432 chain_counter ipsec_in
	# a single address and port: decided by the exact-match map
	expect_dropped_counted "IPv$fam: ssh from an admin in cleartext, as require-ipsec" \
		"$admin" "$dbaddr" 22 chain_counter ipsec_in
	expect_dropped_counted "IPv$fam: PostgreSQL from a stranger, by rule postgresql-others" \
		"$stranger" "$dbaddr" 5432 counter postgresql-others

	r=$(probe_from "$admin" "$dbaddr" 8080)
	[ "$r" = dropped ] && ok "IPv$fam: a port no rule names is blocked by the default" ||
		bad "IPv$fam: port 8080: $r"

	before=$(counter ike)
	ip netns exec "$net" bash -c "echo probe >/dev/udp/$dbaddr/500" 2>/dev/null
	after=$(counter ike)
	[ "$after" -gt "$before" ] && ok "IPv$fam: IKE from anyone reaches rule ike ($before -> $after)" ||
		bad "IPv$fam: IKE packet not counted by rule ike ($before -> $after)"
done

# the rules that decide are the elements' rules: accepted TCP to an
# unprotected permitted port would show "open"; db-server has none, so
# check that established-flow handling works with a permitted ping flood
if ping_answered -4 10.77.0.21 10.77.0.10; then
	ok "a permitted ICMP flow keeps working (established in the kernel)"
else
	bad "a permitted ICMP flow stopped"
fi
# sagate list reads the same counters back from the kernel
pk=$(ip netns exec "$db" "$sagate" --json list | jq '[.rules[] | select(.rule == "postgresql-others") | .packets] | add')
[ "${pk:-0}" -gt 0 ] && ok "sagate list shows the kernel's counters (postgresql-others: $pk packets)" ||
	bad "sagate list: postgresql-others shows ${pk:-nothing}"

# who tried the require-ipsec ports in cleartext, by source and port: the
# kernel's sets cleartext4 / cleartext6, as sagate audit reports them
ip netns exec "$db" env SAGATE_STATE_DIR="$tmp/state" "$sagate" -j audit policies/db-server.json \
	>"$tmp/audit.json" 2>"$tmp/audit.err"
for a in "10.77.0.21|5432|postgresql" "10.77.0.30|22|ssh-admins" "fd77::21|5432|postgresql" "fd77::30|22|ssh-admins"; do
	IFS='|' read -r src port rule <<<"$a"
	f=$(jq -c --arg o "from $src to tcp port $port" \
		'[.findings[] | select(.kind == "cleartext-attempts" and .object == $o)] | .[0] // empty' "$tmp/audit.json")
	if [ -n "$f" ] && [ "$(jq -r .rule <<<"$f")" = "$rule" ] && [ "$(jq -r .severity <<<"$f")" = warning ] &&
		jq -r .message <<<"$f" | grep -Eq '^[1-9][0-9]* packet\(s\) without IPsec dropped, the last [0-9]{1,2} s ago$'; then
		ok "audit: cleartext attempts from $src to tcp port $port, rule $rule: $(jq -r .message <<<"$f")"
	else
		bad "audit: no cleartext-attempts finding for $src port $port (rule $rule): $f $(head -c 300 "$tmp/audit.err")"
	fi
done
n=$(jq '[.findings[] | select(.kind == "cleartext-attempts")] | length' "$tmp/audit.json")
[ "$n" = 4 ] && ok "audit: the stranger's blocked PostgreSQL is not a cleartext attempt on require-ipsec (4 findings)" ||
	bad "audit: $n cleartext-attempts findings: $(jq -c '[.findings[] | select(.kind == "cleartext-attempts") | .object]' "$tmp/audit.json")"

# a permit rule: the web server's http from anyone gets through (a reset
# comes back from the closed port), ssh from a stranger does not
"$sagate" compile --no-engine policies/web-server.json >"$tmp/web.nft" 2>/dev/null &&
	ip netns exec "$db" nft -f "$tmp/web.nft" || bad "load the web-server ruleset"
r=$(probe_from 10.77.0.66 10.77.0.10 80)
[ "$r" = open ] && ok "web-server: http from anyone is permitted" || bad "web-server: http: $r"
r=$(probe_from 10.77.0.66 10.77.0.10 22)
[ "$r" = dropped ] && ok "web-server: ssh from a stranger is blocked" || bad "web-server: ssh: $r"

# Re-applying over a live policy keeps established connections: conntrack
# entries outlive the table's replacement and the new table accepts them.
# Re-applying the same policy keeps the flow it admits; bastion does not
# admit it, so only --keep-flows keeps it there (revoke-flows.sh tests
# the flows an apply ends).
export SAGATE_STATE_DIR=$tmp/state
ip netns exec "$db" "$sagate" apply -k policies/web-server.json >/dev/null 2>&1 ||
	bad "sagate apply web-server"
ip netns exec "$db" busybox nc -l -p 80 -e /bin/cat &
server=$!
for _ in $(seq 1 50); do	# wait until it listens
	ip netns exec "$db" ss -ltn 2>/dev/null | grep -q ':80 ' && break
	sleep 0.1
done
ip -n "$net" route replace 10.77.0.10 dev veth-net src 10.77.0.66
coproc CONN { ip netns exec "$net" bash -c 'exec 3<>/dev/tcp/10.77.0.10/80 || exit 1
	while read -r line; do echo "$line" >&3; read -r -t 3 reply <&3 || exit 1; echo "$reply"; done'; }
echo before >&"${CONN[1]}"
read -r -t 5 r1 <&"${CONN[0]}"
ip netns exec "$db" "$sagate" apply -k policies/web-server.json >/dev/null 2>&1 &&
	ip netns exec "$db" "$sagate" apply -k --keep-flows policies/bastion.json >/dev/null 2>&1 ||
	bad "re-apply"
echo after >&"${CONN[1]}"
read -r -t 5 r2 <&"${CONN[0]}"
if [ "${r1:-}" = before ] && [ "${r2:-}" = after ]; then
	ok "an established connection survives two applies over the live policy"
else
	bad "established connection across apply: got '${r1:-}' then '${r2:-}'"
fi
kill "$server" 2>/dev/null
eval "exec ${CONN[1]}>&-" 2>/dev/null

summary
