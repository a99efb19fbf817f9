/* compile_int: what compile.c shares with the files that build parts of
 * its plan (bucket.c: the bucket layout; log_chain.c: the log chains).
 * Not for callers outside src/compile/: they use compile.h. */
#ifndef SAGATE_COMPILE_INT_H
#define SAGATE_COMPILE_INT_H

#include "compile.h"

/** One compile in progress: the policy, its classes and the plan being
 *  built; every helper sets oom when an allocation fails and the caller
 *  checks it once. */
struct kctx {
	const struct policy *pol;
	const struct classes *cls;
	struct plan *plan;
	const char **verdict_chain;	/**< per rule: NULL, or the chain its elements goto */
	size_t max_elems;		/**< 0: no limit */
	size_t nelems;			/**< elements so far, added or not */
	struct plan_set *icmp;		/**< the direction and family's df_icmp map, or
					     NULL when no box names ICMP types */
	uint16_t zone;			/**< the interface zone whose maps are made */
	bool oom;
};

/** Appends a statement to r (which has room: PLAN_MAX_STMTS). */
static inline void stmt(struct plan_rule *r, enum plan_stmt_kind k, uint32_t arg,
			const char *str)
{
	r->stmts[r->nstmts++] = (struct plan_stmt){ .kind = k, .arg = arg, .str = str };
}

/** tcp, udp, sctp: the protocols whose keys carry a port. */
static inline bool is_port_proto(unsigned proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

/** A new rule at the end of c (NULL c: none), or NULL and k->oom. */
static inline struct plan_rule *rule_or_oom(struct kctx *k, struct plan_chain *c,
					    const char *comment)
{
	struct plan_rule *r = c ? plan_add_rule(c, comment) : NULL;

	if (!r)
		k->oom = true;
	return r;
}

/* compile.c */

/** "in4", "out6", "fwd4", ...: the prefix of a direction and family's
 *  maps and chains, in buf. */
const char *compile_df_name(char *buf, size_t len, enum direction d, enum addr_family f);
/** "in4_KIND" and so on, in buf. */
const char *compile_set_name(char *buf, size_t len, enum direction d,
			     enum addr_family f, const char *kind);
/** The key fields of a direction and family's maps into out; their count. */
size_t compile_key_fields(enum direction d, enum addr_family f, bool local,
			  bool ports, enum plan_field *out);
/** Adds e to s, or past the element limit only counts it. */
void compile_elem_add(struct kctx *k, struct plan_set *s, const struct plan_elem *e);
/** Box b as elements of exact, ports, protos (and k->icmp). */
void compile_box_elements(struct kctx *k, const struct class_box *b, bool local,
			  struct plan_set *exact, struct plan_set *ports,
			  struct plan_set *protos);
/** The df_icmp map into k->icmp when a box of d and f names ICMP types. */
void compile_icmp_map(struct kctx *k, enum direction d, enum addr_family f, bool local);
/** The lookup of k->icmp at the end of chain, when there is one. */
void compile_icmp_lookup(struct kctx *k, enum addr_family f, struct plan_chain *chain);
/** Where rule r's elements send packets unless accept / drop, or NULL. */
const char *compile_target_chain(struct kctx *k, const struct rule *r);

/* bucket.c */

/** Large policies: the interval boxes of d and f in buckets by peer
 *  address, looked up from chain; false (nothing added) when the
 *  direction and family has too few interval boxes for it. */
bool compile_bucket_lookups(struct kctx *k, enum direction d, enum addr_family f,
			    struct plan_chain *chain);

/* log_chain.c */

/** The log_N chain of every rule with "log" (k->verdict_chain). */
void compile_rule_chains(struct kctx *k);
/** log_default_DIR and the jump at the end of base chain base, when the
 *  policy's defaults log for d. */
void compile_default_log(struct kctx *k, enum direction d, const char *base);

#endif
