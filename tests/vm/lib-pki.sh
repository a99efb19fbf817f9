# Certificates for the IKE scenarios (tests/vm/scenario-identities.sh,
# scenario-identity-verdicts.sh): a CA and Ed25519 host certificates made
# with strongSwan's pki, and swanctl.conf files in which db accepts any
# certificate of that CA and each peer authenticates with its own.
# Source after tests/vm/lib-ike.sh.
CA_DN="C=CH, O=sagate test, CN=sagate test CA"
dn() { echo "C=CH, O=sagate test, CN=$1.sagate.test"; }

# HOST's key and certificate and the CA's certificate, in x509/,
# x509ca/ and private/ beside its swanctl.conf (swanctl --file reads
# credentials from the file's directory); the CA's key stays in $IKE_DIR/ca
certs() {
	local c=$IKE_DIR/ca h d
	mkdir -p "$c" || return 1
	# pki's stderr (the tpm plugin it cannot load) to a file
	exec 3>&2 2>>"$c/pki.err"
	pki --gen --type ed25519 --outform pem >"$c/ca.key" &&
		pki --self --ca --lifetime 30 --in "$c/ca.key" --type ed25519 --dn "$CA_DN" \
			--outform pem >"$c/ca.pem" || { exec 2>&3; return 1; }
	for h in db app1 app2; do
		d=$IKE_DIR/$h
		mkdir -p "$d/x509" "$d/x509ca" "$d/private" || return 1
		pki --gen --type ed25519 --outform pem >"$d/private/$h.key" &&
			pki --pub --in "$d/private/$h.key" |
			pki --issue --cacert "$c/ca.pem" --cakey "$c/ca.key" --type pub \
				--dn "$(dn $h)" --san "$h.sagate.test" --lifetime 30 --outform pem \
				>"$d/x509/$h.pem" &&
			cp "$c/ca.pem" "$d/x509ca/ca.pem" || { exec 2>&3; tail -3 "$c/pki.err" >&2; return 1; }
	done
	exec 2>&3 3>&-
}

# the CHILD_SA both sides configure
child_pg() {
	cat <<-EOF
		children {
			pg {
				mode = transport
				esp_proposals = aes128gcm16
				rekey_time = 0
				life_time = 0
				start_action = none
			}
		}
	EOF
}

# db: one connection for any peer with a certificate of the CA
conf_db() {
	cat >"$IKE_DIR/db/swanctl.conf" <<-EOF
		connections {
			apps {
				version = 2
				local_addrs = ${IP4[db]}
				proposals = aes128gcm16-prfsha256-x25519
				rekey_time = 0
				dpd_delay = 0
				local { auth = pubkey
					certs = db.pem
					id = "$(dn db)" }
				remote { auth = pubkey
					cacerts = ca.pem }
				$(child_pg)
			}
		}
	EOF
}

# conf_peer HOST ID: HOST's connection "db" with IKE identity ID
conf_peer() {
	cat >"$IKE_DIR/$1/swanctl.conf" <<-EOF
		connections {
			db {
				version = 2
				local_addrs = ${IP4[$1]}
				remote_addrs = ${IP4[db]}
				proposals = aes128gcm16-prfsha256-x25519
				rekey_time = 0
				dpd_delay = 0
				local { auth = pubkey
					certs = $1.pem
					id = "$2" }
				remote { auth = pubkey
					id = "$(dn db)"
					cacerts = ca.pem }
				$(child_pg)
			}
		}
	EOF
}


