# The example site with real peers, for the scenario-*.sh scripts in the
# QEMU guest (tests/vm/vm-run): a `wire` namespace holding a bridge that
# every host hangs off and that counts, per host, ESP and cleartext
# PostgreSQL / ssh crossing it; one charon (strongSwan, IKEv2, PSK) per
# namespace; a private PostgreSQL cluster in `db`.  Source after
# tests/lib/netns.sh (ok / bad / summary).  Everything lives in namespaces
# named $IKE_PFX<host> and in $IKE_DIR; ike_down removes it all.
#
#   host     IPv4         IPv6       role (rules/hosts.json)
#   db       10.77.0.10   fd77::10   the database server
#   app1     10.77.0.21   fd77::21   app server, IPsec to db (transport)
#   app2     10.77.0.22   fd77::22   app server without IPsec
#   admin    10.77.0.30   fd77::30   administrator, IPsec to db
#   mal      10.77.0.66   fd77::66   a stranger on the wire (injects)
#   gw       10.77.0.40   fd77::40   tunnel gateway for branch-net
#   branch   10.78.0.5    fd78::5    behind gw (also 10.78.0.200, fd78::8000:0:0:200)
#
# Neighbours are static (no ARP / ND that IPsec policies could catch).

# the plugins charon loads: SAGATE_IKE_PLUGINS, which check_testbed_tools
# checks before the guest boots
. "$top/tests/lib/deps.sh"

IKE_PFX=${IKE_PFX:-sgi$$-}
IKE_DIR=${IKE_DIR:-/tmp/sgike-$$}
IKE_HOSTS="db app1 app2 admin mal gw"
IKE_PEERS=${IKE_PEERS:-app1 admin}
IKE_PSK=${IKE_PSK:-0sc2FnYXRlLXRlc3QtcHNrLW5vdC1hLXNlY3JldA==}
declare -A IP4=([db]=10.77.0.10 [app1]=10.77.0.21 [app2]=10.77.0.22 [admin]=10.77.0.30
	[mal]=10.77.0.66 [gw]=10.77.0.40 [branch]=10.78.0.5)
declare -A IP6=([db]=fd77::10 [app1]=fd77::21 [app2]=fd77::22 [admin]=fd77::30
	[mal]=fd77::66 [gw]=fd77::40 [branch]=fd78::5)
declare -A MAC=([db]=02:77:00:00:00:10 [app1]=02:77:00:00:00:21 [app2]=02:77:00:00:00:22
	[admin]=02:77:00:00:00:30 [mal]=02:77:00:00:00:66 [gw]=02:77:00:00:00:40)

ns() { echo "$IKE_PFX$1"; }
nsx() { local h=$1; shift; ip netns exec "$IKE_PFX$h" "$@"; }
addr() { [ "$1" = 4 ] && echo "${IP4[$2]}" || echo "${IP6[$2]}"; }	# FAMILY HOST

# wait_for TIMEOUT-S COMMAND...: run COMMAND every 0.2 s until it
# succeeds, for at most TIMEOUT-S seconds of wall time
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}

ike_net_up() {
	local m h p a b=$IKE_DIR/batch
	for m in nf_tables nft_queue nft_xfrm nfnetlink_queue xfrm_user esp4 esp6 veth bridge; do
		modprobe "$m" || { echo "lib-ike: modprobe $m failed" >&2; return 1; }
	done
	mkdir -p "$IKE_DIR" "$b" && chmod 755 "$IKE_DIR" || return 1
	# one `ip -batch` per namespace: every exec costs ~50 ms under TCG
	for h in wire $IKE_HOSTS branch; do ip netns add "$(ns $h)" || return 1; done
	{
		for h in $IKE_HOSTS; do
			echo "link add eth0 address ${MAC[$h]} netns $(ns $h) type veth peer name w-$h netns $(ns wire)"
		done
		echo "link add eth0 address 02:78:00:00:00:05 netns $(ns branch) type veth" \
			"peer name eth1 address 02:78:00:00:00:01 netns $(ns gw)"
	} >"$b/root"
	{
		echo "link add br0 type bridge"
		echo "link set br0 up"
		echo "link set lo up"
		for h in $IKE_HOSTS; do echo "link set w-$h master br0 up"; done
	} >"$b/wire"
	for h in $IKE_HOSTS; do
		{
			echo "link set lo up"
			echo "addr add ${IP4[$h]}/24 dev eth0"
			echo "addr add ${IP6[$h]}/64 dev eth0 nodad"
			echo "link set eth0 up"
			for p in $IKE_HOSTS; do
				[ "$h" = "$p" ] && continue
				echo "neigh replace ${IP4[$p]} dev eth0 lladdr ${MAC[$p]} nud permanent"
				echo "neigh replace ${IP6[$p]} dev eth0 lladdr ${MAC[$p]} nud permanent"
			done
		} >"$b/$h"
	done
	# branch behind gw: its own link, gw routes between the two
	{
		echo "link set eth1 up"
		echo "addr add 10.78.0.1/24 dev eth1"
		echo "addr add fd78::1/64 dev eth1 nodad"
		for a in 10.78.0.5 10.78.0.200 fd78::5 fd78::8000:0:0:200; do
			echo "neigh replace $a dev eth1 lladdr 02:78:00:00:00:05 nud permanent"
		done
	} >>"$b/gw"
	{
		echo "link set lo up"
		echo "link set eth0 up"
		for a in 10.78.0.5/24 10.78.0.200/24; do echo "addr add $a dev eth0"; done
		for a in fd78::5/64 fd78::8000:0:0:200/64; do echo "addr add $a dev eth0 nodad"; done
		echo "neigh replace 10.78.0.1 dev eth0 lladdr 02:78:00:00:00:01 nud permanent"
		echo "neigh replace fd78::1 dev eth0 lladdr 02:78:00:00:00:01 nud permanent"
		echo "route add default via 10.78.0.1"
		echo "route add ::/0 via fd78::1"
	} >"$b/branch"
	{
		echo "route add 10.78.0.0/24 via ${IP4[gw]}"
		echo "route add fd78::/64 via ${IP6[gw]}"
	} >>"$b/db"
	ip -b "$b/root" || return 1
	for h in wire $IKE_HOSTS branch; do ip -n "$(ns $h)" -b "$b/$h" || { echo "lib-ike: ip -b $b/$h" >&2; return 1; }; done
	nsx gw sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	wire_counters_up
}

