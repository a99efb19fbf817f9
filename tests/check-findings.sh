#!/bin/bash
# check and audit agree (no root, no kernel): a policy of only a
# require-ipsec rule is told that its peers' ESP is dropped, by both and
# in the words sagate(8) quotes; every policy finding has one kind and
# one severity in both; --fail-on is honoured by check too; "accept-
# findings" acknowledges without counting; audit --policy-only reads no
# kernel; every command refuses the options it does not take.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
sagate=${SAGATE:-$top/sagate}
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
command -v jq >/dev/null || { echo "FAIL: jq is needed (apt-get install jq)"; exit 1; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
# runs in an empty state directory, so that nothing applied is found
export SAGATE_STATE_DIR=$tmp/state
mkdir -m 700 "$tmp/state"

# --- 1. the first-time admin's policy -----------------------------------------
pol=$tmp/ssh.json
cat >"$pol" <<'J'
{ "version": 1,
  "rules": [ { "name": "ssh", "action": "require-ipsec", "peers": "192.0.2.0/28",
               "protocol": "tcp", "ports": [22] } ] }
J
msg='ESP from 192.0.2.0/28 is dropped by the inbound default (block), and so is ESP in UDP 4500 (NAT-T): no IPsec packet from them can arrive, so this rule admits nothing from them; add a rule that permits "protocol": "esp" from them; IKE (UDP 500 and 4500) is dropped too: if they negotiate their SAs with this host, permit "protocol": "udp", "ports": [500, 4500] from them as well'
out=$("$sagate" check "$pol"); rc=$?
want="$pol: rules[0] (rule \"ssh\"): warning: $msg [ipsec-unreachable]
$pol: ok: 1 rules -> $(jq -r .kernel_rules <("$sagate" --json check "$pol")) kernel rules, 1 set elements; 1 warning"
[ "$rc" = 0 ] && [ "$out" = "$want" ] && ok "check: the missing ESP and IKE permits, named, exit 0" ||
	bad "check: exit $rc: $(diff <(echo "$want") <(echo "$out"))"
out=$("$sagate" check --fail-on warning "$pol"); rc=$?
[ "$rc" = 4 ] && [ "$(tail -n1 <<<"$out")" = "$pol: ok: 1 rules -> $(jq -r .kernel_rules <("$sagate" --json check "$pol")) kernel rules, 1 set elements; 1 warning; exit 4 at --fail-on warning" ] &&
	ok "check --fail-on warning: exit 4, and says why" || bad "check --fail-on warning: exit $rc: $out"
"$sagate" check --fail-on error "$pol" >/dev/null; rc=$?
[ "$rc" = 0 ] && ok "check --fail-on error: exit 0 (findings are warnings)" || bad "check --fail-on error: exit $rc"
out=$("$sagate" audit --policy-only "$pol"); rc=$?
want="warning ipsec-unreachable      rule \"ssh\": rules[0]: $msg
audit of $pol (the policy only): 0 error(s), 1 warning(s), 0 info"
[ "$rc" = 0 ] && [ "$out" = "$want" ] && ok "audit --policy-only: the same finding, nothing of the kernel" ||
	bad "audit --policy-only: exit $rc: $(diff <(echo "$want") <(echo "$out"))"
"$sagate" audit --policy-only --fail-on warning "$pol" >/dev/null; rc=$?
[ "$rc" = 4 ] && ok "audit --policy-only --fail-on warning: exit 4" || bad "audit --policy-only --fail-on warning: exit $rc"
# the outbound twin
cat >"$tmp/out.json" <<'J'
{ "version": 1, "defaults": { "in": "block", "out": "block" },
  "rules": [ { "name": "db", "action": "require-ipsec", "direction": "out", "peers": "2001:db8::10",
               "protocol": "tcp", "ports": [5432] } ] }
J
out=$("$sagate" --json check "$tmp/out.json" | jq -r '.diagnostics[] | select(.kind == "ipsec-unreachable") | .message')
case $out in
"ESP to 2001:db8::10 is dropped by the outbound default (block)"*'add a rule with "direction": "out" that permits "protocol": "esp" to them'*)
	ok "check: outbound, ESP to the peer" ;;
*) bad "check outbound: $out" ;;
esac
# sagate(8) quotes the message: the same words (wrapped there)
man=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$top/man/sagate.8" |
	awk '/^ESP from 192.0.2.0\/28/ { on = 1 } on { print } on && /from them as well$/ { exit }' | tr '\n' ' ')
[ "${man% }" = "$msg" ] && ok "sagate(8) quotes the ipsec-unreachable message as printed" ||
	bad "sagate(8)'s ipsec-unreachable example: '${man% }'"
