#!/bin/bash
# sagate ike-config from the command line (no root, no kernel): its
# options are checked strictly (--local one address of this host, each
# once, at most 16; --auth pubkey or psk), other commands refuse them, a
# policy with errors prints nothing on stdout and exits 1, a rule no
# child can be made for is a warning on stderr, and --json carries the
# fragment.  What the fragment holds: tests/unit/test_ike_conf.c and the
# golden files (check-golden.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
sagate=${SAGATE:-$top/sagate}
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
command -v jq >/dev/null || { bad "jq is needed"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pol=$top/policies/db-server.json

# usage ERR-PATTERN ARGS...: exit 2, nothing on stdout, stderr matches
usage() {
	local pat=$1 out rc
	shift
	out=$("$sagate" "$@" 2>"$tmp/err"); rc=$?
	[ "$rc" = 2 ] && [ -z "$out" ] && grep -qE -- "$pat" "$tmp/err" &&
		ok "usage error: $*" || bad "$*: exit $rc, stdout ${#out} bytes, stderr: $(cat "$tmp/err")"
}
usage 'expected exactly one policy FILE' ike-config
usage 'expected exactly one policy FILE' ike-config "$pol" "$pol"
usage '--local takes one address of this host .* not "10.77.0.0/24"' ike-config --local 10.77.0.0/24 "$pol"
usage '--local takes one address of this host .* not "10.77.0.10/32"' ike-config --local 10.77.0.10/32 "$pol"
usage '--local takes one address of this host .* not "10.77.0.1-10.77.0.9"' ike-config --local 10.77.0.1-10.77.0.9 "$pol"
usage '--local takes one address of this host .* not "db"' ike-config --local db "$pol"
usage '--local takes one address of this host .* not ""' ike-config --local "" "$pol"
usage '--local fd77:0::10 given twice' ike-config --local fd77::10 --local fd77:0::10 "$pol"
many=(); for i in $(seq 1 17); do many+=(--local "10.0.0.$i"); done
usage '--local: at most 16 addresses' ike-config "${many[@]}" "$pol"
usage '--auth takes pubkey or psk, not "cert"' ike-config --auth cert "$pol"
usage '^sagate ike-config: does not take --dry-run' ike-config --dry-run "$pol"
usage '^sagate ike-config: does not take --no-engine' ike-config --no-engine "$pol"
usage '^sagate compile: does not take --local' compile --local 10.0.0.1 "$pol"
usage '^sagate check: does not take --auth' check --auth psk "$pol"

# a policy with an error: exit 1, the error names the file, nothing on stdout
printf '{"version": 1, "rules": [{"name": "x", "action": "require-ipsec", "peers": "10.0.0.300"}]}' >"$tmp/bad.json"
out=$("$sagate" ike-config "$tmp/bad.json" 2>"$tmp/err"); rc=$?
[ "$rc" = 1 ] && [ -z "$out" ] && grep -q "$tmp/bad.json" "$tmp/err" &&
	ok "policy error: exit 1, named, no fragment" || bad "bad policy: exit $rc: $out $(cat "$tmp/err")"

# a rule no child can be made for: warning naming it, the rest still made
printf '%s' '{"version": 1, "rules": [
 {"name": "bare", "action": "require-ipsec", "peers": "10.0.0.5", "ipsec": {"algorithms": ["aes128"]}},
 {"name": "good", "action": "require-ipsec", "peers": "10.0.0.6", "protocol": "tcp", "ports": 22}]}' >"$tmp/w.json"
out=$("$sagate" ike-config "$tmp/w.json" 2>"$tmp/err"); rc=$?
[ "$rc" = 0 ] && grep -q 'rule "bare".*warning: no ESP proposal' "$tmp/err" && grep -q '^			good {$' <<<"$out" &&
	! grep -q 'bare {' <<<"$out" && ok "unmakeable rule: a warning, the others made" ||
	bad "unmakeable rule: exit $rc: $(cat "$tmp/err")"

# --local and --auth psk in the fragment
out=$("$sagate" ike-config --local 10.77.0.10 --local fd77::10 --auth psk "$pol"); rc=$?
[ "$rc" = 0 ] && [ "$(grep -c '^		local_addrs = 10.77.0.10, fd77::10$' <<<"$out")" = 2 ] &&
	[ "$(grep -c '^			auth = psk$' <<<"$out")" = 4 ] && ! grep -q pubkey <<<"$out" &&
	ok "--local and --auth psk" || bad "--local / --auth psk: exit $rc: $out"

# --json: the same fragment, and its counts
"$sagate" ike-config "$pol" >"$tmp/text"
out=$("$sagate" --json ike-config "$pol"); rc=$?
[ "$rc" = 0 ] && [ "$(jq -c '[.command, .ok, .connections, .children, .rules, (.diagnostics | length)]' <<<"$out")" = '["ike-config",true,2,2,2,0]' ] &&
	[ "$(jq -r .swanctl <<<"$out")" = "$(cat "$tmp/text")" ] &&
	ok "--json: fragment and counts" || bad "--json: exit $rc: $out"

# identity rules: the remote ids, one connection per identity (golden
# file, made by hand once and read: tests/golden/db-server-pki.swanctl);
# kernel-only mode refuses the policy, naming the rules
ident=$top/tests/ident/db-server-pki.json
out=$(cd "$top" && "$sagate" ike-config tests/ident/db-server-pki.json); rc=$?
[ "$rc" = 0 ] && [ "$out" = "$(cat "$top/tests/golden/db-server-pki.swanctl")" ] &&
	ok "identities: the fragment is tests/golden/db-server-pki.swanctl" ||
	bad "identities: exit $rc or the fragment differs: $(diff <(echo "$out") "$top/tests/golden/db-server-pki.swanctl")"
out=$("$sagate" check --no-engine "$ident" 2>&1); rc=$?
[ "$rc" = 1 ] && [ "$(grep -c 'names IKE identities, which only sagated can check' <<<"$out")" = 2 ] &&
	ok "identities: kernel-only mode refuses them" || bad "identities in kernel-only mode: exit $rc: $out"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
