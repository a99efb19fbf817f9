#!/bin/bash
# Runs INSIDE the QEMU guest (tests/deb/build.sh starts it): install
# sagate's .deb into the guest's throwaway root, check what it put where
# and that the installed programs work, then remove and purge it.
#     install-guest.sh PATH-TO-DEB
set -uo pipefail
deb=$1
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "PASS: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() {	# DESC COMMAND...
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$desc"; else bad "$desc"; printf '      %s\n' "$out" | head -20; fi
}
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }

# the guest's root is the host's; a sagate installed there by hand would
# make every check below pass without the package
for f in /usr/sbin/sagate /usr/sbin/sagated /lib/systemd/system/sagate.service; do
	[ -e "$f" ] && { bad "$f exists before the package is installed"; finish; }
done

check "dpkg -i installs the package" dpkg -i "$deb"
check "dpkg says it is installed" sh -c "dpkg-query -W -f='\${Status}' sagate | grep -qx 'install ok installed'"
for f in /usr/sbin/sagate /usr/sbin/sagated \
	/lib/systemd/system/sagate.service /lib/systemd/system/sagated.service \
	/usr/share/man/man8/sagate.8.gz /usr/share/man/man8/sagated.8.gz \
	/usr/share/man/man5/sagate.json.5.gz /usr/share/man/man7/sagate-operations.7.gz \
	/usr/share/doc/sagate/examples/sagate-metrics.timer /usr/share/doc/sagate/examples/db-server.swanctl.conf \
	/usr/share/bash-completion/completions/sagate \
	/usr/share/sagate/policies/db-server.json /usr/share/sagate/rules/services.json \
	/etc/sagate/services.json; do
	check "installed: $f" test -e "$f"
done
check "/etc/sagate/services.json is a conffile" \
	sh -c "dpkg-query -W -f='\${Conffiles}' sagate | grep -q '^ /etc/sagate/services.json '"
check "the units name the installed program" grep -qx 'ExecStart=/usr/sbin/sagate restore' /lib/systemd/system/sagate.service
check "sagated.service starts /usr/sbin/sagated" grep -qx 'ExecStart=/usr/sbin/sagated' /lib/systemd/system/sagated.service
for u in sagate.service sagated.service; do
	state=$(systemctl is-enabled "$u" 2>&1)
	[ "$state" = disabled ] && ok "$u is installed, not enabled" ||
		bad "$u: systemctl is-enabled says '$state', expected disabled"
done
check "man sagate reads from the package" sh -c 'man -P cat 8 sagate 2>/dev/null | grep -q "sagate restore"'
check "the installed sagate checks an example policy" /usr/sbin/sagate check /usr/share/sagate/policies/db-server.json

# a policy in /etc/sagate including the shipped services: the documented
# place for the admin's own policy
cat >/etc/sagate/policy.json <<'JSON'
{ "version": 1, "include": ["services.json"],
  "defaults": { "in": "block", "out": "permit" },
  "rules": [ { "name": "ssh", "action": "permit", "services": "ssh" } ] }
JSON
check "a policy in /etc/sagate includes the conffile" /usr/sbin/sagate check /etc/sagate/policy.json

# the state directory survives purge unless asked
mkdir -p -m 0700 /var/lib/sagate && echo x >/var/lib/sagate/marker
check "dpkg -r removes the package" dpkg -r sagate
check "remove: the programs are gone" sh -c '! test -e /usr/sbin/sagate && ! test -e /usr/sbin/sagated'
check "remove: the conffile stays" test -e /etc/sagate/services.json
check "dpkg -P purges the package" dpkg -P sagate
check "purge: the conffile is gone" sh -c '! test -e /etc/sagate/services.json'
check "purge without SAGATE_PURGE_STATE keeps the state directory" test -e /var/lib/sagate/marker
check "dpkg -i again" dpkg -i "$deb"
check "SAGATE_PURGE_STATE=yes dpkg -P removes the state directory too" \
	sh -c 'SAGATE_PURGE_STATE=yes dpkg -P sagate && ! test -e /var/lib/sagate'
finish
