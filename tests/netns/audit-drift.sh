#!/bin/bash
# sagate audit on the host kernel, in a throwaway network namespace: a
# policy applied in kernel-only mode audits clean; then the live table is
# changed by hand with nft, one change at a time (the policy re-applied in
# between), and each change must be reported with its kind, severity and
# exit status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
ns=sgt-audit-$$
tmp=$(mktemp -d)
. "$top/tests/lib/netns.sh"
netns_require_root
command -v jq >/dev/null || { echo "SKIP: jq is needed" >&2; exit 77; }
cleanup() {
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns" || exit 1
export SAGATE_STATE_DIR=$tmp/state
in_ns() { ip netns exec "$ns" "$@"; }
cd "$top" || exit 1

# IPsec policies (level required) for every require-ipsec peer of
# db-server, so that the SPD findings stay quiet
for p in 10.77.0.21/32 10.77.0.22/32 10.77.0.30/32 fd77::21/128 fd77::22/128 fd77::30/128; do
	case $p in *:*) any=::/0 ;; *) any=0.0.0.0/0 ;; esac
	in_ns ip xfrm policy add src "$p" dst $any dir in tmpl proto esp mode transport ||
		bad "xfrm policy for $p"
done

audit() {	# [OPTIONS]: the JSON audit, its exit status in $rc
	in_ns "$sagate" --json audit "$@" >"$tmp/out" 2>>"$tmp/stderr"
	rc=$?
}
has() {	# KIND SEVERITY: a finding of that kind and severity
	jq -e --arg k "$1" --arg s "$2" \
		'[.findings[] | select(.kind == $k and .severity == $s)] | length > 0' "$tmp/out" >/dev/null
}
count() {	# SEVERITY
	jq --arg s "$1" '[.findings[] | select(.severity == $s)] | length' "$tmp/out"
}
reapply() { in_ns "$sagate" apply -k policies/db-server.json >/dev/null 2>&1; }
expect() {	# KIND SEVERITY EXIT DESC [AUDIT OPTIONS]
	local kind=$1 sev=$2 want=$3 desc=$4
	shift 4
	audit "$@"
	if has "$kind" "$sev" && [ "$rc" -eq "$want" ]; then
		ok "$desc: $kind ($sev), exit $rc"
	else
		bad "$desc: want $kind ($sev) exit $want, got exit $rc: $(jq -c '[.findings[] | select(.severity != "info") | [.severity, .kind, .object]]' "$tmp/out")"
	fi
}

reapply && ok "apply -k db-server" || bad "apply"
audit
[ $rc -eq 0 ] && [ "$(count error)" = 0 ] && ok "a fresh apply audits without errors" ||
	bad "fresh apply: exit $rc: $(cat "$tmp/out")"
[ "$(jq '[.findings[] | select(.severity == "warning" and .kind != "kernel-only-mode")] | length' "$tmp/out")" = 0 ] &&
	ok "no warnings besides the kernel-only note" || bad "warnings: $(jq -c '.findings' "$tmp/out")"
has never-hit info && ok "unused rules are reported as info" || bad "never-hit missing"
[ "$(jq -r .command "$tmp/out")" = audit ] && [ "$(jq -r .counts.error "$tmp/out")" = 0 ] &&
	ok "JSON: command and counts" || bad "JSON schema: $(head -c 300 "$tmp/out")"

in_ns nft add element inet sagate in4_ports '{ 10.9.9.9 . tcp . 80 : accept }'
expect drift-element-added error 4 "an element added by hand"
jq -r '.findings[] | select(.kind == "drift-element-added") | .message' "$tmp/out" |
	grep -q '10.9.9.9 . tcp . 80' && ok "the added element is named by its key" ||
	bad "added: $(jq -c .findings "$tmp/out")"
reapply

in_ns nft delete element inet sagate in4_protos '{ 10.77.0.10 . icmp }'
expect drift-element-removed error 4 "an element deleted by hand"
reapply

