/* ike_view: what strongSwan's charon has loaded and negotiated, in the
 * terms sagate audits it: connections with their remote addresses, the
 * identity they demand and their children's mode and traffic selectors,
 * and the CHILD_SAs that are up.
 *
 * The vici client fills it from list-conns and list-sas; tests fill it by
 * hand.  The strings charon prints (traffic selectors, address lists) are
 * parsed here.  No I/O.
 */
#ifndef SAGATE_IKE_VIEW_H
#define SAGATE_IKE_VIEW_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One traffic selector. */
struct ike_ts {
	bool dynamic;			/**< "dynamic": the IKE_SA's own address */
	struct addr_range addr;		/**< when not dynamic */
	uint8_t proto;			/**< 0: every protocol */
	uint16_t port_lo, port_hi;	/**< 0-65535: every port */
};

struct ike_ts_list {
	struct ike_ts *v;
	size_t n;
};

/** A child (CHILD_SA configuration) of a loaded connection. */
struct ike_child_cfg {
	char *name;
	char *mode;			/**< as charon prints it: "TRANSPORT", "TUNNEL", ... */
	struct ike_ts_list local, remote;
};

/** A loaded connection (list-conns). */
struct ike_conn_cfg {
	char *name;
	struct addr_set remote;		/**< remote_addrs; any: %any, or a name to resolve */
	char *remote_id;		/**< the first remote auth round's id, or NULL: any */
	char *remote_class;		/**< its auth class ("public key"), or NULL */
	struct ike_child_cfg *children;
	size_t nchildren;
};

/** A CHILD_SA that is up (list-sas). */
struct ike_child_sa {
	char *conn;			/**< its IKE_SA's name: the connection's */
	char *child;			/**< its child's name */
	char *mode;
	uint32_t spi_in;		/**< host order */
	uint32_t reqid;
	char *remote_id;		/**< its IKE_SA's remote identity, or NULL */
};

struct ike_view {
	struct ike_conn_cfg *conns;
	size_t nconns;
	struct ike_child_sa *sas;
	size_t nsas;
};

void ike_view_fini(struct ike_view *v);
/** Free what one connection / CHILD_SA owns (and zero it). */
void ike_conn_cfg_fini(struct ike_conn_cfg *c);
void ike_child_sa_fini(struct ike_child_sa *sa);

/** Parse one traffic selector as charon prints it: "dynamic",
 *  "10.1.0.0/16", "10.1.0.1..10.1.0.9" or the IPv6 forms, each with an
 *  optional "[PROTO]", "[PROTO/PORT]" or "[PROTO/LO-HI]", where PROTO is
 *  a number or a name of the protocols database and PORT a number or a
 *  name of the services database.  Returns 0, or -1 when s is none of
 *  these ("OPAQUE" ports and ICMP type names included: the audit does
 *  not read them). */
int ike_ts_parse(const char *s, struct ike_ts *out);

/** Add one entry of a remote_addrs list to *s: an address, CIDR or
 *  "a-b" range; "%any", "%any4", "%any6" and host names (charon resolves
 *  them, this does not) make the set any.  Returns 0, or -1 when out of
 *  memory.  Normalise *s after the last entry. */
int ike_addrs_add(struct addr_set *s, const char *entry);

/** Is mode (as charon prints it) a tunnel mode? */
bool ike_mode_tunnel(const char *mode);

/** The addresses a traffic selector of connection c's side names:
 *  dynamic is c's remote addresses (remote side) or every address (local
 *  side: the audit looks at the peers).  Appends to *out; -1 on OOM. */
int ike_ts_addrs(const struct ike_ts *ts, const struct ike_conn_cfg *c, bool remote,
		 struct addr_set *out);

/** Do the protocol / ports of ts meet the key interval [lo, hi]
 *  (model.h's KEY(proto, port))? */
bool ike_ts_meets_keys(const struct ike_ts *ts, uint32_t lo, uint32_t hi);

#endif