# with the permits the admin is told to add: nothing to say
cat >"$tmp/fixed.json" <<'J'
{ "version": 1,
  "rules": [ { "name": "ike", "action": "permit", "peers": "192.0.2.0/28", "protocol": "udp", "ports": [500, 4500] },
             { "name": "esp", "action": "permit", "peers": "192.0.2.0/28", "protocol": "esp" },
             { "name": "ssh", "action": "require-ipsec", "peers": "192.0.2.0/28",
               "protocol": "tcp", "ports": [22] } ] }
J
out=$("$sagate" check --fail-on warning "$tmp/fixed.json"); rc=$?
[ "$rc" = 0 ] && [ "$out" = "$tmp/fixed.json: ok: 3 rules -> $(jq -r .kernel_rules <("$sagate" --json check "$tmp/fixed.json")) kernel rules, $(jq -r .elements <("$sagate" --json check "$tmp/fixed.json")) set elements; 0 warnings" ] &&
	ok "with ESP and IKE permitted: no warning" || bad "fixed policy: exit $rc: $out"

# --- 3. one kind, one severity, in both ----------------------------------------
cat >"$tmp/many.json" <<'J'
{ "version": 1,
  "rules": [ { "name": "a", "action": "permit", "peers": "10.0.0.0/24", "protocol": "tcp", "ports": [22] },
             { "name": "b", "action": "block", "peers": "10.0.0.0/24", "protocol": "tcp", "ports": [22] },
             { "name": "c", "action": "permit", "peers": "10.0.0.0/25", "protocol": "tcp", "ports": [22] },
             { "name": "telnet", "action": "block", "protocol": "tcp", "ports": [23] },
             { "name": "wide", "action": "permit", "peers": "10.0.0.0/8", "protocol": "tcp", "ports": [9187] },
             { "name": "v6ping", "action": "permit", "peers": "10.1.0.1", "protocol": "icmpv6" },
             { "name": "ssh", "action": "require-ipsec", "peers": "192.0.2.0/28", "protocol": "tcp", "ports": [22] } ] }
J
c=$("$sagate" --json check -k "$tmp/many.json" | jq -c '[.diagnostics[] | [.kind, .rule, .severity]] | sort')
a=$("$sagate" --json audit -k --policy-only --fail-on never "$tmp/many.json" |
	jq -c '[.findings[] | select(.kind != "family-counterpart") | [.kind, .rule, .severity]] | sort')
[ "$c" = "$a" ] && ok "check and audit: the same kinds, rules and severities ($c)" || bad "check $c, audit $a"
for k in contradiction shadowed redundant cleartext-wide icmp-family ipsec-unreachable kernel-only-mode; do
	grep -q "\"$k\"" <<<"$c" && ok "a $k finding in both" || bad "no $k finding: $c"
done
# contradiction: check's warning is audit's warning, not an error
"$sagate" audit --policy-only "$tmp/many.json" >/dev/null; rc=$?
[ "$rc" = 0 ] && ok "audit --fail-on error (its default) passes a policy of warnings, as check does" ||
	bad "audit --policy-only: exit $rc"

# --- 3. accept-findings ------------------------------------------------------------
out=$("$sagate" check --fail-on warning "$top/policies/web-server.json"); rc=$?
[ "$rc" = 0 ] && grep -q '(rule "web"): acknowledged: permits ports in cleartext from anyone .* \[cleartext-wide\]$' <<<"$out" &&
	[ "$(tail -n1 <<<"$out" | sed 's/.*; //')" = "0 warnings, 1 acknowledged" ] &&
	ok "web-server: the public port is shown acknowledged, and not counted by --fail-on" ||
	bad "web-server check: exit $rc: $out"
out=$("$sagate" --json audit --policy-only --fail-on warning "$top/policies/web-server.json"); rc=$?
[ "$rc" = 0 ] && [ "$(jq -c '[.counts.warning, .counts.acknowledged, (.findings[] | select(.acknowledged) | .kind), .policy_only]' <<<"$out")" = '[0,1,"cleartext-wide",true]' ] &&
	ok "audit --json: acknowledged, counted apart, exit 0 at --fail-on warning" || bad "audit web-server: exit $rc: $out"
"$sagate" audit --policy-only "$top/policies/web-server.json" | grep -q '^ack     cleartext-wide         rule "web": ' &&
	ok "audit: an acknowledged finding says ack" || bad "audit: no ack line"

