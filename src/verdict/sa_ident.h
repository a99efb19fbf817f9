/* sa_ident: what IKE proved about the peer of one inbound SA, as an
 * identity source (strongSwan's vici, or a test table) hands it to the
 * verdict.
 *
 * The verdict asks by the SA's inbound SPI and reqid; the provider owns
 * the returned struct and keeps it valid until the provider next changes
 * (for sagated: until the queue thread's next call, as with the XFRM
 * cache).  NULL means no identity is known for that SA (no IKE daemon
 * reported it, vici down, an SA set by hand): identity rules then drop.
 */
#ifndef SAGATE_SA_IDENT_H
#define SAGATE_SA_IDENT_H

#include <stdint.h>

/** What IKE proved about the peer of one inbound SA. */
struct sa_ident {
	char *id;		/**< remote IKE identity as strongSwan prints it (DN
				     "C=CH, O=x, CN=y", FQDN, user@fqdn, IP) */
	char *auth;		/**< auth class: "pubkey", "psk", "eap", ... */
	char **sans;		/**< subjectAltNames of the remote certificate,
				     NULL-terminated, may be NULL */
	char *cert_subject;	/**< subject DN of the remote certificate, may be NULL */
};

/** Lookup by inbound SPI (host byte order) and reqid; returns NULL when
 *  no identity is known. */
typedef const struct sa_ident *(*sa_ident_lookup_fn)(void *ctx, uint32_t spi, uint32_t reqid);

#endif
