/* forward: whether this network namespace forwards packets, against a
 * policy's cover of forwarded traffic.
 *
 * A policy covers forwarded traffic when it has forward rules or sets
 * defaults.forward (model.h, forward_covered); one that does not leaves
 * the host's forwarding as it was without sagate.  Where the host routes
 * (ip_forward, containers, VMs), that is traffic to machines behind it
 * that nothing of the policy filters: check and audit say so.
 */
#ifndef SAGATE_FORWARD_H
#define SAGATE_FORWARD_H

#include "audit.h"
#include "diag.h"
#include "model.h"

#include <stdbool.h>

/** Read proc/sys/net/ipv4/ip_forward and proc/sys/net/ipv6/conf/all/forwarding
 *  (proc is "/proc", tests pass their own; /proc/sys/net shows the network
 *  namespace of the reader).  *v4 / *v6: the value is not 0.  Returns 0,
 *  or -1 when neither file could be read (both false then). */
int forward_read(const char *proc, bool *v4, bool *v6);

/** sagate check: a warning on the policy when this namespace forwards
 *  and the policy does not cover forwarded traffic. */
void forward_check(const struct policy *p, const char *proc, struct diag_list *d);

/** sagate audit: "forward-uncovered" (warning) when this namespace
 *  forwards and the policy does not cover forwarded traffic. */
void audit_forward(const struct policy *p, const char *proc, struct audit_list *out);

#endif
