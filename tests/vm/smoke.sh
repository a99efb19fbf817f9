#!/bin/bash
# smoke.sh: does the test VM give us what sagate's scenarios need?
#
# Runs INSIDE the guest that tests/vm/vm-run boots:
#     tests/vm/vm-run -- tests/vm/smoke.sh
# (as root on the host kernel it would fail its modprobe checks: the host
# kernel has no ESP and no nft queue, which is why the VM exists).
#
# Kernel-selftest style: it makes its own two network namespaces joined by a
# veth pair, sends traffic only between them (10.200.1.0/24, fd00:200:1::/64),
# prints one PASS/FAIL line per check and ends with "N passed, N failed".
# Exit status 0 only if nothing failed.
set -uo pipefail

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# check DESCRIPTION COMMAND...: PASS if COMMAND succeeds, else FAIL with its
# output.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$desc"
	else
		fail "$desc"
		[[ -z $out ]] || printf '      %s\n' "${out//$'\n'/$'\n'      }"
		return 1
	fi
}

# Unique names, so a rerun or a parallel run never meets our leftovers.
id=$$
nsa=sgsmoke-a-$id nsb=sgsmoke-b-$id
veth_a=sga$id veth_b=sgb$id # IFNAMSIZ: at most 15 characters
a4=10.200.1.1 b4=10.200.1.2
a6=fd00:200:1::1 b6=fd00:200:1::2

finished=0
cleanup() {
	local rc=$?
	# A script that stops early must not look like a pass.
	((finished)) || fail "smoke.sh stopped early (status $rc)"
	# Deleting a namespace also takes its veth end, SAs, policies and
	# nft tables with it.
	ip netns del "$nsa" 2>/dev/null
	ip netns del "$nsb" 2>/dev/null
	echo "$passed passed, $failed failed"
	exit $((failed > 0))
}
trap cleanup EXIT

A() { ip netns exec "$nsa" "$@"; }
B() { ip netns exec "$nsb" "$@"; }

echo "# smoke: kernel $(uname -r)"

# --- modules the scenarios rely on (autoloading would hide a missing one)
for m in nf_tables nft_queue nft_xfrm nfnetlink_queue xfrm_user esp4 esp6 veth; do
	check "modprobe $m" modprobe "$m"
done

# --- two namespaces joined by veth.  `ip -n NS` rather than `ip netns exec
# NS ip`: every exec costs tens of ms under TCG.
mac_a=02:00:0a:c8:01:01 mac_b=02:00:0a:c8:01:02
setup_net() {
	ip netns add "$nsa" && ip netns add "$nsb" &&
		ip link add "$veth_a" address "$mac_a" netns "$nsa" type veth \
			peer name "$veth_b" address "$mac_b" netns "$nsb" &&
		ip -n "$nsa" link set lo up && ip -n "$nsb" link set lo up &&
		ip -n "$nsa" addr add "$a4/24" dev "$veth_a" &&
		ip -n "$nsb" addr add "$b4/24" dev "$veth_b" &&
		# nodad: usable at once, no waiting for duplicate address detection
		ip -n "$nsa" addr add "$a6/64" dev "$veth_a" nodad &&
		ip -n "$nsb" addr add "$b6/64" dev "$veth_b" nodad &&
		ip -n "$nsa" link set "$veth_a" up && ip -n "$nsb" link set "$veth_b" up &&
		# Static neighbours: no ARP/ND, so no neighbour discovery packet
		# can get caught by the IPsec policies below.
		ip -n "$nsa" neigh replace "$b4" dev "$veth_a" lladdr "$mac_b" nud permanent &&
		ip -n "$nsb" neigh replace "$a4" dev "$veth_b" lladdr "$mac_a" nud permanent &&
		ip -n "$nsa" neigh replace "$b6" dev "$veth_a" lladdr "$mac_b" nud permanent &&
		ip -n "$nsb" neigh replace "$a6" dev "$veth_b" lladdr "$mac_a" nud permanent
}
check "two namespaces joined by veth ($nsa, $nsb)" setup_net

# Cleartext first: proves the link before IPsec is layered on top.
check "IPv4 ping a -> b in cleartext" A ping -q -c 1 -W 5 "$b4"

# --- nft in b: count what arrives as ESP and what arrives decrypted
# (secpath present), per address family.
nft_b() {
	B nft -f - <<-'EOF'
		table inet sgsmoke {
			counter esp4 { }
			counter esp6 { }
			counter ipsec4 { }
			counter ipsec6 { }
			chain input {
				type filter hook input priority filter; policy accept;
				meta nfproto ipv4 meta l4proto esp counter name "esp4"
				meta nfproto ipv6 meta l4proto esp counter name "esp6"
				meta nfproto ipv4 meta ipsec exists counter name "ipsec4"
				meta nfproto ipv6 meta ipsec exists counter name "ipsec6"
			}
		}
	EOF
}
check "nft ruleset with 'meta ipsec exists' loads in b" nft_b

