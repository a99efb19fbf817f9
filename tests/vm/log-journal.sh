#!/bin/bash
# Runs inside the QEMU guest booted with systemd (tests/vm/vm-run
# --systemd): sagate-log.service puts the log lines of a policy into the
# journal, with fields of their own, as user sagated with CAP_NET_ADMIN
# alone.  The guest's own namespace holds the policy
# (tests/netns/logging.json, kernel-only) and 10.88.0.10 on a veth whose
# other end, 10.88.0.21, is in a namespace made here; two probes from
# there hit the logged rule pg-others (5432) and the logged inbound
# default (8080).
#
# The installed sagate and unit when the package is in the guest
# (SAGATE=/usr/sbin/sagate, as tests/run does); else SAGATE is copied to
# /usr/local/sbin and the unit made from sagate-log.service.in, with the
# user sagated made if missing (a guest of the host's root).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

if [ "$sagate" != /usr/sbin/sagate ] || ! systemctl cat sagate-log.service >/dev/null 2>&1; then
	install -m 755 "$sagate" /usr/local/sbin/sagate || { echo "FAIL: cannot install $sagate"; exit 1; }
	sagate=/usr/local/sbin/sagate
	id sagated >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sagated
	sed -e "s|@sbindir@|/usr/local/sbin|g" "$top/sagate-log.service.in" \
		>/run/systemd/system/sagate-log.service
	systemctl daemon-reload
fi
ip netns add sglog-cl && ip link add c0 netns sglog-cl type veth peer name h0 &&
	ip -n sglog-cl link set c0 up && ip -n sglog-cl addr add 10.88.0.21/24 dev c0 &&
	ip link set h0 up && ip addr add 10.88.0.10/24 dev h0 || { echo "FAIL: the veth pair"; exit 1; }

if "$sagate" apply --no-engine "$top/tests/netns/logging.json" >/dev/null 2>/tmp/apply.err
then ok "apply logging.json"
else bad "apply: $(cat /tmp/apply.err)"; fi
systemctl start sagate-log.service
for _ in $(seq 50); do
	awk '$1 == 33 { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_log && break
	sleep 0.2
done
if systemctl is-active --quiet sagate-log.service &&
   "$sagate" status 2>/dev/null | grep -q "^logging:   nflog group 33, read here"; then
	ok "sagate-log.service reads group 33 (status says so)"
else
	bad "sagate-log.service: $(systemctl status sagate-log.service --no-pager 2>&1 | tail -5)"
fi
pid=$(systemctl show -p MainPID --value sagate-log.service)
if [ "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" = "$(id -u sagated)" ] &&
   grep -q "^CapEff:[[:space:]]*0000000000001000$" "/proc/$pid/status"; then
	ok "it runs as user sagated with CAP_NET_ADMIN alone"
else
	bad "its credentials: $(grep -E '^(Uid|CapEff)' "/proc/$pid/status" 2>&1)"
fi

ip netns exec sglog-cl timeout 1 bash -c 'exec 3<>/dev/tcp/10.88.0.10/5432' 2>/dev/null
ip netns exec sglog-cl timeout 1 bash -c 'exec 3<>/dev/tcp/10.88.0.10/8080' 2>/dev/null
j=
for _ in $(seq 50); do
	j=$(journalctl -b -o json --no-pager SAGATE_RULE=pg-others | head -1)
	[ -n "$j" ] && break
	sleep 0.2
done
# (jq -e takes empty input for true: each check wants output first)
if [ -n "$j" ] && jq -e '.PRIORITY == "5" and .SAGATE_ACTION == "block" and .SAGATE_SRC == "10.88.0.21" and
	  .SAGATE_DST == "10.88.0.10" and .SAGATE_DPORT == "5432" and .SAGATE_PROTOCOL == "tcp" and
	  .SAGATE_IN == "h0" and ._SYSTEMD_UNIT == "sagate-log.service" and
	  .SYSLOG_IDENTIFIER == "sagate" and
	  (.MESSAGE | test("^rule pg-others block in: tcp 10.88.0.21:[0-9]+ -> 10.88.0.10:5432 in h0$"))' \
	<<<"$j" >/dev/null; then
	ok "journal: pg-others's entry with MESSAGE, PRIORITY 5 and SAGATE_ fields"
else
	bad "journal entry of pg-others: $j"
fi
if journalctl -b -o json --no-pager SAGATE_DEFAULT=1 SAGATE_DPORT=8080 |
   jq -c 'select(.SAGATE_RULE == "default" and .SAGATE_DIRECTION == "in" and .SAGATE_SRC == "10.88.0.21")' |
   grep -q .
then ok "journal: the logged default's entry"
else bad "journal: no entry of the logged default"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
