#!/bin/bash
# sagate explain on the shipped db-server policy, offline (no root, no
# kernel): the deciding rule and outcome for one packet of each kind, in
# both modes and both output forms, and its usage errors.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
sagate=${SAGATE:-$top/sagate}
pol=$top/policies/db-server.json
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
command -v jq >/dev/null || { echo "SKIP: jq is needed" >&2; exit 77; }

ex() {	# ARGS...: "rule kernel-verdict outcome" of the JSON answer
	"$sagate" --json explain "$@" "$pol" 2>/dev/null |
		jq -r '"\(.policy.rule // "default") \(.kernel.verdict) \(.outcome)"'
}
want() {	# WANT DESC ARGS...
	local w=$1 d=$2 got
	shift 2
	got=$(ex "$@")
	[ "$got" = "$w" ] && ok "$d" || bad "$d: got \"$got\", want \"$w\""
}
want "postgresql drop drop" "cleartext PostgreSQL from an app server is dropped in the kernel" \
	--from 10.77.0.21 --to 10.77.0.10 --proto tcp --port 5432
want "postgresql queue decided by sagated" "with IPsec it is queued to sagated" \
	--from 10.77.0.21 --proto tcp --port 5432 --ipsec reqid=7
want "postgresql accept accept" "kernel-only mode admits it over IPsec" \
	-k --from 10.77.0.21 --proto tcp --port 5432 --ipsec reqid=7
want "postgresql-others drop drop" "PostgreSQL from a stranger is dropped by its rule" \
	--from 192.0.2.99 --proto tcp --port 5432
want "default drop drop" "an unnamed port falls to the default" \
	--from 192.0.2.99 --proto tcp --port 8080
want "ike accept accept" "IKE from anyone is accepted" --from 2001:db8::1 --proto udp --port 500
want "ping-site accept accept" "ping from the site" --from fd77::30 --proto icmpv6
want "default accept accept" "outbound falls to the default permit" \
	--out --to 192.0.2.1 --proto tcp --port 443
want "default accept accept" "db-server has no forward word: routed PostgreSQL is not covered" \
	--forward --from 192.0.2.99 --to 10.79.0.10 --proto tcp --port 5432
[ "$("$sagate" --json explain --forward --from 192.0.2.99 --to 10.79.0.10 --proto tcp --port 5432 "$pol" |
	jq -r .policy.decided_by)" = not-covered ] && ok "explain says forwarding is not covered" ||
	bad "explain --forward on db-server: not \"not-covered\""
ch=$top/policies/container-host.json
fw() {	# WANT DESC ARGS...: as want, on the container-host policy
	local w=$1 d=$2 got
	shift 2
	got=$("$sagate" --json explain "$@" "$ch" 2>/dev/null |
		jq -r '"\(.policy.rule // "default") \(.kernel.verdict) \(.outcome)"')
	[ "$got" = "$w" ] && ok "$d" || bad "$d: got \"$got\", want \"$w\""
}
fw "db-container drop drop" "container-host: cleartext PostgreSQL routed to the database container is dropped" \
	--forward --from 10.77.0.21 --to 10.79.0.10 --proto tcp --port 5432
fw "db-container queue decided by sagated" "container-host: through IPsec it is queued to sagated" \
	--forward --from 10.77.0.21 --to 10.79.0.10 --proto tcp --port 5432 --ipsec reqid=9
fw "db-container-others drop drop" "container-host: a stranger's PostgreSQL to the container is blocked" \
	--forward --from 192.0.2.99 --to 10.79.0.10 --proto tcp --port 5432
fw "default drop drop" "container-host: anything else routed in falls to defaults.forward block" \
	--forward --from 192.0.2.99 --to 10.79.0.20 --proto tcp --port 80
fw "containers-out accept accept" "container-host: a container starts a flow out" \
	--forward --from 10.79.0.20 --to 192.0.2.99 --proto tcp --port 443

txt=$("$sagate" explain --from 10.77.0.30 --proto tcp --port 22 "$pol")
grep -q '^1. policy: rule "ssh-admins"' <<<"$txt" && grep -q '^outcome: drop$' <<<"$txt" &&
	grep -q 'engine checks for this rule' <<<"$txt" && ok "text output: steps and outcome" ||
	bad "text output: $txt"

usage() {	# DESC ARGS...: exit status 2
	local d=$1
	shift
	"$sagate" explain "$@" "$pol" >/dev/null 2>&1
	[ $? -eq 2 ] && ok "usage error: $d" || bad "not a usage error: $d"
}
usage "no --from" --proto tcp --port 1
usage "no --proto" --from 10.0.0.1
usage "tcp without --port" --from 10.0.0.1 --proto tcp
usage "--port with icmp" --from 10.0.0.1 --proto icmp --port 1
usage "a prefix, not an address" --from 10.0.0.0/8 --proto icmp
usage "mixed families" --from 10.0.0.1 --to ::1 --proto icmp
usage "spi 0" --from 10.0.0.1 --proto icmp --ipsec spi=0
usage "a bad --ipsec" --from 10.0.0.1 --proto icmp --ipsec maybe
usage "an unknown protocol" --from 10.0.0.1 --proto tcpx
usage "--out without --to" --out --from 10.0.0.1 --proto icmp
usage "--forward without --to" --forward --from 10.0.0.1 --proto icmp
usage "--forward with --out" --forward --out --from 10.0.0.1 --to 10.0.0.2 --proto icmp
"$sagate" explain --from 10.0.0.1 --proto icmp "$pol" "$pol" >/dev/null 2>&1
[ $? -eq 2 ] && ok "usage error: two files" || bad "two files accepted"
"$sagate" explain --from 10.0.0.1 --proto icmp /nonexistent.json >/dev/null 2>&1
[ $? -eq 1 ] && ok "an unreadable policy exits 1" || bad "unreadable policy"
# every statement of the kernel's path is named, none shown as "?"
for m in "" -k; do
	for args in "--from 10.77.0.21 --proto tcp --port 5432 --ipsec reqid=7" \
		"--from 10.77.0.21 --proto tcp --port 5432" "--out --to 10.77.0.10 --proto tcp --port 5432"; do
		for p in "$pol" "$top/policies/web-server.json"; do
			# shellcheck disable=SC2086
			txt=$("$sagate" explain $m $args "$p" 2>&1)
			if grep -E '^   chain ' <<<"$txt" | grep -qE '(^| )\?( |$)'; then
				bad "explain $m $args $(basename "$p"): a statement shown as ?: $(grep -E '^   chain ' <<<"$txt" | grep -E '(^| )\?( |$)')"
			else
				ok "explain $m $args $(basename "$p"): every statement named"
			fi
		done
	done
done
txt=$("$sagate" explain --from 10.77.0.21 --proto tcp --port 5432 --ipsec reqid=7 "$pol")
grep -qF 'chain ipsec_in: counter ct mark set ipsec in reqid ct mark set ct mark | 0x80000000 add @ipsec_bound { ct mark . ipsec in reqid } meta priority set ipsec in spi' <<<"$txt" &&
	ok "explain: the binding statements in nft's words" || bad "explain binding: $(grep ipsec_in <<<"$txt")"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
