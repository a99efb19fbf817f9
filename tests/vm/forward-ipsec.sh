#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run), whose Debian kernel has
# ESP and the nft queue expression: the host kernel has neither.
#
# require-ipsec on traffic routed through a host: the app server
# (10.77.0.21, namespace cli) reaches the backend (10.79.0.10, namespace
# be) through gw (10.77.0.10 / 10.79.0.1, forwarding on), over an ESP
# tunnel (AES-GCM, set by hand with ip xfrm) that ends on gw, the inner
# packet routed on in cleartext.  gw holds tests/netns/forward.json:
#  - in cleartext, the app server's PostgreSQL to the backend is dropped;
#  - engine mode: through the tunnel, sagated admits it (logged as a
#    forwarded flow of rule fwd-pg); with sagated stopped it is dropped;
#  - with no IPsec policy for the replies (gw's out, the app server's in),
#    the reply would leave in cleartext and be taken: the flow is admitted
#    but its reply dropped and counted by gw's forward chain;
#  - kernel-only mode: through the tunnel, admitted; in cleartext, dropped;
#  - the stranger (10.77.0.66) is blocked whatever.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/vm/lib-site.sh"	# daemon_start and rule_counter, in namespace $db
cli=sgvf-cli-$$ gw=sgvf-gw-$$ be=sgvf-be-$$
db=$gw
export SAGATE_STATE_DIR=/tmp/sagate-vmf-state-$$
log=/tmp/sagated-vmf-$$.log
dpid=
netns_throwaway "$cli" "$gw" "$be"
epid=
trap '[ -n "$dpid" ] && kill "$dpid" 2>/dev/null; [ -n "$epid" ] && kill "$epid" 2>/dev/null; for n in $netns_names; do ip netns del "$n" 2>/dev/null; done; rm -rf "$tmp" "$SAGATE_STATE_DIR" "$log"' EXIT

app=10.77.0.21 mal=10.77.0.66 gwa=10.77.0.10 gwb=10.79.0.1 back=10.79.0.10

for m in nf_tables nft_queue nft_xfrm nfnetlink_queue xfrm_user esp4 veth; do
	modprobe "$m" || bad "modprobe $m"
done
ip link add c0 netns "$cli" type veth peer name g0 netns "$gw" &&
ip link add g1 netns "$gw" type veth peer name b0 netns "$be" || { bad "veth pairs"; summary; exit 1; }
for n in "$cli" "$gw" "$be"; do ip -n "$n" link set lo up; done
ip -n "$cli" link set c0 up; ip -n "$gw" link set g0 up
ip -n "$gw" link set g1 up; ip -n "$be" link set b0 up
ip -n "$cli" addr add $app/24 dev c0; ip -n "$cli" addr add $mal/24 dev c0
ip -n "$gw" addr add $gwa/24 dev g0; ip -n "$gw" addr add $gwb/24 dev g1
ip -n "$be" addr add $back/24 dev b0
ip -n "$be" route add default via $gwb
ip netns exec "$gw" sysctl -qw net.ipv4.ip_forward=1 || bad "forwarding on in gw"
mac() { ip -n "$1" link show "$2" | awk '/link\/ether/ { print $2 }'; }
# static neighbours: no ARP that the IPsec policies could catch
ip -n "$cli" neigh replace $gwa dev c0 lladdr "$(mac "$gw" g0)" nud permanent
for a in $app $mal; do ip -n "$gw" neigh replace $a dev g0 lladdr "$(mac "$cli" c0)" nud permanent; done
ip -n "$gw" neigh replace $back dev g1 lladdr "$(mac "$be" b0)" nud permanent
ip -n "$be" neigh replace $gwb dev b0 lladdr "$(mac "$gw" g1)" nud permanent

