# Debian packages sagate needs to build and test, and the check that what
# the test bed runs is really there; sourced by tests/run, demo/run, .ci/run
# and tests/vm/lib-ike.sh.
SAGATE_DEPS=(
	build-essential autoconf automake libtool pkg-config
	libnftnl-dev libmnl-dev libnetfilter-queue-dev libjansson-dev libcriterion-dev
	nftables iproute2 iputils-ping jq kmod man-db groff-base
	qemu-system-x86 busybox-static cpio
	strongswan-charon strongswan-swanctl strongswan-pki libstrongswan-standard-plugins
	libstrongswan-extra-plugins postgresql procps python3-minimal systemd
	e2fsprogs dpkg-dev debhelper lintian mmdebstrap ansible-core openssh-client
	python3-prometheus-client
	clang libclang-rt-14-dev git
)

# What the QEMU guest's own root holds (tests/vm/guest-root builds it
# from this list with mmdebstrap, vm-run --root boots it): the programs
# the tests run inside the guest (SAGATE_TESTBED_PROGRAMS without the
# host-only ones: qemu, cpio), the strongSwan plugins, the
# libraries sagate links against, udev and systemd for the boots, man-db
# for the package test, openssh-server and python3(-apt) for the Ansible
# role, busybox-static for the tests' `busybox nc`.  Nothing of the host's root reaches the guest:
# what this list lacks is missing on every machine.
SAGATE_GUEST_PACKAGES=(
	bash coreutils iproute2 nftables jq kmod procps iputils-ping python3-minimal
	strongswan-charon strongswan-swanctl strongswan-pki libstrongswan-standard-plugins
	libstrongswan-extra-plugins postgresql
	systemd udev man-db openssh-server python3 python3-apt busybox-static
	libjansson4 libmnl0 libnftnl11 libnetfilter-queue1
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

# The strongSwan plugins each charon of the test bed loads (tests/vm/lib-ike.sh
# writes this list into its strongswan.conf, load_modular = no), and the
# Debian package that ships each plugin's .so (dpkg -S, Debian 12).  A
# plugin that is not there fails every IKE negotiation that needs it
# ("configured DH group CURVE_25519 not supported"), long after boot.
SAGATE_IKE_PLUGINS=(
	"random libstrongswan"
	"nonce libstrongswan"
	"aes libstrongswan"
	"sha1 libstrongswan"
	"sha2 libstrongswan"
	"hmac libstrongswan"
	"gcm libstrongswan-standard-plugins"
	"curve25519 libstrongswan-extra-plugins"
	"kdf libstrongswan"
	"kernel-netlink libstrongswan"
	"socket-default strongswan-libcharon"
	"vici strongswan-swanctl"
	"x509 libstrongswan"
	"pem libstrongswan"
	"pkcs1 libstrongswan"
	"pkcs8 libstrongswan"
	"pubkey libstrongswan"
	"constraints libstrongswan"
)
# the plugin names, space-separated, for charon's `load =`
ike_plugin_names() { local e; for e in "${SAGATE_IKE_PLUGINS[@]}"; do printf '%s ' "${e%% *}"; done | sed 's/ $//'; }

# The programs the test bed runs, where their package puts them and which
# Debian package that is (dpkg -S, Debian 12), and who needs them: "demo"
# for demo/run's live half (network namespaces, or the QEMU guest via
# tests/vm/vm-run), "tests" for tests/run's QEMU stages only.  Programs of
# the packages every Debian system has (Essential or Priority: required:
# coreutils, util-linux, grep, sed, gzip, dpkg, apt, mawk, mount) are not
# listed.  A path may hold a glob.
SAGATE_TESTBED_PROGRAMS=(
	"/usr/bin/qemu-system-x86_64 qemu-system-x86 demo"
	"/bin/busybox busybox-static demo"
	"/bin/cpio cpio demo"
	"/sbin/depmod kmod demo"
	"/sbin/modinfo kmod demo"
	"/sbin/modprobe kmod demo"
	"/bin/ip iproute2 demo"
	"/usr/sbin/nft nftables demo"
	"/usr/bin/jq jq demo"
	"/bin/ss iproute2 tests"
	"/bin/ping iputils-ping tests"
	"/sbin/sysctl procps tests"
	"/usr/bin/gcc gcc tests"
	"/usr/bin/python3 python3-minimal tests"
	"/usr/lib/ipsec/charon strongswan-charon tests"
	"/usr/sbin/swanctl strongswan-swanctl tests"
	"/usr/bin/pki strongswan-pki tests"
	"/usr/bin/psql postgresql-client-common tests"
	"/usr/lib/postgresql/*/bin/psql postgresql-client-15 tests"
	"/usr/lib/postgresql/*/bin/initdb postgresql-15 tests"
	"/usr/lib/postgresql/*/bin/pg_ctl postgresql-15 tests"
	"/lib/systemd/systemd systemd tests"
)

# check_testbed_tools [demo]: every program (and, without "demo", every
# strongSwan plugin) the test bed uses is installed; else one line per
# missing file naming it and its Debian package, and the apt-get command,
# on stderr, and status 1.  Run before anything boots: a missing piece
# otherwise shows up minutes into a QEMU run, as failed negotiations and
# timeouts.  SAGATE_IPSEC_PLUGIN_DIR stands in for charon's plugin
# directory only so tests/check-testbed-tools.sh can point it at a fake one.
check_testbed_tools() {
	local part=${1:-tests} dir=${SAGATE_IPSEC_PLUGIN_DIR:-/usr/lib/ipsec/plugins}
	local e f path pkg who so pkgs=() n=0
	for e in "${SAGATE_TESTBED_PROGRAMS[@]}"; do
		read -r path pkg who <<<"$e"
		[ "$part" = demo ] && [ "$who" != demo ] && continue
		f=$(compgen -G "$path" | head -n1)	# the path may be a glob
		[ -n "$f" ] && [ -x "$f" ] && continue
		echo "missing program $path: install the Debian package $pkg" >&2
		pkgs+=("$pkg") n=$((n + 1))
	done
	if [ "$part" != demo ]; then
		for e in "${SAGATE_IKE_PLUGINS[@]}"; do
			read -r so pkg <<<"$e"
			so=libstrongswan-$so.so
			[ -f "$dir/$so" ] && continue
			echo "missing strongSwan plugin $so (in $dir): install the Debian package $pkg" >&2
			pkgs+=("$pkg") n=$((n + 1))
		done
	fi
	[ $n -eq 0 ] && return 0
	echo "the test bed cannot run without them: apt-get install $(printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//')" >&2
	return 1
}
