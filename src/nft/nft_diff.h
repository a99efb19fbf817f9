/* nft_diff: the transaction that turns the live table of one plan into
 * the table of another by sending only what differs (an incremental
 * apply).
 *
 * It presumes that the kernel holds exactly plan old (the caller checks
 * that, and sends the ruleset generation it checked it in, so that a
 * commit in between makes the kernel refuse the whole transaction):
 *   BATCH_BEGIN                     (with the ruleset generation read)
 *   NEWCHAIN                        (chains only the new plan has)
 *   DELRULE of a whole chain        (chains whose rules differ, or that go)
 *   DELSETELEM chunks               (elements only the old plan has)
 *   NEWSETELEM chunks               (elements only the new plan has)
 *   NEWRULE                         (every rule of the chains above)
 *   DELCHAIN                        (chains only the old plan has)
 *   BATCH_END                       (left out for a check)
 * An element is kept when its key, its verdict and its rule's name are
 * the same in both plans: it keeps its counter.  A chain's rules are
 * replaced as a whole when any of them differs (in engine mode the queue
 * number of ipsec_in changes bank on every apply: that chain is always
 * replaced).  The binding set, the cleartext-attempt sets and the rate
 * limits' meter sets are not touched (a meter whose limit changes makes
 * the difference impossible: the full replace); neither is the table, whose comment the kernel cannot change.
 */
#ifndef SAGATE_NFT_DIFF_H
#define SAGATE_NFT_DIFF_H

#include "diag.h"
#include "model.h"
#include "nft_build.h"
#include "plan.h"

#include <stdbool.h>
#include <stddef.h>

/** What a difference changes. */
struct nft_diff {
	size_t elems_added, elems_deleted, elems_kept;
	size_t rules_added, rules_deleted;	/**< kernel rules of replaced chains */
	size_t chains_added, chains_deleted, chains_replaced;
	bool too_large;		/**< refused under NFT_DIFF_BOUNDED */
};

/** A build flag (with nft_build.h's): refuse a difference that deletes and
 *  adds more than one element in NFT_DIFF_MAX_SHARE of the old plan's (the
 *  kernel deletes from a concatenated interval map slowly: past that, the
 *  full replace is faster). */
#define NFT_DIFF_BOUNDED 0x100
#define NFT_DIFF_MAX_SHARE 16

/** Can a table of plan old become one of plan new by a difference (same
 *  mode, the same sets with the same keys and flags, base chains with
 *  the same hooks and policies)?  true, or false with the reason in why. */
bool nft_diff_possible(const struct plan *old, const struct plan *new, char *why, size_t len);

/** The names of a plan's policy rules, by rule index (an element's
 *  comment): from its policy (nft_names_of), or kept with the plan
 *  (plan_file.h).  A NULL name is "". */
struct nft_names {
	const char **v;
	size_t n;
};

/** nm names pol's rules (the names stay pol's); 0, or -1 on OOM.
 *  nft_names_fini frees the array. */
int nft_names_of(struct nft_names *nm, const struct policy *pol);
void nft_names_fini(struct nft_names *nm);

/** The transaction from old (its rules named by oldnames) to new (newpol); flags
 *  (NFT_DIFF_BOUNDED too) and genid as for nft_build_plan_bound.  *st
 *  (not NULL) gets what it changes.  NULL after adding an error to d
 *  (st->too_large: refused for its size). */
struct nft_batch *nft_build_diff(const struct plan *old, const struct nft_names *oldnames,
				 const struct plan *new, const struct policy *newpol,
				 unsigned flags, uint32_t genid, struct nft_diff *st,
				 struct diag_list *d);

#endif