# --- 4. many findings of one kind: the first 5, then how many more ------------------
# a cleartext port open to a /8, then N require-ipsec rules whose ESP the
# default drops, the last A of them accepting that
many() {	# FILE N A
	local i sep
	{
		printf '{"version": 1, "rules": [{"name": "wide", "action": "permit", "peers": "10.0.0.0/8", "protocol": "tcp", "ports": [80]}'
		for ((i = 0; i < $2; i++)); do
			printf ', {"name": "r%d", "action": "require-ipsec", "peers": "192.0.2.%d", "protocol": "tcp", "ports": [%d]%s}' \
				"$i" $((i + 1)) $((1000 + i)) "$( ((i >= $2 - $3)) && echo ', "accept-findings": ["ipsec-unreachable"]')"
		done
		printf ']}\n'
	} >"$1"
}
more() {	# FILE SEVERITY N KIND: the line that stands for N findings not shown
	echo "$1: $2: ... and $3 more of this kind, not shown (--all-findings shows them all) [$4]"
}
many "$tmp/many-ur.json" 23 7
p=$tmp/many-ur.json
out=$("$sagate" check "$p"); rc=$?
n=$(grep -c ' warning: ESP from .*\[ipsec-unreachable\]$' <<<"$out")
a=$(grep -c ' acknowledged: ESP from .*\[ipsec-unreachable\]$' <<<"$out")
[ "$rc" = 0 ] && [ "$n" = 5 ] && [ "$a" = 5 ] &&
	grep -qxF "$(more "$p" warning 11 ipsec-unreachable)" <<<"$out" &&
	grep -qxF "$(more "$p" acknowledged 2 ipsec-unreachable)" <<<"$out" &&
	grep -q '(rule "wide"): warning: permits ports in cleartext from 10.0.0.0/8 .*\[cleartext-wide\]$' <<<"$out" &&
	[ "$(grep -c 'more of this kind' <<<"$out")" = 2 ] &&
	[ "$(tail -n1 <<<"$out" | sed 's/.*; //')" = "17 warnings, 7 acknowledged" ] &&
	ok "check: 5 of a kind shown, then \"... and 11 more\" (and 2 more acknowledged); other kinds shown; every one counted" ||
	bad "check of 23 ipsec-unreachable: exit $rc, $n shown, $a acknowledged: $out"
# the first five are the first five, in rule order
[ "$(grep -o '(rule "r[0-9]*"): warning: ESP' <<<"$out" | tr -d '\n')" = '(rule "r0"): warning: ESP(rule "r1"): warning: ESP(rule "r2"): warning: ESP(rule "r3"): warning: ESP(rule "r4"): warning: ESP' ] &&
	ok "check: the findings shown are the first of their kind" || bad "check: not the first five: $out"
"$sagate" check --fail-on warning "$p" >/dev/null; rc=$?
[ "$rc" = 4 ] && ok "check --fail-on warning: exit 4, as before" || bad "check --fail-on warning of many: exit $rc"
out=$("$sagate" check --all-findings "$p"); rc=$?
[ "$rc" = 0 ] && [ "$(grep -c ' warning: ESP from .*\[ipsec-unreachable\]$' <<<"$out")" = 16 ] &&
	[ "$(grep -c ' acknowledged: ESP from .*\[ipsec-unreachable\]$' <<<"$out")" = 7 ] &&
	! grep -q 'more of this kind' <<<"$out" && [ "$(wc -l <<<"$out")" = 25 ] &&
	ok "check --all-findings: all 23, no count line" || bad "check --all-findings: exit $rc: $out"
"$sagate" check --all-findings --fail-on warning "$p" >/dev/null; rc=$?
[ "$rc" = 4 ] && ok "check --all-findings --fail-on warning: exit 4" || bad "check --all-findings --fail-on warning: exit $rc"
j=$("$sagate" --json check "$p")
[ "$(jq -c '[([.diagnostics[] | select(.kind == "ipsec-unreachable")] | length), .warnings, .acknowledged]' <<<"$j")" = '[23,17,7]' ] &&
	! grep -q 'more of this kind' <<<"$j" &&
	ok "check --json: every finding, worded, no count line" || bad "check --json: $(jq -c '[.warnings, .acknowledged, (.diagnostics | length)]' <<<"$j")"
err=$("$sagate" compile "$p" 2>&1 >"$tmp/c1"); rc=$?
[ "$rc" = 0 ] && [ "$(grep -c ' warning: ESP from .*\[ipsec-unreachable\]$' <<<"$err")" = 5 ] &&
	! grep -q acknowledged <<<"$err" && [ "$(wc -l <<<"$err")" = 7 ] &&
	[ "$(tail -n1 <<<"$err")" = "$(more "$p" warning 11 ipsec-unreachable)" ] &&
	ok "compile: on stderr 5 of the kind and \"... and 11 more\"; acknowledged ones left out, as before" ||
	bad "compile of many: exit $rc: $err"
err=$("$sagate" compile --all-findings "$p" 2>&1 >"$tmp/c2"); rc=$?
[ "$rc" = 0 ] && [ "$(grep -c ' warning: ESP from .*\[ipsec-unreachable\]$' <<<"$err")" = 16 ] &&
	[ "$(wc -l <<<"$err")" = 17 ] && cmp -s "$tmp/c1" "$tmp/c2" &&
	ok "compile --all-findings: all 16 on stderr, the same ruleset on stdout" || bad "compile --all-findings: exit $rc: $err"
