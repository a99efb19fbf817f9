#!/bin/bash
# Record the seeds of fuzz_nft_dump from a real kernel: each reader's
# replies in throwaway network namespaces (tests/lib/topology.sh: the
# database server "db" and the network of its peers), (1) with no table,
# (2) with policies/db-server.json applied (kernel-only mode, which any
# kernel loads) beside a foreign table with an input base chain, after
# cleartext PostgreSQL from the app server over IPv4 and IPv6 (records
# in the cleartext-attempts sets), (3) with policies/web-server.json.
# As root; touches nothing outside the namespaces it creates.
# Usage: fuzz/record-nft-seeds.sh BUILD
set -eu
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/fuzz/corpus/nft_dump
db=sgt-fzdb-$$ net=sgt-fznet-$$
state=$(mktemp -d)
work=$(mktemp -d)
. "$top/tests/lib/topology.sh"
cleanup() { topo_down "$db" "$net"; rm -rf "$state" "$work"; }
trap cleanup EXIT
topo_up "$db" "$net"

record() {	# NAME
	rm -f "$work"/*
	ip netns exec "$db" env FUZZ_NFT_RECORD="$work" "$build/fuzz/fuzz_nft_dump"
	for f in "$work"/*; do cp "$f" "$out/$1-$(basename "$f")"; done
}

record empty
ip netns exec "$db" nft add table ip other
ip netns exec "$db" nft add chain ip other in '{ type filter hook input priority -10; policy accept; }'
ip netns exec "$db" nft add rule ip other in tcp dport 22 counter accept comment '"foreign rule"'
SAGATE_STATE_DIR=$state ip netns exec "$db" "$build/sagate" apply --no-engine \
	"$top/policies/db-server.json" >/dev/null 2>&1
tcp_probe "$net" 10.77.0.21 10.77.0.10 5432 >/dev/null || true
tcp_probe "$net" fd77::21 fd77::10 5432 >/dev/null || true
record db-server
SAGATE_STATE_DIR=$state ip netns exec "$db" "$build/sagate" apply --no-engine \
	"$top/policies/web-server.json" >/dev/null 2>&1
record web-server
ls -l "$out"