# flow bindings: the kernel's own (mark = reqid | bit) are not drift, a
# forged pair is
reapply
in_ns nft add element inet sagate ipsec_bound '{ 0x80000007 . 7 }'
audit
[ "$(count error)" = 0 ] && ok "a binding the kernel would make is not drift" ||
	bad "kernel-made binding reported: $(jq -c '[.findings[] | select(.severity == "error")]' "$tmp/out")"
in_ns nft add element inet sagate ipsec_bound '{ 0x80000007 . 8 }'
expect drift-binding-forged error 4 "a forged flow binding"
reapply
in_ns nft list set inet sagate ipsec_bound | grep -q '0x80000007 . 8' &&
	bad "a new apply carried the forged binding over" ||
	ok "a new apply does not carry the forged binding over"
in_ns nft list set inet sagate ipsec_bound | grep -q '0x80000007 . 7' &&
	ok "a new apply carries the kernel's binding over" ||
	bad "a new apply lost the kernel's binding"

reapply
# the require-ipsec element of an admin's ssh turned into a plain accept
in_ns nft delete element inet sagate in4_exact '{ 10.77.0.30 . tcp . 22 }'
in_ns nft add element inet sagate in4_exact '{ 10.77.0.30 . tcp . 22 comment "ssh-admins" : accept }'
expect drift-element-changed error 4 "an element's verdict changed by hand"
jq -r '.findings[] | select(.kind == "drift-element-changed") | .message' "$tmp/out" |
	grep -q 'live verdict is accept, the policy.s is goto ipsec_in' &&
	ok "the changed element names both verdicts" || bad "changed: $(jq -c .findings "$tmp/out")"
reapply

h=$(in_ns nft -a list chain inet sagate input | awk '/vmap @in4_protos/ { print $NF }')
in_ns nft delete rule inet sagate input handle "$h"
expect drift-rule-removed error 4 "a chain rule deleted by hand"
reapply

# the kernel's cleartext drop for require-ipsec flows turned into an accept,
# comment and all
h=$(in_ns nft -a list chain inet sagate ipsec_in | awk '/meta ipsec missing counter/ { print $NF }')
in_ns nft replace rule inet sagate ipsec_in handle "$h" \
	meta ipsec missing counter accept comment '"require-ipsec: arrived in cleartext"'
expect drift-rule-removed error 4 "a chain rule's verdict changed by hand"
jq -r '.findings[] | select(.kind == "drift-rule-added") | .message' "$tmp/out" |
	grep -q 'arrived in cleartext -> accept' && ok "the changed rule is named with its verdict" ||
	bad "rule changed: $(jq -c .findings "$tmp/out")"
reapply

in_ns nft add chain inet sagate extra
expect drift-chain-added error 4 "a chain added by hand"
reapply

in_ns nft flush table inet sagate
expect drift-rule-removed error 4 "the table flushed"
reapply

in_ns nft delete table inet sagate
expect table-missing error 4 "the table deleted"
reapply

in_ns nft delete table inet sagate
in_ns nft add table inet sagate '{ comment "sagate policy elsewhere.json sha256 0000000000000000"; }'
expect digest-mismatch error 4 "the table comment changed"
reapply

in_ns nft -f - <<'NFT'
table ip early {
	chain input {
		type filter hook input priority -10; policy accept;
		tcp dport 5432 accept
	}
}
NFT
expect foreign-chain-before warning 4 "a foreign accepting base chain before ours" --fail-on warning
expect foreign-chain-before warning 0 "the same with --fail-on error" --fail-on error
audit --fail-on never
[ $rc -eq 0 ] && ok "--fail-on never exits 0" || bad "--fail-on never: exit $rc"
in_ns "$sagate" audit --fail-on bogus >/dev/null 2>&1
[ $? -eq 2 ] && ok "a bad --fail-on level is a usage error" || bad "--fail-on bogus"
in_ns "$sagate" audit >"$tmp/text" 2>/dev/null
grep -q '^warning foreign-chain-before' "$tmp/text" && ok "text output names severity and kind" ||
	bad "text: $(cat "$tmp/text")"

[ -s "$tmp/stderr" ] && { echo "stderr:"; cat "$tmp/stderr"; }
summary
