/* xfrm_int: helpers xfrm.c shares with the other XFRM parsers
 * (xfrm_policy.c), which read the same kernel structs, and with the SA
 * cache (xfrm_cache.c).  Internal: it
 * pulls in <linux/xfrm.h>, which the public headers keep out. */
#ifndef SAGATE_XFRM_INT_H
#define SAGATE_XFRM_INT_H

#include "diag.h"
#include "xfrm.h"

#include <linux/xfrm.h>
#include <stddef.h>

/** Add the reason a message is rejected to d (an error of "xfrm") and
 *  evaluate to -1, so a parser can reject a message in one statement. */
#define xfrm_fail(d, ...) (diag_add((d), DIAG_ERROR, "xfrm", "", NULL, __VA_ARGS__), -1)

/** Check that nlh is a netlink message with at least hdrlen payload
 *  bytes (the fixed header of the message what names).  0, or -1 with
 *  the reason in d. */
int xfrm_check_len(const struct nlmsghdr *nlh, size_t hdrlen, const char *what,
		   struct diag_list *d);

/** A kernel address (network order, in a 16-byte union) in host order. */
u128 xfrm_addr_from(const xfrm_address_t *a, enum addr_family fam);

/** AF_INET / AF_INET6 as an addr_family; -1 for any other family. */
int xfrm_family_from(unsigned family, enum addr_family *out);

/** A kernel selector as struct xfrm_sel; AF_UNSPEC leaves it unset.
 *  what names it in a reason: "selector", "policy selector". */
int xfrm_sel_from(const struct xfrm_selector *s, const char *what,
		  struct xfrm_sel *out, struct diag_list *d);

#endif
