# The example site inside the QEMU guest, for the engine scenarios: the
# kernel modules, the db / net namespaces (tests/lib/topology.sh) with
# static neighbours, and ESP transport SAs between app server and db.
# Source after tests/lib/netns.sh and tests/lib/topology.sh, with $db and
# $net set; the sagated helpers also use $sagated and $log, and keep the
# daemon's pid in $dpid.

app=10.77.0.21 dbaddr=10.77.0.10
aead='rfc4106(gcm(aes))'
k1=0x0123456789abcdef0123456789abcdef01234567
k2=0x89abcdef0123456789abcdef0123456789abcdef
ka=0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff	# HMAC-SHA-256

site_up() {
	local m mac_db mac_net a
	for m in nf_tables nft_queue nft_xfrm nfnetlink_queue xfrm_user esp4 veth; do
		modprobe "$m" || bad "modprobe $m"
	done
	topo_up "$db" "$net" || return 1
	# static neighbours: no ARP that the IPsec policies could catch
	mac_db=$(ip -n "$db" link show veth-db | awk '/link\/ether/ { print $2 }')
	mac_net=$(ip -n "$net" link show veth-net | awk '/link\/ether/ { print $2 }')
	ip -n "$net" neigh replace $dbaddr dev veth-net lladdr "$mac_db" nud permanent
	for a in $app 10.77.0.66; do
		ip -n "$db" neigh replace $a dev veth-db lladdr "$mac_net" nud permanent
	done
}

# IPsec policies: everything between app and db goes through ESP, reqid 7.
sa_policies() {
	ip -n "$net" xfrm policy add src $app dst $dbaddr dir out \
		tmpl src $app dst $dbaddr proto esp reqid 7 mode transport &&
	ip -n "$net" xfrm policy add src $dbaddr dst $app dir in \
		tmpl src $dbaddr dst $app proto esp reqid 7 mode transport &&
	ip -n "$db" xfrm policy add src $dbaddr dst $app dir out \
		tmpl src $dbaddr dst $app proto esp reqid 7 mode transport &&
	ip -n "$db" xfrm policy add src $app dst $dbaddr dir in \
		tmpl src $app dst $dbaddr proto esp reqid 7 mode transport
}

# ESP transport (AES-GCM) between app and db, both directions, both ends.
sa_up() {
	local ns
	for ns in "$db" "$net"; do
		ip -n "$ns" xfrm state add src $app dst $dbaddr proto esp spi 0x1000 reqid 7 \
			mode transport aead "$aead" $k1 128 sel src $app dst $dbaddr || return 1
		ip -n "$ns" xfrm state add src $dbaddr dst $app proto esp spi 0x2000 reqid 7 \
			mode transport aead "$aead" $k2 128 sel src $dbaddr dst $app || return 1
	done
	sa_policies
}

sa_down() {
	local ns
	for ns in "$db" "$net"; do
		ip -n "$ns" xfrm policy flush
		ip -n "$ns" xfrm state flush
	done
}

# ESP with a null cipher between app and db: integrity (HMAC-SHA-256-128)
# without encryption, reqid 7.
sa_up_null() {
	local ns
	for ns in "$db" "$net"; do
		ip -n "$ns" xfrm state add src $app dst $dbaddr proto esp spi 0x3000 reqid 7 \
			mode transport enc 'ecb(cipher_null)' '' auth-trunc 'hmac(sha256)' $ka 128 \
			sel src $app dst $dbaddr || return 1
		ip -n "$ns" xfrm state add src $dbaddr dst $app proto esp spi 0x4000 reqid 7 \
			mode transport enc 'ecb(cipher_null)' '' auth-trunc 'hmac(sha256)' $ka 128 \
			sel src $dbaddr dst $app || return 1
	done
	sa_policies
}

# rule_counter CHAIN COMMENT-SUBSTRING: packets of that rule's counter in db
rule_counter() {
	ip netns exec "$db" nft list chain inet sagate "$1" |
		awk -v c="$2" 'index($0, c) { for (i = 1; i <= NF; i++) if ($i == "packets") { print $(i + 1); exit } }'
}

# daemon_start [OPTIONS]: sagated in db, its output in $log; waits for its
# ready line (10 s)
daemon_start() {
	local i
	: >"$log"
	ip netns exec "$db" "$sagated" "$@" >>"$log" 2>&1 &
	dpid=$!
	for i in $(seq 1 100); do
		grep -q '"event":"ready"' "$log" && return 0
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

# daemon_stop SIG: signal sagated, return its exit status
daemon_stop() {
	local st
	kill -"$1" "$dpid" 2>/dev/null
	wait "$dpid"
	st=$?
	dpid=
	return $st
}

# log_has STRING...: some line of $log holds every STRING
log_has() {
	local l
	while IFS= read -r l; do
		local all=1 s
		for s in "$@"; do [[ $l == *"$s"* ]] || { all=0; break; }; done
		[ $all = 1 ] && return 0
	done <"$log"
	return 1
}
