/* nft_snap: the shape of what the kernel holds, for audit: table inet
 * sagate's chains (hook, priority, policy, rule comments), sets and the
 * comments of their elements; and every other table's base chains on the
 * input / output hooks.  Read with libnftnl; layout-agnostic: nothing
 * here knows which chains or maps sagate compiles. */
#ifndef SAGATE_NFT_SNAP_H
#define SAGATE_NFT_SNAP_H

#include "diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A chain.  Base chains have has_hook. */
struct snap_chain {
	char *family;		/**< "inet", "ip", "ip6", ... */
	char *table, *name;
	bool has_hook;
	uint32_t hooknum;	/**< NF_INET_LOCAL_IN = 1, NF_INET_LOCAL_OUT = 3 */
	int32_t prio;
	bool policy_drop;
	char **comments;	/**< one per rule, in order: its signature, the comment (else
				     "vmap @SET" for a map lookup, else ""), then " -> VERDICT"
				     when it ends with one ("drop", "goto ipsec_in",
				     "queue num 0") */
	size_t nrules;
	bool accepts;		/**< some rule ends in an immediate accept */
};

#define SNAP_KEY_MAX 64	/**< longest key kept: four 16-byte fields */

/** One element as the kernel holds it. */
struct snap_elem {
	uint8_t key[SNAP_KEY_MAX], key_end[SNAP_KEY_MAX];
	uint32_t key_len, key_end_len;	/**< 0: absent (or longer than SNAP_KEY_MAX) */
	bool has_verdict;
	int32_t verdict;	/**< NF_ACCEPT, NF_DROP, NFT_GOTO, NFT_JUMP, ... */
	char *chain;		/**< goto / jump target, or NULL */
};

/** A set of table inet sagate and its elements. */
struct snap_set {
	char *name;
	char **comments;	/**< one per element (interval ends not counted); "" for none */
	struct snap_elem *elems;	/**< parallel to comments */
	size_t nelems, cap;
};

struct nft_snap {
	bool present;		/**< table inet sagate exists */
	char *comment;
	struct snap_chain *chains;	/**< of table inet sagate */
	size_t nchains;
	struct snap_set *sets;
	size_t nsets;
	struct snap_chain *foreign;	/**< base chains of other tables on input / output / forward */
	size_t nforeign;
};

/** Read it all; 0, or -1 with an error in d.  Chains the kernel sent
 *  without a table or a name are left out, with a warning in d. */
int nft_snap_read(struct nft_snap *s, struct diag_list *d);

/** One chain of a chain dump (a NEWCHAIN message) into *c (zeroed
 *  first): its family, table and name, and the hook, priority and policy
 *  of a base chain.  1; 0 when the table or the name is missing (nothing
 *  to look the chain up by: skip it); -1 when the message does not parse
 *  or memory runs out.  nft_snap_chain_fini(c) in every case. */
struct nlmsghdr;
int nft_snap_chain_parse(const struct nlmsghdr *nlh, struct snap_chain *c);
void nft_snap_chain_fini(struct snap_chain *c);
void nft_snap_fini(struct nft_snap *s);

#endif
