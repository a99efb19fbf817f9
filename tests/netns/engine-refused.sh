#!/bin/bash
# No silent downgrade: on a kernel without the nft queue expression (the
# project's hosts), `sagate apply` in engine mode fails with exit status
# 3, says why and names --no-engine, and leaves the namespace's ruleset
# and the state directory as they were; with --no-engine it applies
# kernel-only mode.  On a kernel with nft queue there is nothing to
# refuse: the script skips (tests/vm applies engine mode there).
#
# Needs root and nf_tables; a throwaway network namespace only.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
ns=sgt-refused-$$
. "$top/tests/lib/netns.sh"
netns_require_root
netns_throwaway "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
export SAGATE_STATE_DIR=$tmp/state
cd "$top" || exit 1

if in_ns nft -c 'add table inet probe; add chain inet probe c { type filter hook input priority 0; }; add rule inet probe c queue num 0' 2>/dev/null; then
	echo "SKIP: this kernel has the nft queue expression: engine mode applies here" >&2
	exit 77
fi

in_ns nft add table inet keep
in_ns nft add chain inet keep c '{ type filter hook input priority 10; }'

# refused DESC POLICY EXPECTED-LINE-1 ARGS...: exit status 3, exactly the
# three lines, ruleset and current generation as before
refused() {
	local desc=$1 pol=$2 line1=$3 rc before after gen_before gen_after
	shift 3
	before=$(in_ns nft list ruleset)
	gen_before=$(readlink "$SAGATE_STATE_DIR/current" 2>/dev/null)
	in_ns "$sagate" apply --queues 1 "$@" "$pol" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	after=$(in_ns nft list ruleset)
	gen_after=$(readlink "$SAGATE_STATE_DIR/current" 2>/dev/null)
	[ "$rc" -eq 3 ] && ok "$desc: exit status 3" || bad "$desc: exit status $rc, expected 3"
	if diff -u - "$tmp/err" <<EOF
$line1
$pol: error: this kernel has no nft queue expression (CONFIG_NFT_QUEUE): sagated cannot be used here; apply with --no-engine to enforce require-ipsec in the kernel alone (then any IPsec SA, even ESP-null or AH, satisfies it)
$pol: not applied; the live firewall is unchanged
EOF
	then
		ok "$desc: the kernel's error, why, and --no-engine"
	else
		bad "$desc: message"
	fi
	[ ! -s "$tmp/out" ] && ok "$desc: nothing on stdout" || bad "$desc: stdout: $(cat "$tmp/out")"
	[ "$before" = "$after" ] && ok "$desc: ruleset unchanged" ||
		bad "$desc: ruleset changed: $(diff <(echo "$before") <(echo "$after"))"
	[ "$gen_before" = "$gen_after" ] && ok "$desc: no generation recorded" ||
		bad "$desc: current went from '$gen_before' to '$gen_after'"
}

queue_error='error: chain ipsec_in rule 4 "to sagated with the carrying SA'"'"'s SPI; no bypass: fail closed", statement "queue num 0" (expression "queue"): No such file or directory; this kernel has no nf_tables "queue" expression'
refused "apply on an empty firewall" policies/db-server.json "policies/db-server.json: $queue_error"
refused "apply --dry-run" policies/db-server.json "policies/db-server.json: $queue_error" --dry-run

out=$(in_ns "$sagate" --json apply policies/db-server.json 2>/dev/null)
if [ "$(jq -r '[.exit, .ok, (.diagnostics | map(select(.message | contains("apply with --no-engine"))) | length)] | @tsv' <<<"$out")" = "$(printf '3\tfalse\t1')" ]; then
	ok "apply --json: exit 3, ok false, the --no-engine error"
else
	bad "apply --json: $out"
fi

if in_ns "$sagate" apply --no-engine policies/db-server.json >"$tmp/out" 2>/dev/null &&
	grep -q -F "(kernel-only mode, generation 1)" "$tmp/out"; then
	ok "apply --no-engine applies kernel-only mode"
else
	bad "apply --no-engine: $(cat "$tmp/out")"
fi
# over a live policy, too: the kernel-only table stays as it was
refused "apply over a live policy" policies/web-server.json "policies/web-server.json: $queue_error"
in_ns nft list table inet keep >/dev/null 2>&1 && ok "the foreign table is still there" ||
	bad "table inet keep is gone"
summary