err=$("$sagate" --json compile "$p" 2>&1 >/dev/null)
[ "$(tail -n1 <<<"$err")" = "$(more "$p" warning 11 ipsec-unreachable)" ] && [ "$(wc -l <<<"$err")" = 7 ] &&
	ok "compile --json: its findings are text on stderr, capped as without --json" || bad "compile --json stderr: $err"
# the count is exact at the edge: 6 of a kind is 5 and "1 more"; 5 is 5 and no line
many "$tmp/six.json" 6 0
out=$("$sagate" check "$tmp/six.json")
grep -qxF "$(more "$tmp/six.json" warning 1 ipsec-unreachable)" <<<"$out" &&
	[ "$(grep -c ' warning: ESP from' <<<"$out")" = 5 ] && ok "6 of a kind: 5 shown and \"... and 1 more\"" || bad "6 of a kind: $out"
many "$tmp/five.json" 5 0
out=$("$sagate" check "$tmp/five.json")
! grep -q 'more of this kind' <<<"$out" && [ "$(grep -c ' warning: ESP from' <<<"$out")" = 5 ] &&
	ok "5 of a kind: all 5, no count line" || bad "5 of a kind: $out"

# --- 3. options a command does not take ----------------------------------------------
refuse() {	# COMMAND OPTION ARGS...: exit 2 and the message naming OPTION
	local cmd=$1 opt=$2 err rc
	shift
	err=$("$sagate" "$@" 2>&1 >/dev/null); rc=$?
	[ "$rc" = 2 ] && [ "$err" = "sagate $cmd: does not take $opt (see sagate --help)" ] &&
		ok "sagate $cmd refuses $opt" || bad "sagate $cmd $opt: exit $rc: $err"
}
refuse check --from 10.0.0.1 check "$pol"
refuse check --state-dir "$tmp" check "$pol"
refuse audit --all-findings audit --all-findings "$pol"
refuse explain --all-findings explain --all-findings --from 10.0.0.1 --proto tcp --port 22 "$pol"
refuse compile --dry-run compile "$pol"
refuse status --fail-on warning status
refuse check --policy-only check "$pol"
refuse list --out list
refuse confirm --confirm 30 confirm
refuse audit --policy "$pol" audit "$pol"
refuse explain --wait 3 explain --from 10.0.0.1 --proto tcp --port 22 "$pol"
refuse confirm --dry-run confirm
refuse status --queues 2 status --queues 2
refuse rollback --queues 2 rollback --queues 2
# --queues: 1-64, and both banks below 65535, or a clear usage error
for v in 0 65 -1 2x ""; do
	err=$("$sagate" compile --queues "$v" "$pol" 2>&1 >/dev/null); rc=$?
	[ "$rc" = 2 ] && [ "$err" = "sagate: --queues takes a number of queues 1-64, not \"$v\"" ] &&
		ok "--queues \"$v\" refused" || bad "--queues \"$v\": exit $rc: $err"
done
err=$("$sagate" compile --queue 65530 --queues 4 "$pol" 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] && [ "$err" = "error: --queues 4 from queue 65530: its second bank (queues 65534-65537) would pass 65535; sagated needs both to hand a policy over without a gap" ] &&
	ok "--queue 65530 --queues 4 refused: bank B would pass 65535" || bad "--queue 65530 --queues 4: exit $rc: $err"
"$sagate" compile --queue 4 --queues 3 "$pol" | grep -q ' queue num 4-6 fanout ' &&
	ok "compile --queue 4 --queues 3: queue num 4-6 fanout" || bad "compile --queues 3: no fanout range"
"$sagate" compile --queues 1 "$pol" | grep -q ' queue num 0 comment' &&
	ok "compile --queues 1: one queue, as before" || bad "compile --queues 1: not one queue"
printf '{"version": 1, "queues": 0, "rules": []}\n' >"$tmp/q0.json"
"$sagate" check "$tmp/q0.json" >"$tmp/q0.out" 2>&1; rc=$?
err=$(head -n 1 "$tmp/q0.out")
[ "$rc" = 1 ] && [ "$err" = "$tmp/q0.json: queues: error: queues 0 is outside 1-64 (sagated serves at most 64 queues per bank)" ] &&
	ok "policy \"queues\": 0 refused, naming file and key" || bad "policy queues 0: exit $rc: $err"
"$sagate" --json check -q 3 --queues 2 -k --fail-on never "$pol" >/dev/null && ok "check takes --json, -q, --queues, -k, --fail-on" ||
	bad "check refused an option it takes"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
