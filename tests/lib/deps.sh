# Debian packages sagate needs to build and test; sourced by tests/run,
# demo/run and .ci/run.
SAGATE_DEPS=(
	build-essential autoconf automake libtool pkg-config
	libnftnl-dev libmnl-dev libnetfilter-queue-dev libjansson-dev libcriterion-dev
	nftables iproute2 iputils-ping jq kmod man-db groff-base
	qemu-system-x86 busybox-static cpio
	strongswan-charon strongswan-swanctl libstrongswan-standard-plugins
	libstrongswan-extra-plugins postgresql procps python3-minimal
)

install_deps() {
	local missing=()
	for p in "${SAGATE_DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
