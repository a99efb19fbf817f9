/* ct_flows: the conntrack table of this network namespace over
 * ctnetlink (libmnl): every tracked flow dumped with what revoke.h
 * judges it by, one entry deleted again by its original tuple and id,
 * and this host's addresses (the namespace's interfaces and loopback).
 * Kernel layer: the only file that speaks ctnetlink. */
#ifndef SAGATE_CT_FLOWS_H
#define SAGATE_CT_FLOWS_H

#include "addr.h"
#include "diag.h"
#include "revoke.h"

#include <libmnl/libmnl.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One conntrack entry. */
struct ct_flow {
	struct revoke_flow flow;	/**< the flow (its master's, for a related
					     flow: it lives and dies with it) */
	bool related;		/**< it has a master */
	uint16_t sport;		/**< the opener's port (0 without ports) */
	u128 orig_dst;		/**< where the opener sent it, before DNAT */
	uint16_t orig_dport;
	uint8_t nfproto;	/**< NFPROTO_IPV4 / NFPROTO_IPV6 */
	uint32_t id;		/**< CTA_ID as the kernel sent it */
	bool has_id;
	uint16_t zone;		/**< CTA_ZONE as sent (network order) */
	bool has_zone;
	void *orig;		/**< the CTA_TUPLE_ORIG attribute's payload, as sent */
	uint16_t orig_len;
};

/** The namespace's conntrack table. */
struct ct_table {
	struct ct_flow *v;
	size_t n, cap;
	size_t skipped;		/**< entries not understood (no IP tuple): left alone */
};

/** Read one IPCTNL_MSG_CT_NEW message (a dump's) into *e: 1 (free
 *  e->orig), 0 when it is not understood (not IPv4 / IPv6, a tuple
 *  without addresses or protocol, attributes of the wrong size: such
 *  an entry is left alone), -1 out of memory. */
int ct_flow_parse(const struct nlmsghdr *nlh, struct ct_flow *e);

/** Dump every entry (IPv4 and IPv6, every zone) into t (zeroed first).
 *  0, or -1 with an error in d (t is then empty). */
int ct_dump(struct ct_table *t, struct diag_list *d);
void ct_table_fini(struct ct_table *t);

/** An open ctnetlink socket for deleting entries. */
struct ct_conn;

/** NULL with an error in d. */
struct ct_conn *ct_open(struct diag_list *d);
void ct_close(struct ct_conn *c);
/** Delete f (matched by its original tuple, zone and id, so a new flow
 *  that reuses the tuple is not touched).  1 deleted, 0 already gone,
 *  -1 with errno. */
int ct_delete(struct ct_conn *c, const struct ct_flow *f);

/** Abort this host's TCP socket of f (SOCK_DESTROY over sock_diag), f
 *  opened from outside (inbound) or from here: its process sees the
 *  connection aborted, and the kernel sends the peer a reset, which the
 *  entry, still there, lets out.  1 aborted; 0 when there is no such
 *  socket, f is not TCP, or the kernel cannot (no INET_DIAG_DESTROY);
 *  -1 with errno. */
int ct_abort_socket(struct ct_conn *c, const struct ct_flow *f, bool inbound);

/** This host's addresses: those of the namespace's interfaces, and the
 *  loopback ranges 127.0.0.0/8 and ::1.  0 with *v (caller frees), or -1
 *  with an error in d. */
int ct_local_addrs(struct addr_range **v, size_t *n, struct diag_list *d);

#endif
