/* vici_ident: the IKE identities of the CHILD_SAs charon holds, kept as
 * a map from a CHILD_SA's inbound SPI (and reqid) to its IKE_SA's remote
 * identity, filled from decoded vici messages (vici_msg.h): the list-sa
 * events of list-sas and the ike-updown, ike-rekey, child-updown and
 * child-rekey events, plus the remote authentication class of each
 * connection from list-conn events.  No socket (core layer); the engine
 * feeds it (engine_vici.c).
 *
 * What charon exposes (strongSwan 5.9, vici plugin): per IKE_SA the
 * remote IKE identity (remote-id), and remote-eap-id / remote-xauth-id
 * after such a round; per CHILD_SA its reqid, state and hex inbound SPI.
 * It does not expose the authentication class an IKE_SA really used, nor
 * the peer's certificate.  So:
 *   id            remote-id, the identity the peer proved in its first
 *                 authentication round (for public-key authentication
 *                 charon has checked that the certificate holds it as
 *                 subject or subjectAltName)
 *   auth          the class of the connection's first remote auth round
 *                 (list-conns "remote-1" class): "pubkey", "psk", "eap",
 *                 "xauth"; NULL when the connection is unknown or allows
 *                 "any"
 *   sans, cert_subject   always NULL: charon does not say which
 *                 certificate an SA was authenticated with
 * Only CHILD_SAs that carry traffic are kept (state INSTALLED, UPDATING,
 * REKEYING or REKEYED, non-zero inbound SPI) of IKE_SAs that are
 * established (ESTABLISHED, REKEYING, REKEYED); everything else has no
 * identity, which the verdict treats as a drop.
 */
#ifndef SAGATE_VICI_IDENT_H
#define SAGATE_VICI_IDENT_H

#include "vici_msg.h"

#include <stddef.h>
#include <stdint.h>

#ifndef SAGATE_SA_IDENT_STRUCT
#define SAGATE_SA_IDENT_STRUCT
/* The identity interface of the verdict (src/verdict/sa_ident.h on the
 * ident branch; copied here until both are merged, fields identical). */
struct sa_ident { char *id; char *auth; char **sans; char *cert_subject; };
#endif
/* Lookup by inbound SPI (host byte order) and reqid; NULL when no identity is known. */
typedef const struct sa_ident *(*sa_ident_lookup_fn)(void *ctx, uint32_t spi, uint32_t reqid);

/** One CHILD_SA with its identity. */
struct vici_ident_sa {
	uint32_t spi;		/**< inbound SPI, host byte order */
	uint32_t reqid;
	uint32_t ike_uid;	/**< charon's unique id of the IKE_SA */
	uint32_t child_uid;	/**< and of the CHILD_SA */
	char *conn;		/**< the IKE_SA's connection name */
	char *child;		/**< the CHILD_SA's config name */
	struct sa_ident ident;	/**< owned: id, auth */
};

/** The map; zero-initialised is empty. */
struct vici_idmap {
	struct vici_ident_sa *sa;
	size_t n, cap;
	struct vici_conn_auth { char *conn; char *auth; } *conns;	/**< from list-conns */
	size_t nconns, conncap;
};

void vici_idmap_init(struct vici_idmap *m);
/** Forget every SA and connection. */
void vici_idmap_clear(struct vici_idmap *m);
void vici_idmap_fini(struct vici_idmap *m);

/** Apply one event message (name as in the EVENT packet: list-sa,
 *  list-conn, ike-updown, ike-rekey, child-updown, child-rekey; any other
 *  is ignored).  1 the map changed, 0 it did not, -1 the message is not
 *  what charon sends (err says what; the map may be half-updated, the
 *  caller clears it and resyncs). */
int vici_idmap_event(struct vici_idmap *m, const char *event, const struct vici_node *msg,
		     char *err, size_t errlen);

/** The identity of the SA with inbound SPI spi and, unless reqid is 0,
 *  that reqid; NULL if none. */
const struct sa_ident *vici_idmap_lookup(const struct vici_idmap *m, uint32_t spi, uint32_t reqid);
/** The same as an sa_ident_lookup_fn, ctx a struct vici_idmap. */
const struct sa_ident *vici_idmap_lookup_fn(void *ctx, uint32_t spi, uint32_t reqid);

#endif