# The wire's nft counters (bridge family, forward hook), by the bridge
# port a frame came in on, i.e. the host that put it on the wire: esp_H
# (ESP), pg_H (cleartext TCP with port 5432, either way), ssh_H
# (cleartext TCP port 22); pg_all: all cleartext 5432.
wire_counters_up() {
	local h r=""
	{
		echo "table bridge sgwire {"
		for h in $IKE_HOSTS; do echo " counter esp_$h { }"; echo " counter pg_$h { }"; echo " counter ssh_$h { }"; done
		echo " counter pg_all { }"
		echo " chain count {"
		echo "  type filter hook forward priority 0; policy accept;"
		for h in $IKE_HOSTS; do
			echo "  iifname w-$h ether type ip ip protocol esp counter name esp_$h"
			echo "  iifname w-$h ether type ip6 ip6 nexthdr esp counter name esp_$h"
			for r in "tcp dport 5432" "tcp sport 5432"; do
				echo "  iifname w-$h ether type ip $r counter name pg_$h"
				echo "  iifname w-$h ether type ip6 $r counter name pg_$h"
			done
			for r in "tcp dport 22" "tcp sport 22"; do
				echo "  iifname w-$h ether type ip $r counter name ssh_$h"
				echo "  iifname w-$h ether type ip6 $r counter name ssh_$h"
			done
		done
		for r in "tcp dport 5432" "tcp sport 5432"; do
			echo "  ether type ip $r counter name pg_all"
			echo "  ether type ip6 $r counter name pg_all"
		done
		echo " }"
		echo "}"
	} | nsx wire nft -f -
}
wire() { nsx wire nft list counter bridge sgwire "$1" | awk '$1 == "packets" { print $2 }'; }
wire_reset() { nsx wire nft reset counters table bridge sgwire >/dev/null; }