# probe SRC DST PORT: "open" (the backend answered, a reset: nothing
# listens) or "dropped"
probe() {
	local out
	ip -n "$cli" route replace "$2" via $gwa src "$1" 2>/dev/null
	out=$(ip netns exec "$cli" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>&1)
	case $? in
	0) echo open ;;
	124) echo dropped ;;
	*) grep -q refused <<<"$out" && echo open || echo "error: $out" ;;
	esac
}
expect() {	# DESC WANT SRC DST PORT
	local desc=$1 want=$2 r
	shift 2
	r=$(probe "$@")
	if [ "$r" = "$want" ]; then ok "$desc: $r"; else bad "$desc: $r, wanted $want"; fi
}
# The tunnel app <-> gw for app <-> backend, reqid 9.  The policies for
# the replies (gw's out, the app server's in) only when $1 is "with-out":
# without them a reply leaves gw in cleartext and the app server takes it
tunnel_up() {
	local ns
	for ns in "$cli" "$gw"; do
		ip -n "$ns" xfrm state add src $app dst $gwa proto esp spi 0x1000 reqid 9 mode tunnel \
			aead "$aead" $k1 128 sel src $app dst $back || return 1
		ip -n "$ns" xfrm state add src $gwa dst $app proto esp spi 0x2000 reqid 9 mode tunnel \
			aead "$aead" $k2 128 sel src $back dst $app || return 1
	done
	ip -n "$cli" xfrm policy add src $app dst $back dir out \
		tmpl src $app dst $gwa proto esp reqid 9 mode tunnel &&
	ip -n "$gw" xfrm policy add src $app dst $back dir fwd \
		tmpl src $app dst $gwa proto esp reqid 9 mode tunnel || return 1
	[ "${1:-}" = with-out ] || return 0
	ip -n "$cli" xfrm policy add src $back dst $app dir in \
		tmpl src $gwa dst $app proto esp reqid 9 mode tunnel &&
	ip -n "$gw" xfrm policy add src $back dst $app dir out \
		tmpl src $gwa dst $app proto esp reqid 9 mode tunnel
}
tunnel_down() {
	local ns
	for ns in "$cli" "$gw"; do ip -n "$ns" xfrm policy flush; ip -n "$ns" xfrm state flush; done
}
# packets gw decrypted with the app server's SA (SPI 0x1000)
sa_packets() {
	ip -n "$gw" -s xfrm state get src $app dst $gwa proto esp spi 0x1000 2>/dev/null |
		sed -n '/lifetime current/{n;s/.* \([0-9]*\)(packets).*/\1/p}'
}
# an echo server on the backend's 5432: one line back per connection
ip netns exec "$be" /usr/bin/python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.79.0.10", 5432))
s.listen(8)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        c.sendall(c.recv(100))
    except OSError:
        pass
    c.close()
' &
epid=$!
for i in $(seq 1 50); do ip netns exec "$be" ss -ltn | grep -q 10.79.0.10:5432 && break; sleep 0.1; done
# echo_line: a line to the backend's 5432 and what comes back
echo_line() {
	ip netns exec "$cli" timeout 5 bash -c \
		"exec 3<>/dev/tcp/$back/5432 && echo hello-through-gw >&3 && read -r l <&3 && echo \$l" 2>/dev/null
}
# drops of a forward require-ipsec flow's original-way packets: in
# cleartext, or through an SA of another binding
fwd_drops() {
	echo $(( $(rule_counter forward "forwarded packet arrived in cleartext") +
		 $(rule_counter forward "another binding") ))
}
cd "$top" || exit 1

# engine mode
out=$(ip netns exec "$gw" "$sagate" apply tests/netns/forward.json 2>&1)
grep -q "engine mode" <<<"$out" && ok "apply in engine mode" || bad "apply: $out"
daemon_start && ok "sagated is ready" || bad "sagated not ready: $(cat "$log")"
before=$(rule_counter ipsec_in "arrived in cleartext")
expect "cleartext: app to backend 5432 (fwd-pg)" dropped $app $back 5432
after=$(rule_counter ipsec_in "arrived in cleartext")
[ "${after:-0}" -gt "${before:-0}" ] && ok "cleartext drop counted in ipsec_in ($before -> $after)" ||
	bad "cleartext drop not counted ($before -> $after)"
grep -q '"verdict"' "$log" && bad "a cleartext packet reached sagated: $(cat "$log")" ||
	ok "cleartext was dropped in the kernel, never queued"
