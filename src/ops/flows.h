/* flows: the established flows an apply or a rollback ends.  Once the
 * kernel holds a new table, every conntrack entry of this namespace is
 * judged under the new plan (revoke.h) and those it no longer admits,
 * or admits only under another class (cleartext on a port now
 * require-ipsec), are deleted (ct_flows.h): their next packet is then a
 * new flow's, which the new table decides.  Loopback and forwarded flows
 * are never touched. */
#ifndef SAGATE_FLOWS_H
#define SAGATE_FLOWS_H

#include "diag.h"
#include "model.h"
#include "plan.h"

#include <stdbool.h>

/** What flows_end did. */
struct flows_tally {
	bool ran;		/**< the table was read (else nothing was done) */
	unsigned ended;		/**< entries deleted */
	unsigned kept;		/**< entries of the policy's flows still admitted */
	unsigned failed;	/**< entries to end that the kernel did not delete */
	unsigned sockets;	/**< of the ended: this host's TCP sockets aborted
				     (the peer got a reset) */
};

/** End the flows plan p (of policy pol) no longer admits.  Problems are
 *  warnings in d (the table is applied by then: nothing to undo); *t
 *  says how far it got. */
void flows_end(const struct plan *p, const struct policy *pol, struct flows_tally *t,
	       struct diag_list *d);

#endif