ike_down() {
	local h p
	for h in $IKE_HOSTS branch; do
		for p in $(ip netns pids "$(ns $h)" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	done
	for h in $IKE_HOSTS branch wire; do ip netns del "$(ns $h)" 2>/dev/null; done
	rm -rf "$IKE_DIR"
	return 0
}

# --- strongSwan: one charon per namespace ---------------------------------

# charon_start HOST: a private /run and strongswan.conf, vici socket
# $IKE_DIR/vici-HOST; waits for the socket.
charon_start() {
	local h=$1 d=$IKE_DIR/$1
	mkdir -p "$d"
	cat >"$d/strongswan.conf" <<-EOF
		charon {
			load_modular = no
			load = $(ike_plugin_names)
			install_routes = no
			retransmit_timeout = 2.0
			retransmit_base = 1.4
			retransmit_tries = 6
			plugins {
				include /etc/strongswan.d/charon/*.conf
				vici {
					socket = unix://$IKE_DIR/vici-$h
				}
			}
			filelog {
				charon-log {
					path = $d/charon.log
					default = 1
					time_format = %T
				}
			}
		}
		include /etc/strongswan.d/*.conf
	EOF
	: >"$d/swanctl.conf"
	nsx "$h" sh -c "mount -t tmpfs tmpfs /run && mount --bind '$d/strongswan.conf' /etc/strongswan.conf &&
		exec /usr/lib/ipsec/charon" >"$d/charon.out" 2>&1 &
	wait_for 30 test -S "$IKE_DIR/vici-$h" && wait_for 10 swan "$h" --stats ||
		{ echo "charon in $h did not come up: $(tail -5 "$d/charon.out" "$d/charon.log" 2>/dev/null)" >&2; return 1; }
}
swan() { local h=$1; shift; timeout 60 swanctl "$@" --uri "unix://$IKE_DIR/vici-$h"; }

# swan_conn HOST NAME LOCAL REMOTE LID RID MODE [LOCAL_TS REMOTE_TS [START [REKEY [ESP]]]]
# appends one IKEv2 PSK connection with one child NAME to HOST's config.
swan_conn() {
	local h=$1 n=$2 l=$3 r=$4 lid=$5 rid=$6 mode=$7 lts=${8:-dynamic} rts=${9:-dynamic}
	local start=${10:-trap} rekey=${11:-0} esp=${12:-aes128gcm16}
	cat >>"$IKE_DIR/$h/swanctl.conf" <<-EOF
		connections {
			$n {
				version = 2
				local_addrs = $l
				remote_addrs = $r
				proposals = aes128gcm16-prfsha256-x25519
				rekey_time = 0
				dpd_delay = 0
				local { auth = psk
					id = $lid }
				remote { auth = psk
					id = $rid }
				children {
					$n {
						mode = $mode
						local_ts = $lts
						remote_ts = $rts
						esp_proposals = $esp
						start_action = $start
						rekey_time = $rekey
						life_time = $([ "$rekey" = 0 ] && echo 0 || echo $((rekey * 3)))
						rand_time = 0
					}
				}
			}
		}
		secrets {
			ike-$n {
				id-a = $lid
				id-b = $rid
				secret = $IKE_PSK
			}
		}
	EOF
}
swan_load() { swan "$1" --load-all --file "$IKE_DIR/$1/swanctl.conf" >"$IKE_DIR/$1/load.out" 2>&1 ||
	{ cat "$IKE_DIR/$1/load.out" >&2; return 1; }; }
# the CHILD_SA NAME is INSTALLED in HOST
child_up() { swan "$1" --list-sas --child "$2" 2>/dev/null | grep -q INSTALLED; }
# swan_initiate HOST CHILD: negotiate and wait (60 s) until installed.
# When the initiate itself fails (no proposal charon can build, no answer
# after its retransmits) only a negotiation that a trap policy started
# meanwhile can still install the CHILD_SA: give that 15 s, not 60.
swan_initiate() {
	local rc=0 d=$IKE_DIR/$1
	swan "$1" --initiate --child "$2" --timeout 60 >"$d/initiate.last" 2>&1 || rc=$?
	cat "$d/initiate.last" >>"$d/initiate.out"
	if [ $rc -eq 0 ]; then
		wait_for 60 child_up "$1" "$2"
	else
		wait_for 15 child_up "$1" "$2"
	fi
}
# swan_why HOST: charon's reason for HOST's last failed initiate, from
# what swanctl --initiate printed: its last line that says what went wrong
swan_why() {
	local f=$IKE_DIR/$1/initiate.last r
	r=$(grep -E 'not supported|failed|unable|invalid|no (matching|acceptable|proposal)|NO_PROPOSAL|AUTHENTICATION_FAILED|timeout|giving up' "$f" 2>/dev/null |
		grep -v '^initiate failed' | tail -n1)
	[ -n "$r" ] || r=$(tail -n1 "$f" 2>/dev/null)
	echo "${r:-swanctl printed nothing}"
}
# ike_sa_setup HOST CHILD: a scenario's set-up step, HOST's CHILD_SA
# negotiated and installed; when it is not, a FAIL naming the step and
# charon's reason, and the scenario ends here (scenario_abort): every
# check after it needs the SA and would only wait out its timeouts.
ike_sa_setup() {
	swan_initiate "$1" "$2" && return 0
	bad "set-up step failed: IKEv2 CHILD_SA $2 of $1 not installed ($(swan_why "$1"))"
	scenario_abort
}
# the inbound SPIs HOST holds for CHILD (changes on rekey)
child_spis() { swan "$1" --list-sas --child "$2" 2>/dev/null | awk '$1 == "in" || $1 == "out" { sub(",", "", $2); print $2 }' | sort | tr '\n' ' '; }

# The site's IKE, for the hosts in IKE_PEERS (default "app1 admin"):
# db <-> app1 and db <-> admin in transport mode, one connection per
# address family (app1-4, app1-6, ...), trap policies on the initiator.
# APP1_REKEY (s, default 0 = never): app1 rekeys its CHILD_SAs that often.
# Scenarios may append more connections (swan_conn) before swan_load.
ike_site_up() {
	local f h
	for h in db $IKE_PEERS; do charon_start $h || return 1; done
	for f in 4 6; do
		for h in $IKE_PEERS; do
			[ "$h" = gw ] && continue
			swan_conn db $h-$f "$(addr $f db)" "$(addr $f $h)" db-$f $h-$f transport dynamic dynamic none
			swan_conn $h $h-$f "$(addr $f $h)" "$(addr $f db)" $h-$f db-$f transport dynamic dynamic trap \
				"$([ $h = app1 ] && echo "${APP1_REKEY:-0}" || echo 0)"
		done
	done
}
swan_load_all() { local h; for h in db $IKE_PEERS; do swan_load $h || return 1; done; }

# --- PostgreSQL in db -------------------------------------------------------

pg_up() {
	local d=$IKE_DIR/pg bin
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
	mkdir -p "$d/sock" && chown -R postgres: "$d" || return 1
	# initdb takes ~10 s under TCG: once per boot, then copies
	if [ ! -f /tmp/sgike-pg-template/PG_VERSION ]; then
		rm -rf /tmp/sgike-pg-template
		runuser -u postgres -- "$bin/initdb" -N -D /tmp/sgike-pg-template -A trust -U postgres \
			>"$d/initdb.out" 2>&1 || { cat "$d/initdb.out" >&2; return 1; }
	fi
	cp -a /tmp/sgike-pg-template "$d/data" || return 1
	{
		echo "local all all trust"
		echo "host all all 0.0.0.0/0 trust"
		echo "host all all ::/0 trust"
	} >"$d/data/pg_hba.conf"
	nsx db runuser -u postgres -- "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 \
		-o "-c listen_addresses='${IP4[db]},${IP6[db]}' -c unix_socket_directories='$d/sock' -c port=5432" \
		start >"$d/pg_ctl.out" 2>&1 || { cat "$d/pg_ctl.out" "$d/server.log" >&2; return 1; }
}
# psql_q HOST DBADDR SQL: one query, the bare result on stdout.  PGTO
# (default 6 s) bounds the connect; the whole run gets 30 s more, or a
# connection whose later packets go unanswered would wait for TCP to give
# up (~15 minutes).
psql_q() {
	local out rc seen=unknown from
	from=$(log_lines)
	out=$(nsx "$1" timeout $((${PGTO:-6} + 30)) env PGCONNECT_TIMEOUT=${PGTO:-6} \
		psql -h "$2" -U postgres -d postgres -X -At -P pager=off -c "$3" </dev/null 2>&1)
	rc=$?
	[ $rc -eq 124 ] && out="$out${out:+ }(psql: no answer in $((${PGTO:-6} + 30)) s)"
	echo "$out"
	if [ $rc -eq 0 ] || grep -q "Connection refused" <<<"$out"; then
		seen=accept
	elif grep -q "timeout expired" <<<"$out"; then
		seen=drop
	fi
	explain_flow "$1" "$2" 5432 $seen "$from"
}

# --- sagate / sagated in db ------------------------------------------------

# sagated_start POLICY: sagated nsx db serving POLICY on queue 0; waits for ready
sagated_start() {
	explain_log_reset
	: >"$IKE_DIR/sagated.log"
	# not through nsx: $! must be sagated itself (ip netns exec execs it)
	local pol=$1
	shift	# the rest: more sagated options
	ip netns exec "$(ns db)" "$sagated" --policy "$pol" --queue 0 "$@" >>"$IKE_DIR/sagated.log" 2>&1 &
	SAGATED_PID=$!
	wait_for 20 grep -q '"event":"ready"' "$IKE_DIR/sagated.log"
}
sagated_stop() { [ -n "${SAGATED_PID:-}" ] && kill "$SAGATED_PID" 2>/dev/null && wait "$SAGATED_PID" 2>/dev/null; SAGATED_PID=; }

# --- sagate explain against what happened ----------------------------------
# Every new flow a scenario makes (tcp_try, probes, banner, psql_q, the
# first query of a session) is put to `sagate explain` right away: in db
# when it arrives there, and in each host of EXPLAIN_OUT_HOSTS it leaves
# (their policy's state is $IKE_DIR/state-HOST), with the SA the kernel
# holds for it at that moment: the one sagated logged for the flow, else
# the newest of its peer.  explain's outcome must be what the scenario saw
# (connected or refused: accept; timed out: drop), and sagated must have
# logged a decision for the flow exactly when explain says the kernel
# queued it to a sagated serving the queue.  And every decision in
# sagated's log is replayed through explain with the SPI sagated logged:
# the kernel must queue it, and the engine's verdict and rule must be
# sagated's.  Replays run at each flow and at scenario_end; a scenario
# that kills sagated or removes SAs calls explain_engine_log first.
# The helpers mostly run in $(...): what they find goes to files
# ($IKE_DIR/explain.*), and explain_report turns it into PASS / FAIL.
EXPLAIN_OUT_HOSTS=${EXPLAIN_OUT_HOSTS:-}

log_lines() { [ -f "$IKE_DIR/sagated.log" ] && wc -l <"$IKE_DIR/sagated.log" || echo 0; }
# explain_in HOST ARGS...: sagate -j explain in HOST, of its applied policy
explain_in() {
	local h=$1 st=$IKE_DIR/state
	shift
	[ "$h" = db ] || st=$IKE_DIR/state-$h
	nsx "$h" env SAGATE_STATE_DIR="$st" "$sagate" -j explain "$@" 2>&1
}
# the source address HOST uses to reach DST
flow_src() { nsx "$1" ip route get "$2" | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }'; }
# the newest ESP SA SPI that HOST holds from SRC to DST (outer addresses)
sa_spi() { nsx "$1" ip xfrm state list src "$2" dst "$3" proto esp | awk '$1 == "proto" && $3 == "spi" { s = $4 } END { print s }'; }
# sagated's decisions after log line FROM, as tab-separated src dst proto
# dport spi verdict rule (awk: jq costs ~0.6 s a run under TCG)
logged_decisions() {
	tail -n +$(($1 + 1)) "$IKE_DIR/sagated.log" 2>/dev/null | awk '
		function get(k,   v) {
			if (!match($0, "\"" k "\":(\"[^\"]*\"|[^,}]*)"))
				return ""
			v = substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
			gsub(/"/, "", v)
			return v
		}
		/^\{.*"verdict":.*"src":/ {
			r = get("rule")
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", get("src"), get("dst"), get("proto"), get("dport"),
				get("spi"), get("verdict"), (r == "null" || r == "" ? "-" : r)
		}'
}
# sagated's decisions for SRC -> DST port PORT after log line FROM
flow_decisions() { logged_decisions "$4" | awk -F'\t' -v s="$1" -v d="$2" -v p="$3" '$1 == s && $2 == d && $4 == p'; }
# explain's outcome in its JSON (a top-level key no nested object has)
outcome_of() { grep -o '"outcome": *"[^"]*"' | sed 's/.*: *"//; s/"$//'; }
ipsec_arg() { [ -n "$1" ] && [ "$1" != 0x00000000 ] && echo "spi=$1" || echo none; }
# explain_note KIND ok|bad|skip [TEXT]: one finding for explain_report
explain_note() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$IKE_DIR/explain.results"; }

# explain_flow HOST DST PORT SEEN LOG-FROM: TCP from HOST to DST:PORT,
# SEEN accept / drop / unknown (not checked); LOG-FROM: sagated's log
# line count when the flow began
explain_flow() {
	local h=$1 dst=$2 port=$3 seen=$4 from=${5:-0} src outer spi a o n dec out="" want=accept kern=""
	[[ $dst == *[.:]* && $dst != /* ]] || return 0	# not an address: a unix socket
	explain_engine_log
	src=$(flow_src "$h" "$dst")
	if [ "$dst" = "${IP4[db]}" ] || [ "$dst" = "${IP6[db]}" ]; then
		outer=$src
		[ "$h" = branch ] && outer=$([[ $dst == *:* ]] && echo "${IP6[gw]}" || echo "${IP4[gw]}")
		dec=$(flow_decisions "$src" "$dst" "$port" "$from")
		n=$(grep -c . <<<"$dec")
		spi=$(tail -n1 <<<"$dec" | cut -f5)
		[ -n "$spi" ] || spi=$(sa_spi db "$outer" "$dst")
		a=$(explain_in db --from "$src" --to "$dst" --proto tcp --port "$port" --ipsec "$(ipsec_arg "$spi")")
		o=$(outcome_of <<<"$a")
		out="db: $o (ipsec $(ipsec_arg "$spi"))"
		[ "$o" = accept ] || want=drop
		# the kernel's part: queued to a serving sagated exactly when
		# sagated logged a decision for the flow
		if grep -q '"sagated": *"serving"' <<<"$a"; then
			[ "$n" -gt 0 ] || kern="explain says the kernel queued it to sagated, which logged no decision for it"
		elif [ "$n" -gt 0 ]; then
			kern="explain says sagated did not decide it, yet sagated logged $n decision(s) for it"
		fi
	fi
	if [[ " $EXPLAIN_OUT_HOSTS " == *" $h "* ]]; then
		spi=$(sa_spi "$h" "$src" "$dst")
		o=$(explain_in "$h" --out --from "$src" --to "$dst" --proto tcp --port "$port" --ipsec "$(ipsec_arg "$spi")" | outcome_of)
		out="$out${out:+, }$h out: $o (ipsec $(ipsec_arg "$spi"))"
		[ "$o" = accept ] || want=drop
	fi
	[ -n "$out" ] || return 0
	if [ "$seen" = unknown ]; then
		explain_note flow skip "$h $src -> $dst:$port: neither through nor timed out; explain: $out"
	elif [ -n "$kern" ]; then
		explain_note flow bad "$h $src -> $dst:$port: $kern; explain: $out"
	elif [ "$want" = "$seen" ]; then
		explain_note flow ok
	else
		explain_note flow bad "$h $src -> $dst:$port was seen to $seen; explain: $out"
	fi
}

# explain_engine_log: replay sagated's decisions logged since the last
# call; one jq over all the answers
explain_engine_log() {
	local n pos i=0 src dst proto dport spi v rule
	n=$(log_lines)
	pos=$(cat "$IKE_DIR/explain.pos" 2>/dev/null || echo 0)
	[ "$n" -gt "$pos" ] || return 0
	echo "$n" >"$IKE_DIR/explain.pos"
	logged_decisions "$pos" | head -n $((n - pos)) | sort -u >"$IKE_DIR/explain.replay"
	[ -s "$IKE_DIR/explain.replay" ] || return 0
	: >"$IKE_DIR/explain.answers"
	while IFS=$'\t' read -r src dst proto dport spi v rule; do
		set -- --from "$src" --to "$dst" --proto "$proto"
		case $proto in 6 | 17 | 132) set -- "$@" --port "$dport" ;; esac
		explain_in db "$@" --ipsec "$(ipsec_arg "$spi")" >"$IKE_DIR/explain.a$i"
		cat "$IKE_DIR/explain.a$i" >>"$IKE_DIR/explain.answers"
		i=$((i + 1))
	done <"$IKE_DIR/explain.replay"
	jq -r '[.kernel.verdict, .engine.verdict // "-", .policy.rule // "-", (.engine.why // .error // "")] | @tsv' \
		"$IKE_DIR/explain.answers" >"$IKE_DIR/explain.got" 2>&1
	paste "$IKE_DIR/explain.replay" "$IKE_DIR/explain.got" |
		while IFS=$'\t' read -r src dst proto dport spi v rule kv ev er why; do
			if [ "$kv $ev $er" = "queue $v $rule" ]; then
				explain_note decision ok
			else
				explain_note decision bad "$src -> $dst proto $proto port $dport spi $spi: sagated $v (rule $rule); explain: kernel $kv, engine $ev, rule $er ${why:-}"
			fi
		done
}
# sagated starts a new log: what the old one holds is replayed first
explain_log_reset() {
	explain_engine_log
	echo 0 >"$IKE_DIR/explain.pos"
}
# explain_report: a FAIL line for each disagreement noted since the last
# report, a skip note for each flow not checked
explain_report() {
	local k r t n
	n=$(cat "$IKE_DIR/explain.reported" 2>/dev/null || echo 0)
	[ -f "$IKE_DIR/explain.results" ] || return 0
	tail -n +$((n + 1)) "$IKE_DIR/explain.results" >"$IKE_DIR/explain.new"	# no /dev/fd in the guest
	while IFS=$'\t' read -r k r t; do
		case $r in
		bad) bad "explain disagrees ($k): $t" ;;
		skip) echo "# explain: not checked: $t" ;;
		esac
	done <"$IKE_DIR/explain.new"
	wc -l <"$IKE_DIR/explain.results" >"$IKE_DIR/explain.reported"
}
# the closing line: what explain was checked against
explain_summary() {
	local f d
	explain_engine_log
	explain_report
	f=$(grep -c "^flow	ok" "$IKE_DIR/explain.results" 2>/dev/null)
	d=$(grep -c "^decision	ok" "$IKE_DIR/explain.results" 2>/dev/null)
	if [ "${f:-0}" -gt 0 ]; then
		ok "sagate explain agreed on ${f:-0} flows and ${d:-0} sagated decisions (disagreements: FAIL lines above)"
	else
		bad "sagate explain was checked against no flow"
	fi
}

# counter packets of the rule with COMMENT in CHAIN of db's table inet sagate
sagate_counter() {
	nsx db nft list chain inet sagate "$1" |
		awk -v c="$2" 'index($0, c) { for (i = 1; i <= NF; i++) if ($i == "packets") { print $(i + 1); exit } }'
}

# tcp_try HOST DST PORT: "open" (connected or refused: the packet got
# through), "dropped" (timeout); explain_flow checks sagate explain on it
tcp_try() {
	local r from
	from=$(log_lines)
	r=$(tcp_try_raw "$@")
	echo "$r"
	explain_flow "$1" "$2" "$3" "$(probe_seen "$r")" "$from"
}
tcp_try_raw() {
	local out
	out=$(nsx "$1" timeout "${TCPTO:-3}" bash -c "exec 3<>/dev/tcp/$2/$3" 2>&1)
	case $? in
	0) echo open ;;
	124) echo dropped ;;
	*) grep -q "refused" <<<"$out" && echo open || echo "error: $out" ;;
	esac
}
probe_seen() { case $1 in open) echo accept ;; dropped) echo drop ;; *) echo unknown ;; esac; }
# banner HOST DST PORT: the first line the server sends, or nothing
banner() {
	local out rc from
	from=$(log_lines)
	out=$(nsx "$1" timeout "${TCPTO:-3}" bash -c "exec 3<>/dev/tcp/$2/$3 && head -n1 <&3" 2>/dev/null)
	rc=$?
	echo "$out"
	# a banner, or a connection that closed (not a timeout): it got through
	explain_flow "$1" "$2" "$3" "$([ -n "$out" ] || [ $rc -ne 124 ] && echo accept || echo drop)" "$from"
}

listening() { nsx "$1" ss -Hltn "sport = :$2" | grep -q .; }	# HOST PORT

# sgnet helper (tests/vm/sgnet.c): the one `make check` built (tests/run
# passes it as SGNET), else compiled once here
sgnet_build() {
	[ -n "${SGNET:-}" ] && [ -x "$SGNET" ] && return 0
	SGNET=/tmp/sgike-bin/sgnet
	[ -x "$SGNET" ] && [ "$SGNET" -nt "$top/tests/vm/sgnet.c" ] && return 0
	mkdir -p /tmp/sgike-bin &&
		gcc -O2 -o "$SGNET" "$top/tests/vm/sgnet.c" 2>"$IKE_DIR/sgnet.err" || { cat "$IKE_DIR/sgnet.err" >&2; return 1; }
}

# probes "HOST DST PORT"...: tcp_try them all at once (a drop costs the
# whole timeout), one result per line, in order
probes() {
	local i=0 spec from
	from=$(log_lines)
	for spec in "$@"; do
		# shellcheck disable=SC2086
		tcp_try_raw $spec >"$IKE_DIR/probe.$i" &
		i=$((i + 1))
	done
	wait_jobs_of_probes
	i=0
	for spec in "$@"; do
		cat "$IKE_DIR/probe.$i"
		# shellcheck disable=SC2086
		explain_flow $spec "$(probe_seen "$(cat "$IKE_DIR/probe.$i")")" "$from"
		i=$((i + 1))
	done
}
wait_jobs_of_probes() { local p; for p in $(jobs -pr); do [ "$p" = "${SAGATED_PID:-}" ] || wait "$p" 2>/dev/null; done; }

# psql sessions that stay open: sess_open NAME HOST DST; sess_query NAME
# SQL [TIMEOUT]: prints the answer, fails on timeout; sess_close NAME
declare -A SESS_FD SESS_PID
sess_open() {
	local fd
	mkfifo "$IKE_DIR/$1.in" && : >"$IKE_DIR/$1.out" || return 1
	ip netns exec "$(ns "$2")" env PGCONNECT_TIMEOUT=20 stdbuf -o0 psql -h "$3" -U postgres -d postgres -X -At -P pager=off \
		<"$IKE_DIR/$1.in" >"$IKE_DIR/$1.out" 2>&1 &
	SESS_PID[$1]=$!
	exec {fd}>"$IKE_DIR/$1.in"
	SESS_FD[$1]=$fd
	echo "$2 $3 $(log_lines)" >"$IKE_DIR/$1.flow"
}
# the first query of a session tells whether its flow got in
sess_query() {
	local m="q$RANDOM$RANDOM" flow="" rc=0
	[ -f "$IKE_DIR/$1.flow" ] && { flow=$(cat "$IKE_DIR/$1.flow"); rm -f "$IKE_DIR/$1.flow"; }
	echo "select '$m:' || ($2);" >&"${SESS_FD[$1]}" 2>/dev/null || rc=1
	[ $rc -eq 0 ] && { wait_for "${3:-10}" grep -q "^$m:" "$IKE_DIR/$1.out" || rc=1; }
	# shellcheck disable=SC2086
	[ -n "$flow" ] && explain_flow ${flow% *} 5432 "$([ $rc -eq 0 ] && echo accept || echo drop)" "${flow##* }"
	[ $rc -eq 0 ] || return 1
	sed -n "s/^$m://p" "$IKE_DIR/$1.out"
}
sess_close() {
	local fd=${SESS_FD[$1]:-}
	[ -n "$fd" ] && exec {fd}>&-
	[ -n "${SESS_PID[$1]:-}" ] && { kill "${SESS_PID[$1]}" 2>/dev/null; wait "${SESS_PID[$1]}" 2>/dev/null; }
	SESS_FD[$1]= SESS_PID[$1]=
}
# the local port of HOST's established connection to port 5432
sess_sport() { nsx "$1" ss -Htn state established "dport = :5432" | awk '{ n = split($3, a, ":"); print a[n]; exit }'; }

# scenario timing and the summary line; PASS/FAIL lines carry the
# scenario's elapsed seconds
ok() { echo "PASS: $* [$((SECONDS - SCEN_S0)) s]"; pass=$((pass + 1)); }
bad() { echo "FAIL: $* [$((SECONDS - SCEN_S0)) s]"; fail=$((fail + 1)); }
SCEN_S0=$SECONDS
scenario_begin() { SCEN_T0=$(date +%s.%N); SCEN_S0=$SECONDS; echo "# $1: kernel $(uname -r)"; }
# a scenario whose set-up failed (the site, its SAs): FAIL lines for what
# explain found wrong so far, the count, and out.  No explain summary: its
# PASS would sum up checks that never ran.
scenario_abort() {
	[ "${EXPLAIN_ON:-0}" = 1 ] && explain_report
	EXPLAIN_ON=0
	echo "# $(basename "$0" .sh): stopped at a failed set-up step"
	scenario_end
	exit 1
}
scenario_end() {
	local t
	[ "${EXPLAIN_ON:-0}" = 1 ] && explain_summary
	t=$(awk -v a="$SCEN_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	echo "$(basename "$0" .sh): $pass passed, $fail failed in $t s"
	[ "$fail" -eq 0 ]
}

# --- one scenario's site ----------------------------------------------------

# SAGATE_SCENARIO_BREAK=1: the scenarios apply a weakened policy (every
# require-ipsec rule turned into permit) and must then report FAILs.
BREAK=${SAGATE_SCENARIO_BREAK:-0}
# site_policy FILE: FILE, or with BREAK its weakened copy in $IKE_DIR
site_policy() {
	local d
	if [ "$BREAK" = 1 ]; then
		d=$(cd "$(dirname "$1")" && pwd)
		jq --arg d "$d" '(.include // []) as $i | .include = ($i | map(if startswith("/") then . else $d + "/" + . end))
			| (.rules[] | select(.action == "require-ipsec")) |= (.action = "permit" | del(.ipsec))' \
			"$1" >"$IKE_DIR/weakened.json" && echo "$IKE_DIR/weakened.json"
	else
		echo "$1"
	fi
}

# ike_scenario_up POLICY: namespaces, wire counters, IKE config
# (nothing negotiated yet), PostgreSQL and an ssh stand-in in db, POLICY
# applied in db in engine mode, sagated serving it.  Prints PASS/FAIL
# lines; returns non-zero when the site is not usable.
ike_scenario_up() {
	local pol out
	[ "$BREAK" = 1 ] && echo "# SAGATE_SCENARIO_BREAK=1: require-ipsec rules weakened to permit: FAILs expected"
	ike_net_up || { bad "set-up step failed: namespaces, bridge and wire counters"; return 1; }
	echo "# [$((SECONDS - SCEN_S0)) s] ike_site_up"
	ike_site_up || { bad "set-up step failed: charon in db $IKE_PEERS"; return 1; }
	[ -n "${IKE_EXTRA:-}" ] && { $IKE_EXTRA || { bad "set-up step failed: extra IKE configuration"; return 1; }; }
	swan_load_all || { bad "set-up step failed: swanctl --load-all"; return 1; }
	echo "# [$((SECONDS - SCEN_S0)) s] pg_up"
	pg_up || { bad "set-up step failed: PostgreSQL in db"; return 1; }
	echo "# [$((SECONDS - SCEN_S0)) s] sgnet_build"
	sgnet_build || { bad "set-up step failed: compile sgnet"; return 1; }
	nsx db "$SGNET" listen 22 SSH-2.0-sagate-standin >/dev/null 2>&1 &
	echo "# [$((SECONDS - SCEN_S0)) s] apply"
	pol=$(site_policy "$1") || { bad "set-up step failed: weakened policy"; return 1; }
	SITE_POLICY=$pol
	out=$(nsx db env SAGATE_STATE_DIR="$IKE_DIR/state" "$sagate" apply --queues 1 "$pol" 2>&1)
	grep -q "engine mode" <<<"$out" || { bad "set-up step failed: sagate apply in engine mode: $out"; return 1; }
	echo "# [$((SECONDS - SCEN_S0)) s] sagated_start"
	sagated_start "$pol" || { bad "set-up step failed: sagated ready: $(cat "$IKE_DIR/sagated.log")"; return 1; }
	wait_for 10 listening db 22 || { bad "set-up step failed: ssh stand-in listening in db"; return 1; }
	EXPLAIN_ON=1
	ok "site up: 8 namespaces, charon in db $IKE_PEERS, PostgreSQL, $(basename "$pol") applied (engine mode), sagated ready"
}