tunnel_up with-out || bad "tunnel app <-> gw"
before=$(sa_packets)
expect "IPsec tunnel: app to backend 5432 (fwd-pg, admitted by sagated)" open $app $back 5432
after=$(sa_packets)
[ "${after:-0}" -gt "${before:-0}" ] && ok "the flow came through the tunnel: gw's SA 0x1000 decrypted $before -> $after packets" ||
	bad "gw's SA 0x1000 decrypted nothing ($before -> $after)"
grep '"verdict":"accept"' "$log" | grep '"rule":"fwd-pg"' | grep '"direction":"forward"' |
	grep -q '"spi":"0x00001000"' && ok "log: accept of a forwarded flow, rule fwd-pg, SPI 0x1000" ||
	bad "no forwarded accept line: $(cat "$log")"
before=$(fwd_drops)
r=$(echo_line)
[ "$r" = hello-through-gw ] && ok "a whole exchange through the tunnel, both ways: echoed" ||
	bad "exchange through the tunnel: \"$r\""
after=$(fwd_drops)
[ "$after" = "$before" ] && ok "its later packets passed the forward chain's IPsec checks (no drop)" ||
	bad "forward chain dropped packets of the admitted flow ($before -> $after)"
expect "stranger to backend 5432 (fwd-pg-others)" dropped $mal $back 5432
r=$(ip netns exec "$gw" "$sagate" --json sa --policy tests/netns/forward.json 2>&1 |
	jq -r '.sas[] | select(.spi == "0x00001000") | .rules[] | select(.rule == "fwd-pg") | .satisfies')
[ "$r" = true ] && ok "sa: the tunnel's SA 0x1000 satisfies forward rule fwd-pg" || bad "sa: fwd-pg $r"
r=$(ip netns exec "$gw" "$sagate" --json explain --forward --from $app --to $back --proto tcp --port 5432 \
	--ipsec spi=0x1000 tests/netns/forward.json 2>&1 | jq -r '"\(.kernel.verdict) \(.engine.verdict) \(.outcome)"')
[ "$r" = "queue accept accept" ] && ok "explain --forward --ipsec spi=0x1000: queued, sagated accepts" ||
	bad "explain --forward --ipsec spi=0x1000: $r"
expect "IPsec tunnel: app to backend 22 (fwd-ssh permit)" open $app $back 22
kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; dpid=
expect "sagated stopped: app to backend 5432 through the tunnel (fail closed)" dropped $app $back 5432
daemon_start || bad "sagated restart: $(cat "$log")"
# the reply of an admitted flow must leave through IPsec too: with no
# policy for the replies on either end, only sagate's forward chain stops
# the cleartext reply
tunnel_down
tunnel_up || bad "tunnel without policies for the replies"
before=$(rule_counter forward "forwarded reply would leave in cleartext")
expect "no IPsec policy for the replies: app to backend 5432, its reply dropped" dropped $app $back 5432
after=$(rule_counter forward "forwarded reply would leave in cleartext")
[ "${after:-0}" -gt "${before:-0}" ] && ok "reply in cleartext dropped and counted ($before -> $after)" ||
	bad "reply in cleartext not counted ($before -> $after)"
grep '"verdict":"accept"' "$log" | grep -q '"rule":"fwd-pg"' &&
	ok "that flow's first packet had been admitted by sagated" || bad "no accept: $(cat "$log")"
kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; dpid=
tunnel_down

# kernel-only mode
ip netns exec "$gw" "$sagate" apply --no-engine tests/netns/forward.json >/dev/null 2>&1 ||
	bad "apply --no-engine"
expect "kernel-only, cleartext: app to backend 5432" dropped $app $back 5432
tunnel_up with-out || bad "tunnel again"
expect "kernel-only, IPsec tunnel: app to backend 5432" open $app $back 5432
r=$(echo_line)
[ "$r" = hello-through-gw ] && ok "kernel-only: a whole exchange through the tunnel: echoed" ||
	bad "kernel-only: exchange through the tunnel: \"$r\""
expect "kernel-only: stranger to backend 5432" dropped $mal $back 5432
summary
