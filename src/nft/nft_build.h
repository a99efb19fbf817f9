/* nft_build: a plan -> one nf_tables transaction, as netlink messages.
 *
 * The transaction replaces table inet sagate and touches nothing else:
 *   BATCH_BEGIN                     (with the ruleset generation read)
 *   NEWTABLE inet sagate            (creates it if absent, so that ...)
 *   DELTABLE inet sagate            (... the delete never fails)
 *   NEWTABLE inet sagate            (comment as table userdata)
 *   NEWCHAIN for every chain        (before the maps: elements goto chains)
 *   NEWSET, NEWSETELEM chunks       (each map, then its elements)
 *   NEWSET + NEWSETELEM, NEWRULE    (anonymous sets a rule uses, then the rule)
 *   BATCH_END                       (left out for a check: the kernel
 *                                    validates everything, then aborts)
 *
 * Every message but BATCH_BEGIN / BATCH_END asks for an acknowledgement,
 * and the batch remembers, for every sequence number, what produced the
 * message (and, inside it, where each element or rule statement starts),
 * so that a kernel error points back at the policy rule.
 *
 * Messages are written into libnftnl's batch, in pages of 2 MiB (as
 * nftables does); all pages are sent with one sendmsg(), which the kernel
 * sees as one transaction.
 */
#ifndef SAGATE_NFT_BUILD_H
#define SAGATE_NFT_BUILD_H

#include "diag.h"
#include "model.h"
#include "plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/** Options of a build. */
enum nft_build_flags {
	NFT_BUILD_CHECK = 0x1,	/**< no BATCH_END: validate and abort (dry run) */
};

/** A built transaction; opaque. */
struct nft_batch;

/** Size of a built transaction. */
struct nft_batch_stats {
	size_t messages;	/**< including BATCH_BEGIN / BATCH_END */
	size_t acks;		/**< messages the kernel acknowledges */
	size_t pages;
	size_t bytes;
	size_t elements;	/**< set elements, anonymous sets included */
};

/** Build the transaction that replaces table inet sagate with plan p.
 *  pol supplies the rule names (element comments, error messages).
 *  p and pol must outlive the batch.  Returns NULL after adding an
 *  error to d (a plan the builder cannot express, or out of memory). */
struct nft_batch *nft_build_plan(const struct plan *p, const struct policy *pol,
				 unsigned flags, struct diag_list *d);

/** Size of one key of the PLAN_BOUND_SET: ct mark . reqid. */
#define NFT_BOUND_KEY_LEN PLAN_BOUND_KEY_LEN

/** As nft_build_plan, with nbound keys (NFT_BOUND_KEY_LEN bytes each, as
 *  the kernel holds them) put back into the PLAN_BOUND_SET: the bindings
 *  of flows admitted before this transaction must survive it.  genid,
 *  unless 0, is the ruleset generation they were read in (nft_read.h):
 *  BATCH_BEGIN carries it (NFNL_BATCH_GENID), and the kernel refuses the
 *  whole transaction with ERESTART if another one was committed since. */
struct nft_batch *nft_build_plan_bound(const struct plan *p, const struct policy *pol,
				       unsigned flags, uint32_t genid, const uint8_t *bound,
				       size_t nbound, struct diag_list *d);

/** Build the transaction that deletes table inet sagate, whether or not
 *  it exists.  NULL after adding an error to d. */
struct nft_batch *nft_build_flush(unsigned flags, struct diag_list *d);

void nft_batch_free(struct nft_batch *b);

/** The kernel's number of a base chain hook (NF_INET_LOCAL_IN, ...);
 *  PH_NONE has none (UINT32_MAX). */
uint32_t nft_hooknum(enum plan_hook h);

/** Number of pages, and an iovec over them (iov holds at least that many). */
size_t nft_batch_iovec_len(const struct nft_batch *b);
void nft_batch_iovec(const struct nft_batch *b, struct iovec *iov);

void nft_batch_get_stats(const struct nft_batch *b, struct nft_batch_stats *st);

/** Was message seq sent in this batch (BATCH_BEGIN included)? */
bool nft_batch_has_seq(const struct nft_batch *b, uint32_t seq);
/** Is seq the batch's BATCH_BEGIN?  The kernel blames it for failures of
 *  the transaction as a whole (permission, commit). */
bool nft_batch_is_begin(const struct nft_batch *b, uint32_t seq);

/** Add to d the kernel's error err (positive errno) for message seq:
 *  offset is where the attribute the kernel blamed starts (0: unknown),
 *  kmsg the kernel's extended-ack text (may be NULL).  The diagnostic
 *  names the policy rule behind the message, or the element / chain /
 *  rule statement when there is no policy rule. */
void nft_batch_report(const struct nft_batch *b, uint32_t seq, uint32_t offset,
		      int err, const char *kmsg, struct diag_list *d);

#endif
