#!/bin/bash
# Runs inside the QEMU guest: every scenario-*.sh with real IKEv2 peers,
# one after the other in this one boot (the first pays for the cold
# caches: modules, charon's plugins, initdb, compiling sgnet).
#
#   tests/vm/vm-run --timeout 1200 -- env SAGATE=build/sagate SAGATED=build/sagated \
#       tests/vm/scenarios.sh [NAME...]
#
# NAME: db-server inject sa-lifecycle sagated-restart spoof outbound audit revoke ike-config identities identity-verdicts
# (default: all, in that order).  SAGATE_SCENARIO_BREAK=1 is passed on: then
# every scenario must fail.  Prints each scenario's time and the total;
# exit status 0 only if every scenario passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(db-server inject sa-lifecycle sagated-restart spoof outbound audit revoke ike-config identities identity-verdicts)
t0=$SECONDS
ok=() failed=() times=()
for n in "${names[@]}"; do
	echo "=== scenario $n"
	t=$SECONDS
	if [ -x "$here/scenario-$n.sh" ] && "$here/scenario-$n.sh"; then
		ok+=("$n")
		times+=("$n: ok ($((SECONDS - t)) s)")
	else
		failed+=("$n")
		times+=("$n: FAILED ($((SECONDS - t)) s)")
	fi
	echo "=== scenario $n: ${times[-1]#*: }"
done
echo "=== scenario times:"
printf '    %s\n' "${times[@]}"
echo "scenarios: ${#ok[@]} passed, ${#failed[@]} failed${failed:+ (${failed[*]})} in $((SECONDS - t0)) s"
[ ${#failed[@]} -eq 0 ]
