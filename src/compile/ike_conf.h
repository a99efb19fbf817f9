/* ike_conf: the swanctl.conf fragment (connections and children) that
 * negotiates SAs a policy's require-ipsec rules admit.
 *
 * One connection per peer set (the rule's peers for transport mode, each
 * gateway for tunnel mode), one child per rule and protocol in it.  No
 * I/O but the FILE it is given to write to.
 */
#ifndef SAGATE_IKE_CONF_H
#define SAGATE_IKE_CONF_H

#include "addr.h"
#include "diag.h"
#include "model.h"

#include <stdio.h>

/** The most --local addresses ike_conf_write takes. */
#define IKE_CONF_LOCAL_MAX 16

/** How the peers authenticate, as written in each connection. */
enum ike_conf_auth {
	IKE_AUTH_PUBKEY,	/**< auth = pubkey, certificate left to fill in */
	IKE_AUTH_PSK,		/**< auth = psk, secret left to fill in */
};

/** What the policy does not say about the host. */
struct ike_conf_opts {
	const struct addr_range *local;	/**< this host's addresses (single), or NULL */
	size_t nlocal;
	enum ike_conf_auth auth;
};

/** What ike_conf_write wrote. */
struct ike_conf_stats {
	size_t connections;
	size_t children;
	size_t rules;		/**< require-ipsec rules that got at least one child */
};

/** Write the fragment for p to f.  A require-ipsec rule for which no
 *  child can be made (no ESP proposal its algorithms allow, no inner
 *  address a gateway may carry) is a warning in d, naming the rule.
 *  Returns 0, or -1 when memory ran out (an error in d) or f failed. */
int ike_conf_write(FILE *f, const struct policy *p, const struct ike_conf_opts *o,
		   struct diag_list *d, struct ike_conf_stats *st);

#endif
