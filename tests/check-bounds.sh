#!/bin/bash
# check-bounds.sh: inputs too big to commit, generated here, each run
# with a time limit and (outside sanitizer builds) a memory limit, and
# each refused with its exact error:
#  - a rule name of 1 MB is quoted cut to 64 characters, not whole;
#  - host groups nested 9,000 deep (a stack overflow in the resolver
#    once) stop at 32 with the chain shown, in 8 MiB of stack;
#  - host groups that hold each other 8 times over 15 levels (1.3 kB)
#    check and audit in a second and 512 MiB (the audit expanded every
#    reference once: 8^15 visits), and so do files that include each
#    other 8 times over 15 levels (the audit read them 8^15 times);
#  - 1,000,000 hosts on 10 ports (10 million set elements, 11 s and
#    2.6 GB once) and 2,000 rules whose "local" ranges cross (2 million)
#    pass the policy's limit of a million kernel set elements, and say
#    so within a few seconds and 512 MiB; with "max-elements" raised,
#    the crossing rules compile.
#
# The sagate binary: $SAGATE, else ./sagate (the build directory under
# "make check").  Needs bash and coreutils, not root.
set -u

sagate=${SAGATE:-./sagate}
case $sagate in
/*) ;;
*) sagate=$PWD/$sagate ;;
esac
if [ ! -x "$sagate" ]; then
	echo "check-bounds.sh: no sagate binary at $sagate (set SAGATE)" >&2
	exit 99
fi
# AddressSanitizer reserves terabytes of address space: no ulimit -v there
vlimit=1
if ldd "$sagate" 2>/dev/null | grep -q 'libasan'; then
	vlimit=
fi

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99

passed=0
failed=0

# bounded NAME SECONDS MIB COMMAND...: run it with 8 MiB of stack, at most
# SECONDS and MIB of address space; stdout and stderr in NAME.out, the
# exit status in $rc (124: out of time, 128 + N: killed by signal N).
bounded() {
	local name=$1 secs=$2 mib=$3
	shift 3
	(
		ulimit -s 8192
		[ -n "$vlimit" ] && ulimit -v $((mib * 1024))
		exec timeout "$secs" "$@"
	) >"$name.out" 2>&1
	rc=$?
}

# bounded_audit NAME FILE: sagate audit FILE in 10 s and 512 MiB.  What
# the kernel holds (and whether it can be read) varies: only the findings
# about host groups stay in NAME.out, and exit status 4 (a finding about
# the kernel) counts as 0.
bounded_audit() {
	bounded "$1" 10 512 "$sagate" audit "$2"
	grep ' family-counterpart ' "$1.out" >"$1.groups"
	mv "$1.groups" "$1.out"
	[ "$rc" -eq 4 ] && rc=0
}

# expect NAME STATUS: the run must have ended with STATUS and printed
# exactly what is on stdin.
expect() {
	local name=$1 status=$2
	cat >"$name.expect"
	if [ "$rc" -eq "$status" ] && cmp -s "$name.expect" "$name.out"; then
		echo "PASS: $name"
		passed=$((passed + 1))
		return
	fi
	echo "FAIL: $name (exit status $rc, expected $status)"
	head -c 2000 "$name.out" | diff -u --label expected --label got "$name.expect" - | head -20
	failed=$((failed + 1))
}

# --- a rule name of 1 MB ---------------------------------------------------
a64=$(printf 'a%.0s' $(seq 64))
{
	printf '{"version": 1, "rules": [{"name": "'
	head -c 1000000 /dev/zero | tr '\0' a
	printf '", "action": "permit"}]}\n'
} >long-name.json
bounded long-name 20 512 "$sagate" check long-name.json
expect long-name 1 <<EOF
long-name.json: rules[0].name: error: rule name "$a64..." must be 1-48 letters, digits, '_', '.' or '-', starting with a letter or digit
long-name.json: 1 error, 0 warnings; nothing would be applied
EOF

# --- host groups 9,000 deep: g0 holds @g1 ... g8999 holds @g9000 -------------
{
	printf '{"version": 1, "hosts": {'
	for ((i = 0; i < 9000; i++)); do
		printf '"g%d": ["@g%d"], ' "$i" $((i + 1))
	done
	printf '"g9000": "192.0.2.1"}, "rules": [{"name": "r", "action": "permit", "peers": "@g0"}]}\n'
} >deep-groups.json
bounded deep-groups 20 512 "$sagate" check deep-groups.json
expect deep-groups 1 <<EOF
deep-groups.json: hosts.g31[0]: error: host groups nest deeper than 32: @g0 -> @g1 -> @g2 -> @g3 -> (25 more) -> @g29 -> @g30 -> @g31 -> @g32
deep-groups.json: 1 error, 0 warnings; nothing would be applied
EOF

# --- g0 holds @g1 8 times, ... g14 holds @g15 8 times --------------------------
{
	printf '{"version": 1, "hosts": {'
	for ((i = 0; i < 15; i++)); do
		printf '"g%d": ["@g%d"' "$i" $((i + 1))
		for ((j = 1; j < 8; j++)); do
			printf ', "@g%d"' $((i + 1))
		done
		printf '], '
	done
	printf '"g15": ["192.0.2.1", "2001:db8::1"]}, "rules": [
	  {"name": "v4-only", "action": "permit", "peers": "192.0.2.1", "protocol": "tcp", "ports": 22},
	  {"name": "both", "action": "permit", "peers": "@g0", "protocol": "tcp", "ports": 80}]}\n'
} >fan.json
bounded fan-check 10 512 "$sagate" check fan.json
expect fan-check 0 <<EOF
fan.json: ok: 2 rules -> 29 kernel rules, 3 set elements; 0 warnings
EOF
bounded_audit fan-audit fan.json
expect fan-audit 0 <<EOF
warning family-counterpart     rule "v4-only": rules[0]: names only the IPv4 addresses of host group "g0", which also has IPv6 ones (2001:db8::1): their IPv6 traffic falls to a later rule or the default
EOF

# --- f1.json includes f2.json 8 times, ... f14.json includes f15.json 8 times --
mkdir inc
for ((i = 1; i < 15; i++)); do
	{
		printf '{"version": 1, "include": ["f%d.json"' $((i + 1))
		for ((j = 1; j < 8; j++)); do
			printf ', "f%d.json"' $((i + 1))
		done
		printf '], "hosts": {"h%d": "10.0.0.%d"}}\n' "$i" "$i"
	} >inc/f$i.json
done
printf '{"version": 1, "hosts": {"h15": ["192.0.2.1", "2001:db8::1"]}}\n' >inc/f15.json
printf '{"version": 1, "include": ["inc/f1.json"], "rules": [
  {"name": "v4-only", "action": "permit", "peers": "192.0.2.1", "protocol": "tcp", "ports": 22}]}\n' >fan-files.json
bounded_audit fan-files fan-files.json
expect fan-files 0 <<EOF
warning family-counterpart     rule "v4-only": rules[0]: names only the IPv4 addresses of host group "h15", which also has IPv6 ones (2001:db8::1): their IPv6 traffic falls to a later rule or the default
EOF

# --- 1,000,000 hosts (10.0.0.0, 10.0.0.2, ...) on 10 ports ----------------------
awk 'BEGIN {
	printf "{\"version\": 1, \"hosts\": {\"many\": ["
	for (i = 0; i < 1000000; i++)
		printf "%s\"10.%d.%d.%d\"", i ? ", " : "", int(i / 32768), int(i / 128) % 256, 2 * (i % 128)
	printf "]}, \"rules\": [{\"name\": \"many\", \"action\": \"permit\", \"peers\": \"@many\","
	printf " \"protocol\": \"tcp\", \"ports\": [22, 25, 80, 110, 143, 443, 993, 995, 5432, 8080]}]}\n"
}' >many-hosts.json
bounded many-hosts 20 1024 "$sagate" check many-hosts.json
expect many-hosts 1 <<EOF
many-hosts.json: error: the rules name 10000000 combinations of addresses and ports, about as many kernel set elements, more than the policy's limit of 1000000; "max-elements" raises the limit
many-hosts.json: 1 error, 0 warnings; nothing would be applied
EOF

# --- 2,000 rules, rule i: peers 10.x.y.0/24, local 192.168.0.0 up to 192.168.x.y
crossing() {	# MAX-ELEMENTS (or "")
	awk -v max="$1" 'BEGIN {
		printf "{\"version\": 1, %s\"rules\": [", max ? "\"max-elements\": " max ", " : ""
		for (i = 0; i < 2000; i++)
			printf "%s{\"name\": \"c%d\", \"action\": \"permit\", \"peers\": \"10.%d.%d.0/24\", \"local\": \"192.168.0.0-192.168.%d.%d\", \"protocol\": \"tcp\", \"ports\": 22}", i ? ", " : "", i, int(i / 256), i % 256, int(i / 256), i % 256
		printf "]}\n"
	}'
}
crossing "" >crossing.json
bounded crossing 20 512 "$sagate" check crossing.json
expect crossing 1 <<EOF
crossing.json: error: the policy needs more than the 1000000 kernel set elements its limit allows; "max-elements" raises the limit
crossing.json: 1 error, 0 warnings; nothing would be applied
EOF
crossing 3000000 >crossing-raised.json
bounded crossing-raised 20 2048 "$sagate" check crossing-raised.json
expect crossing-raised 0 <<EOF
crossing-raised.json: ok: 2000 rules -> 29 kernel rules, 2001000 set elements; 0 warnings
EOF

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
