#!/bin/bash
# Runs INSIDE the QEMU guest (tests/ansible/run.sh boots it with
# vm-run --ssh-forward): eth0 on qemu's restricted user network, sshd
# with the test's key for root, then wait until the controller says it is
# done (it creates /run/ansible-test-done over ssh), at most 15 minutes.
#     guest.sh AUTHORIZED-KEYS-FILE
set -u
modprobe virtio_net || { echo "FAIL: modprobe virtio_net"; exit 1; }
for _ in $(seq 50); do ip link show eth0 >/dev/null 2>&1 && break; sleep 0.1; done
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 ||
	{ echo "FAIL: cannot configure eth0"; ip link; exit 1; }
install -d -m 0700 /root/.ssh && install -m 0600 "$1" /root/.ssh/authorized_keys || exit 1
mkdir -p /run/sshd && ssh-keygen -A >/dev/null || { echo "FAIL: ssh-keygen -A"; exit 1; }
/usr/sbin/sshd -o PermitRootLogin=prohibit-password -o UseDNS=no || { echo "FAIL: sshd did not start"; exit 1; }
echo "guest: sshd listening"
for _ in $(seq 900); do
	[ -e /run/ansible-test-done ] && exit 0
	sleep 1
done
echo "FAIL: the controller never said it was done"
exit 1
