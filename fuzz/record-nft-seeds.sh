#!/bin/bash
# Record the seeds of fuzz_nft_dump from a real kernel: each reader's
# replies in a throwaway network namespace, (1) with no table, (2) with
# policies/db-server.json applied (kernel-only mode, which any kernel
# loads) beside a foreign table with an input base chain, (3) with
# policies/web-server.json.  As root; touches nothing outside the
# namespace it creates.  Usage: fuzz/record-nft-seeds.sh BUILD
set -eu
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/fuzz/corpus/nft_dump
ns=sgt-fuzzrec-$$
state=$(mktemp -d)
work=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$state" "$work"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up

record() {	# NAME
	rm -f "$work"/*
	ip netns exec "$ns" env FUZZ_NFT_RECORD="$work" "$build/fuzz/fuzz_nft_dump"
	for f in "$work"/*; do cp "$f" "$out/$1-$(basename "$f")"; done
}

record empty
ip netns exec "$ns" nft add table ip other
ip netns exec "$ns" nft add chain ip other in '{ type filter hook input priority -10; policy accept; }'
ip netns exec "$ns" nft add rule ip other in tcp dport 22 counter accept comment '"foreign rule"'
SAGATE_STATE_DIR=$state ip netns exec "$ns" "$build/sagate" apply --no-engine "$top/policies/db-server.json" >/dev/null
record db-server
SAGATE_STATE_DIR=$state ip netns exec "$ns" "$build/sagate" apply --no-engine "$top/policies/web-server.json" >/dev/null
record web-server
ls -l "$out"
