/* nft_apply: send a plan to the kernel as one nf_tables transaction.
 *
 * The transaction replaces table inet sagate and nothing else; it all
 * lands or none of it does.  Every message asks for an acknowledgement
 * and every acknowledgement is read before the result is decided; a
 * kernel error becomes a diagnostic that names the policy rule behind
 * the failing message (see nft_build.h), with the kernel's extended-ack
 * text when it gave one.  Needs CAP_NET_ADMIN in the network namespace.
 */
#ifndef SAGATE_NFT_APPLY_H
#define SAGATE_NFT_APPLY_H

#include "diag.h"
#include "model.h"
#include "nft_build.h"
#include "nft_diff.h"
#include "plan.h"

#include <stdbool.h>

/** What an apply cost. */
struct nft_apply_stats {
	struct nft_batch_stats batch;
	double build_seconds;	/**< plan -> netlink messages */
	double kernel_seconds;	/**< sendmsg() and reading every acknowledgement */
	uint32_t genid;		/**< the ruleset generation the batch was checked
				     against (0: none, a dry run); committed, the
				     kernel's is the next one (nft_genid_next) */
};

/** nft_apply's result when the kernel refused the transaction because
 *  the ruleset changed after it was read (someone committed in between);
 *  nothing changed, and d says so. */
#define NFT_APPLY_MOVED (-2)

/** Replace table inet sagate with plan p (pol names the rules), if the
 *  ruleset has not changed since the live table was read for it.
 *  dry_run: the kernel checks the whole transaction, then discards it
 *  (the batch has no end message), so nothing changes.
 *  Returns 0, or -1 or NFT_APPLY_MOVED with errors added to d. */
int nft_apply(const struct plan *p, const struct policy *pol, bool dry_run,
	      struct diag_list *d);

/** nft_apply, and what it cost (st may be NULL). */
int nft_apply_measured(const struct plan *p, const struct policy *pol, bool dry_run,
		       struct nft_apply_stats *st, struct diag_list *d);

/** Turn the live table, which must be exactly plan old (its rules named by oldnames),
 *  into plan p by sending only the difference (nft_diff.h), in one
 *  transaction that the kernel refuses (NFT_APPLY_MOVED) if the ruleset
 *  moved on since generation genid, in which the caller checked the live
 *  table.  dry_run as for nft_apply.  *diff gets what changes; st (may be
 *  NULL) what it cost.  A difference larger than NFT_DIFF_BOUNDED allows
 *  is not sent (diff->too_large, and why in d).  Returns 0, or -1 or NFT_APPLY_MOVED with errors
 *  added to d. */
int nft_apply_diff(const struct plan *old, const struct nft_names *oldnames, const struct plan *p,
		   const struct policy *pol, bool dry_run, uint32_t genid, struct nft_diff *diff,
		   struct nft_apply_stats *st, struct diag_list *d);

/** The ruleset generation a commit checked against genid leaves (the
 *  kernel counts commits, skipping 0). */
uint32_t nft_genid_next(uint32_t genid);

/** Delete table inet sagate; no error when there is none.  Other tables
 *  are not touched.  Returns 0, or -1 with errors added to d. */
int nft_flush_table(bool dry_run, struct diag_list *d);

#endif
