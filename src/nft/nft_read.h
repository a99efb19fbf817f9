/* nft_read: what the kernel holds in table inet sagate, read back with
 * libnftnl: the table's comment and the counters of every set element
 * and rule, summed per comment (a policy rule's name for elements).
 * sagate status / list show these, never numbers from our own memory. */
#ifndef SAGATE_NFT_READ_H
#define SAGATE_NFT_READ_H

#include "addr.h"
#include "diag.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Counters summed over the kernel objects that carry one comment. */
struct nft_count {
	char *comment;
	uint64_t packets, bytes;
	size_t objects;		/**< elements or rules behind the sums */
};

/** The live table. */
struct nft_live {
	bool present;		/**< table inet sagate exists */
	char *comment;		/**< its comment (may be NULL) */
	struct nft_count *elems;	/**< per element comment */
	size_t nelems, capelems;
	struct nindex elem_ix;		/**< comment -> index in elems */
	struct nft_count *rules;	/**< per rule comment (chains' own rules) */
	size_t nrules, caprules;
	struct nindex rule_ix;
	size_t sets, elements;	/**< totals */
};

/** Read the table; 0, or -1 with an error in d.  A missing table is not
 *  an error (present = false). */
int nft_read_live(struct nft_live *out, struct diag_list *d);
void nft_live_fini(struct nft_live *l);

/** The kernel's ruleset generation in this network namespace
 *  (NFT_MSG_GETGEN): every committed nf_tables transaction, by anyone,
 *  moves it on.  A transaction that carries it (nft_build_plan_bound)
 *  is refused when it moved since.  0 (no check) from a kernel that
 *  does not say.  0, or -1 with an error in d. */
int nft_read_genid(uint32_t *genid, struct diag_list *d);

/** The keys of the live PLAN_BOUND_SET (NFT_BOUND_KEY_LEN bytes each;
 *  none when there is no table or set).  0, or -1 with an error in d;
 *  caller frees *keys. */
int nft_read_bound(uint8_t **keys, size_t *n, struct diag_list *d);
/** One record of the PLAN_ATTEMPTS sets: a source that tried a
 *  require-ipsec class in cleartext. */
struct nft_attempt {
	enum addr_family fam;
	u128 src;
	uint8_t proto;
	uint16_t port;
	uint64_t packets;
	uint64_t idle_ms;	/**< since its last packet (timeout - expiration) */
};

/** The records of the live PLAN_ATTEMPTS sets (none when there is no
 *  table or set).  0, or -1 with an error in d; caller frees *v. */
int nft_read_attempts(struct nft_attempt **v, size_t *n, struct diag_list *d);

/** The sums for one comment, or NULL. */
const struct nft_count *nft_live_elem(const struct nft_live *l, const char *comment);

#endif
