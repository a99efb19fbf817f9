/* xfrm_dump: one-shot dumps of the kernel's SAs and SPD over XFRM
 * netlink, for the admin commands (sagated keeps its own live cache). */
#ifndef SAGATE_XFRM_DUMP_H
#define SAGATE_XFRM_DUMP_H

#include "diag.h"
#include "xfrm.h"
#include "xfrm_policy.h"

#include <stddef.h>
#include <stdint.h>

/** The SPD as dumped. */
struct xfrm_spd_list {
	struct xfrm_spd *v;
	size_t n, cap;
};

/** Dump every SA into c (xfrm_cache_apply).  Messages the parser
 *  rejects are reported as warnings in d.  0, or -1 with an error in d. */
int xfrm_dump_sas(struct xfrm_cache *c, struct diag_list *d);

/** The reqids the kernel's SAs carry, each once and ascending, in a newly
 *  allocated array (*n its length; NULL when there are none).  An SA
 *  table the kernel will not dump (no xfrm_user, no CAP_NET_ADMIN) has
 *  none to give: a warning in d says why.  0, or -1 with an error in d
 *  when out of memory. */
int xfrm_dump_reqids(uint32_t **reqids, size_t *n, struct diag_list *d);

/** Dump the SPD into l (initialised to zero).  0, or -1 with an error in d. */
int xfrm_dump_spd(struct xfrm_spd_list *l, struct diag_list *d);
void xfrm_spd_list_fini(struct xfrm_spd_list *l);

/** Collect every SA of c into a newly allocated array, sorted by peer,
 *  then SPI; *n gets its length.  NULL (and *n = 0) when empty or OOM. */
const struct xfrm_sa **xfrm_dump_sorted(const struct xfrm_cache *c, size_t *n);

#endif
