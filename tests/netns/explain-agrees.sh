#!/bin/bash
# `sagate explain` against what the kernel really does, in throwaway
# network namespaces: a policy with permit, block, require-ipsec and the
# default is applied (kernel-only mode: this kernel has no ESP, so
# require-ipsec traffic here is cleartext), and for each probe, IPv4 and
# IPv6, explain (asked about the live, applied policy) must
#  - predict the outcome: "accept" when the TCP handshake gets an answer,
#    "drop" when it times out;
#  - name the policy rule whose kernel counter the probe moves (or the
#    default, when no rule's counter moves).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
netns_require_root explain-agrees.sh
. "$top/tests/lib/topology.sh"
db=sgt-xdb-$$ net=sgt-xnet-$$
tmp=$(mktemp -d)
export SAGATE_STATE_DIR=$tmp/state
cleanup() {
	topo_down "$db" "$net"
	rm -rf "$tmp"
}
trap cleanup EXIT
topo_up "$db" "$net" || { bad "cannot build the namespaces"; summary; }

cat >"$tmp/policy.json" <<'EOF'
{
  "version": 1,
  "description": "explain-agrees: one rule of each kind",
  "hosts": { "app": ["10.77.0.21", "fd77::21"], "stranger": ["10.77.0.66", "fd77::66"] },
  "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "web", "action": "permit", "protocol": "tcp", "ports": [80] },
    { "name": "no-8080-stranger", "action": "block", "peers": "@stranger", "protocol": "tcp", "ports": [8080] },
    { "name": "alt-web", "action": "permit", "protocol": "tcp", "ports": ["8000-8100"] },
    { "name": "db", "action": "require-ipsec", "peers": "@app", "protocol": "tcp", "ports": [5432] }
  ]
}
EOF
ip netns exec "$db" "$sagate" -k apply "$tmp/policy.json" >/dev/null 2>"$tmp/err" ||
	{ bad "apply: $(cat "$tmp/err")"; summary; }

rule_packets() {	# the kernel's packets per policy rule, as "name count" lines
	ip netns exec "$db" "$sagate" list -j 2>/dev/null | jq -r '.rules[] | "\(.rule) \(.packets)"' | sort
}

check() {	# SRC PORT
	local src=$1 port=$2 dst=10.77.0.10 want rule r moved
	case $src in *:*) dst=fd77::10 ;; esac
	ip netns exec "$db" "$sagate" explain --from "$src" --proto tcp --port "$port" -j \
		>"$tmp/x.json" 2>"$tmp/err" || { bad "explain $src $port: $(cat "$tmp/err")"; return; }
	want=$(jq -r .outcome "$tmp/x.json")
	rule=$(jq -r 'if .policy.decided_by == "rule" then .policy.rule else "(default)" end' "$tmp/x.json")
	rule_packets >"$tmp/before"
	r=$(tcp_probe "$net" "$src" "$dst" "$port")
	rule_packets >"$tmp/after"
	moved=$(join "$tmp/before" "$tmp/after" | awk '$3 > $2 { print $1 }' | paste -sd, -)
	[ -n "$moved" ] || moved="(default)"
	if { [ "$want" = accept ] && [ "$r" = open ]; } || { [ "$want" = drop ] && [ "$r" = dropped ]; }; then
		if [ "$moved" = "$rule" ]; then
			ok "$src -> tcp/$port: explain says $want by $rule; the kernel did ($r, counter of $moved)"
		else
			bad "$src -> tcp/$port: explain names $rule, the kernel counted $moved"
		fi
	else
		bad "$src -> tcp/$port: explain says $want by $rule, the kernel: $r"
	fi
}

for src in 10.77.0.66 fd77::66; do
	check "$src" 80		# permit
	check "$src" 8080	# block, before the wider permit
	check "$src" 8081	# the wider permit
	check "$src" 5432	# default: not a peer of the require-ipsec rule
	check "$src" 22		# default
done
for src in 10.77.0.21 fd77::21; do
	check "$src" 8080	# the block names only the stranger
	check "$src" 5432	# require-ipsec in cleartext: dropped in the kernel
done
summary
