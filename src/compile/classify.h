/* classify: ordered, overlapping rules -> disjoint classes.
 *
 * Precedence is first match wins, in file order.  The classifier turns
 * that order into boxes that do not overlap, each labelled with the rule
 * that decides it, so the kernel can decide with one set lookup and no
 * ordering.  Space not covered by any box gets the direction's default.
 *
 * Dimensions of a box: direction, family, interface zone, peer address
 * interval, local address interval and service key interval (see
 * model.h).  A zone is one interface that some rule names ("interfaces"):
 * its boxes classify the rules for that interface and the rules for
 * every one; zone 0 is every other interface, with only the latter.
 */
#ifndef SAGATE_CLASSIFY_H
#define SAGATE_CLASSIFY_H

#include "model.h"

#include <stdint.h>

#define CLASS_NONE UINT32_MAX	/**< no rule: the default decides */

/** One disjoint piece of packet space and who decides it. */
struct class_box {
	enum direction dir;
	enum addr_family fam;
	u128 peer_lo, peer_hi;
	u128 local_lo, local_hi;	/**< whole family when no rule uses "local" */
	uint32_t key_lo, key_hi;
	uint16_t zone;		/**< 0: on an interface no rule of the direction
				     names; k: on classes.zones[dir][k - 1] */
	uint32_t rule;		/**< index of the deciding rule */
	uint32_t next;		/**< who would decide without it (CLASS_NONE: default) */
};

/** What the classifier learnt about one rule. */
struct class_rule_info {
	size_t boxes;		/**< boxes it decides; 0 means it can never match */
	bool redundant;		/**< removing it would change no decision */
	uint32_t redundant_with;	/**< a rule deciding the same instead, or CLASS_NONE (default) */
	uint32_t shadowed_by[3];	/**< earlier rules that decide its packets (CLASS_NONE-padded) */
};

/** The classifier's result. */
struct classes {
	struct class_box *boxes;	/**< sorted by dir, fam, zone, local, key, peer */
	size_t nboxes;
	bool uses_local[DIR_COUNT];	/**< some rule of this direction names "local" */
	char **zones[DIR_COUNT];	/**< the interface names the rules of a direction
					     name, sorted; owned */
	size_t nzones[DIR_COUNT];
	struct class_rule_info *info;	/**< one per policy rule */
	size_t nrules;
	bool analysed;		/**< redundant / shadowed_by are filled in */
	size_t max_elements;	/**< CLASSIFY_LIMIT: the policy's max_elements,
				     which compile_plan keeps to as well; else 0 */
	bool over_limit;	/**< more boxes than max_elements: classifying
				     stopped, there are no boxes */
};

/** Also find redundant rules and who shadows whom (a second pass). */
#define CLASSIFY_ANALYSE 0x1
/** Keep to the policy's max_elements: do not start when classify_estimate
 *  is over it, stop at more boxes than it (each box is at least one kernel
 *  set element): over_limit.  The work and memory stay in proportion to
 *  the limit, whatever the policy asks for. */
#define CLASSIFY_LIMIT 0x2

/** Joins boxes of the same rule (and runner-up, zone, local addresses)
 *  that continue each other in the key with the same peers, or in the
 *  peers with the same keys, until none do; the order of c->boxes is
 *  lost.  classify() does it to its result: the boxes then follow the
 *  decisions rather than the classifier's tree, and a one-rule edit
 *  changes the boxes near the rule only (box_merge.c). */
void classify_merge(struct classes *c);

/** Classify p.  Returns NULL on OOM. */
struct classes *classify(const struct policy *p, unsigned flags);

/** What the rules name, before any work: peer address intervals times
 *  local ones times service key ranges, summed over the rules (at most
 *  SIZE_MAX).  The classifier's input has this many items; its boxes are
 *  fewer where rules overlap, more where they cross. */
size_t classify_estimate(const struct policy *p);
void classes_free(struct classes *c);

/** A packet as the classifier sees it. */
struct packet_key {
	enum direction dir;
	enum addr_family fam;
	u128 peer, local;
	uint32_t key;		/**< KEY(proto, port); port 0 for protocols without */
	const char *iface;	/**< the interface it arrives on (in, forward) or
				     leaves by (out); NULL: one no rule names */
};

/** The zone (class_box.zone) of packets on interface name in direction d. */
uint16_t classify_zone(const struct classes *c, enum direction d, const char *name);

/** Reference semantics: the first rule of p that matches k, or CLASS_NONE. */
uint32_t classify_eval_rules(const struct policy *p, const struct packet_key *k);
/** The rule whose box holds k, or CLASS_NONE (a linear scan: for tests and explain). */
uint32_t classify_lookup(const struct classes *c, const struct packet_key *k);

#endif
