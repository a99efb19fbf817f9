#!/bin/bash
# contrib/ansible's role, run for real: a QEMU guest (tests/vm/vm-run, the
# guest root of tests/vm/guest-root when SAGATE_VM_ROOT is set) with sshd
# on qemu's restricted user network, reached from here at 127.0.0.1 only;
# ansible-playbook (Debian's ansible-core) installs sagate's .deb there,
# places a policy, applies it with commit-confirm and confirms it.  Then:
# a second run changes nothing (changed=0) and applies nothing; a third,
# with an edited policy, applies generation 2; a policy that fails its
# health check is never confirmed, and the watcher rolls it back.
#     tests/ansible/run.sh DEB
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
deb=${1:?usage: tests/ansible/run.sh DEB}
. "$top/tests/lib/netns.sh"	# ok / bad / summary
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root (qemu)"; exit 1; }
command -v ansible-playbook >/dev/null || { echo "FAIL: ansible-playbook is missing (apt-get install ansible-core)"; exit 1; }
tmp=$(mktemp -d) || exit 99
vm_pid=''
cleanup() {
	[ -z "$vm_pid" ] || kill "$vm_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")

# a free port on the host's loopback for the guest's sshd
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -f "$tmp/key" || exit 99
# the role installs the package: the guest must not have it already
env -u SAGATE_VM_DEBS "$top/tests/vm/vm-run" --timeout 1200 --ssh-forward "$port" --share "$tmp" -- \
	"$here/guest.sh" "$tmp/key.pub" >"$tmp/vm.log" 2>&1 &
vm_pid=$!

ssh_opts=(-i "$tmp/key" -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes)
gssh() { ssh "${ssh_opts[@]}" root@127.0.0.1 "$@"; }
up=false
for _ in $(seq 120); do
	gssh true 2>/dev/null && { up=true; break; }
	kill -0 "$vm_pid" 2>/dev/null || break
	sleep 2
done
$up && ok "the guest's sshd answers on 127.0.0.1:$port" ||
	{ bad "no ssh to the guest"; tail -30 "$tmp/vm.log"; summary; exit 1; }

# the policy: the ssh the controller uses (from qemu's gateway) and ping
mkdir "$tmp/files"
policy() {	# EXTRA-RULE
	cat >"$tmp/files/policy.json" <<JSON
{ "version": 1, "include": ["services.json"],
  "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "ssh-controller", "action": "permit", "peers": "10.0.2.2", "services": "ssh" }$1
  ] }
JSON
}
policy ""
cp "$top/rules/services.json" "$tmp/files/"
cat >"$tmp/inventory" <<EOF
[servers]
guest ansible_host=127.0.0.1 ansible_port=$port ansible_user=root ansible_ssh_private_key_file=$tmp/key ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
EOF
cat >"$tmp/play.yml" <<EOF
- hosts: servers
  gather_facts: false
  roles:
    - role: sagate
      vars:
        sagate_deb: $deb
        sagate_policy: $tmp/files/policy.json
        sagate_policy_includes: [$tmp/files/services.json]
        sagate_no_engine: true
        sagate_confirm_seconds: 60
        sagate_health_checks: "{{ checks | default(['sagate list']) }}"
EOF
play() {	# NAME [ansible-playbook args]: its recap line in $tmp/NAME.recap
	local name=$1
	shift
	ANSIBLE_ROLES_PATH=$top/contrib/ansible/roles ANSIBLE_NOCOLOR=1 ANSIBLE_HOST_KEY_CHECKING=False \
		ansible-playbook -i "$tmp/inventory" "$tmp/play.yml" "$@" >"$tmp/$name.log" 2>&1
	local rc=$?
	grep -E '^guest +:' "$tmp/$name.log" >"$tmp/$name.recap"
	return $rc
}
recap() { sed -E 's/ +/ /g' "$tmp/$1.recap"; }
st() { gssh sagate --json status | jq -r "$1"; }

gssh test -e /usr/sbin/sagate && bad "sagate is installed in the guest before the role ran"
if play first; then ok "first run: the role succeeds ($(recap first))"; else bad "first run failed"; tail -30 "$tmp/first.log"; fi
[ "$(st .applied.generation)" = 1 ] && [ "$(st .kernel)" = "matches the applied policy" ] &&
	ok "the role installed the package; generation 1 applied and in the guest's kernel" || bad "after the first run: $(gssh sagate status 2>&1)"
[ "$(st '.pending_confirm // "none"')" = none ] && ok "and confirmed (no confirm pending)" || bad "a confirm is still pending"
gssh test -L /etc/systemd/system/sysinit.target.wants/sagate.service &&
	ok "sagate.service enabled" || bad "sagate.service not enabled"

if play second; then ok "second run succeeds"; else bad "second run failed"; tail -30 "$tmp/second.log"; fi
grep -q 'changed=0' "$tmp/second.recap" && ok "second run is idempotent: $(recap second)" ||
	{ bad "second run changed something: $(recap second)"; grep -B1 '^changed:' "$tmp/second.log" | head -20; }
[ "$(st .applied.generation)" = 1 ] && ok "and applied nothing (still generation 1)" || bad "second run applied generation $(st .applied.generation)"

policy ', { "name": "ping", "action": "permit", "services": "ping" }'
play third && [ "$(st .applied.generation)" = 2 ] && [ "$(st '.pending_confirm // "none"')" = none ] &&
	ok "an edited policy: generation 2 applied and confirmed ($(recap third))" ||
	{ bad "third run: generation $(st .applied.generation)"; tail -20 "$tmp/third.log"; }

# a health check that fails: the role stops before confirm, and the
# watcher rolls the apply back when its time is up
policy ', { "name": "web", "action": "permit", "services": ["http", "https"] }'
play fourth -e '{"checks": ["false"], "sagate_confirm_seconds": 15}' &&
	bad "a failing health check did not fail the run" || ok "a failing health check fails the run"
[ "$(st .pending_confirm.generation)" = 3 ] && ok "generation 3 applied, waiting for its confirm" ||
	bad "after the failed check: $(gssh sagate status 2>&1)"
for _ in $(seq 40); do [ "$(st .applied.generation)" = 2 ] && break; sleep 1; done
[ "$(st .applied.generation)" = 2 ] && [ "$(st .kernel)" = "matches the applied policy" ] &&
	ok "unconfirmed, it was rolled back to generation 2" || bad "not rolled back: $(gssh sagate status 2>&1)"

gssh touch /run/ansible-test-done
wait "$vm_pid"
rc=$?
vm_pid=''
[ $rc -eq 0 ] && ok "the guest finished cleanly" || { bad "the guest exited $rc"; tail -20 "$tmp/vm.log"; }
summary