# packets of named counter NAME in b's table
counter() { B nft list counter inet sgsmoke "$1" | awk '$1 == "packets" { print $2 }'; }

# --- ESP transport mode, rfc4106(gcm(aes)), static SAs on both sides.
# Key: 16 bytes AES + 4 bytes salt; ICV 128 bits.
key_ab=0x0123456789abcdef0123456789abcdef01234567
key_ba=0x89abcdef0123456789abcdef0123456789abcdef
aead='rfc4106(gcm(aes))'

# xfrm_pair SRC DST SPI_SRC_TO_DST SPI_DST_TO_SRC REQID: SAs and policies in
# both namespaces for traffic between SRC (in a) and DST (in b).
xfrm_pair() {
	local s=$1 d=$2 spi_sd=$3 spi_ds=$4 reqid=$5 ns
	for ns in "$nsa" "$nsb"; do
		ip -n "$ns" xfrm state add src "$s" dst "$d" proto esp spi "$spi_sd" reqid "$reqid" \
			mode transport aead "$aead" "$key_ab" 128 sel src "$s" dst "$d" || return
		ip -n "$ns" xfrm state add src "$d" dst "$s" proto esp spi "$spi_ds" reqid "$reqid" \
			mode transport aead "$aead" "$key_ba" 128 sel src "$d" dst "$s" || return
	done
	# a: out s->d, in d->s; b: the mirror image.
	ip -n "$nsa" xfrm policy add src "$s" dst "$d" dir out \
		tmpl src "$s" dst "$d" proto esp reqid "$reqid" mode transport &&
		ip -n "$nsa" xfrm policy add src "$d" dst "$s" dir in \
			tmpl src "$d" dst "$s" proto esp reqid "$reqid" mode transport &&
		ip -n "$nsb" xfrm policy add src "$d" dst "$s" dir out \
			tmpl src "$d" dst "$s" proto esp reqid "$reqid" mode transport &&
		ip -n "$nsb" xfrm policy add src "$s" dst "$d" dir in \
			tmpl src "$s" dst "$d" proto esp reqid "$reqid" mode transport
}

# packets through the SA with SPI in namespace NS ("ip -s xfrm state"
# prints "N(bytes), M(packets)" under "lifetime current:")
sa_packets() { # NS SRC DST SPI
	ip -n "$1" -s xfrm state get src "$2" dst "$3" proto esp spi "$4" 2>/dev/null |
		sed -n 's/.*, *\([0-9][0-9]*\)(packets).*/\1/p' | head -n1
}

# gt0 DESC VALUE: PASS if VALUE is a number > 0
gt0() {
	if [[ $2 =~ ^[0-9]+$ ]] && (($2 > 0)); then pass "$1 ($2)"; else fail "$1 (got '${2}')"; fi
}

esp_test() { # FAMILY(4|6) ADDR_A ADDR_B SPI_AB SPI_BA REQID
	local f=$1 sa=$2 sb=$3
	if ! check "IPv$f ESP transport SAs and policies ($aead) in both namespaces" \
		xfrm_pair "$sa" "$sb" "$4" "$5" "$6"; then
		# A ping now would go out in cleartext and prove nothing.
		fail "IPv$f ESP traffic checks not run: no SAs"
		return
	fi
	# -c 3 -w 10: wait for three replies, give up after 10 s.
	check "IPv$f ping a -> b over ESP" A ping "-$f" -q -c 3 -i 0.2 -w 10 "$sb"
	gt0 "IPv$f ESP packets seen on the wire by nft in b" "$(counter "esp$f")"
	gt0 "IPv$f 'meta ipsec exists' counter in b" "$(counter "ipsec$f")"
	gt0 "IPv$f 'ip -s xfrm state' packets on b's inbound SA" "$(sa_packets "$nsb" "$sa" "$sb" "$4")"
	gt0 "IPv$f 'ip -s xfrm state' packets on a's inbound SA" "$(sa_packets "$nsa" "$sb" "$sa" "$5")"
}
esp_test 4 "$a4" "$b4" 0x1000 0x2000 1
esp_test 6 "$a6" "$b6" 0x3000 0x4000 2

# --- nft queue (missing from the host kernel).  A regular chain: loading
# the rule is the test, no packet gets queued to a listener that isn't there.
queue_rule() {
	A nft -f - <<-'EOF' || return
		table inet sgsmokeq {
			chain q {
				meta l4proto udp queue num 3
			}
		}
	EOF
	local listed
	listed=$(A nft list chain inet sgsmokeq q) || return
	# what the kernel gave back, when it is not the rule (seen once in CI,
	# not reproduced: the listing tells next time)
	grep -Eq 'queue (num|to) 3' <<<"$listed" || { printf 'listed:\n%s\n' "$listed"; return 1; }
}
check "nft 'queue num 3' rule loads in a namespace" queue_rule

finished=1
