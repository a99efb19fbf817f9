/* Internal to nft_build*.c: the batch being built and what it remembers
 * for errors, shared by nft_build.c (messages, table, chains, sets, the
 * transaction), nft_rule.c (rules) and nft_report.c (errors back to the
 * policy). */
#ifndef SAGATE_NFT_BUILD_INT_H
#define SAGATE_NFT_BUILD_INT_H

#include "nft_build.h"
#include "nft_udata.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/udata.h>

/* nftables' page size: a ruleset of millions of elements still needs only
 * a few dozen iovecs for its single sendmsg(). */
#define PAGE_LIMIT (2u << 20)
/* A message that crosses the limit is moved to a fresh page (by
 * nftnl_batch_update), so a page must hold one more message past it; none
 * is larger than an element list (below) plus its headers. */
#define PAGE_OVERRUN (128u << 10)
/* Pages are zeroed this far at a time, ahead of the messages (no message
 * is larger than PAGE_OVERRUN). */
#define ZERO_STEP (256u << 10)
/* NFTA_SET_ELEM_LIST_ELEMENTS is a single attribute: its length is a u16. */
#define ELEMS_NEST_MAX 0xffffu
/* Upper bound of an element that is only a key: three attribute headers
 * and a key of up to 52 bytes. */
#define KEY_ELEM_MAX 64u
/* Upper bound of one element's attributes: two 64-byte keys, a verdict
 * with a 32-byte chain name, 256 bytes of comment, a counter. */
#define ELEM_MAX_SIZE 768u
#define LOOPBACK_IFINDEX 1	/* "lo" is ifindex 1 in every namespace */
#define MAX_EXPRS 64		/* expressions of one rule; compiled rules have at most 12 */
#define STMT_VERDICT UINT32_MAX	/* mark.what, rb.stmt: the rule's verdict */
#define STMT_NONE (UINT32_MAX - 1)	/* rb.stmt: the rule as a whole */

/* Every single-value load goes to 128-bit register 1, as nft does. */
#define REG_FIRST NFT_REG_1

enum origin_kind { O_BATCH, O_TABLE, O_CHAIN, O_SET, O_ELEMS, O_ANON, O_RULE,
		   O_OLD_CHAIN, O_OLD_ELEMS };	/* O_OLD_*: obj in nft_batch.old (a diff) */

/* What produced one message; msgs[seq - seq0]. */
struct origin {
	uint8_t kind;
	uint16_t type;		/* NFT_MSG_* */
	uint32_t obj;		/* set (O_SET, O_ELEMS) or chain (O_CHAIN, O_ANON, O_RULE) */
	uint32_t idx;		/* O_ELEMS: first element; O_ANON, O_RULE: rule */
	size_t mark0, nmarks;	/* where elements / expressions start in it */
};

/* Offset of an element (what: its index) or of a rule expression (what:
 * its statement, expr: index into expr_names) inside a message. */
struct mark {
	uint32_t off;
	uint32_t what;
	uint8_t expr;
};

/* The expressions a rule is made of (mark.expr). */
enum { X_META = 1, X_CMP, X_BITWISE, X_PAYLOAD, X_LOOKUP, X_BYTEORDER, X_CT, X_RT,
       X_XFRM, X_COUNTER, X_LOG, X_IMMEDIATE, X_QUEUE, X_LIMIT, X_DYNSET };

static const char *const expr_names[] = {
	[X_META] = "meta", [X_CMP] = "cmp", [X_BITWISE] = "bitwise",
	[X_PAYLOAD] = "payload", [X_LOOKUP] = "lookup", [X_BYTEORDER] = "byteorder",
	[X_CT] = "ct", [X_RT] = "rt", [X_XFRM] = "xfrm", [X_COUNTER] = "counter",
	[X_LOG] = "log", [X_IMMEDIATE] = "immediate", [X_QUEUE] = "queue",
	[X_LIMIT] = "limit", [X_DYNSET] = "dynset",
};

struct nft_batch {
	const struct plan *plan;
	const struct plan *old;	/* a diff (nft_diff.c): the plan it starts from */
	const struct policy *pol;
	struct diag_list *d;
	struct nftnl_batch *nb;	/* the messages, in pages */
	char *zeroed, *page_end;	/* the current page is zeroed up to zeroed */
	size_t bytes;		/* of all messages */
	struct origin *msgs;
	size_t nmsgs, capmsgs;
	struct mark *marks;
	size_t nmarks, capmarks;
	uint32_t seq0;
	uint32_t next_anon_id;
	size_t elements;
	struct nftnl_udata_buf **rule_ud;	/* element comments, per policy rule */
};

/* Errors while building: each adds one diagnostic to b->d and returns -1,
 * which the caller passes up; the batch is then given up.  "Out of
 * memory" is said of a failed allocation, and only of one. */
/* nft_build.c: at policy rule r (NULL: the policy file); at, when not "",
 * says where in the plan, before the message */
void nftb_diag(const struct nft_batch *b, const struct rule *r, struct diag_list *d,
	       const char *at, const char *msg);
int nftb_vfail(struct nft_batch *b, const struct rule *r, const char *at, const char *fmt,
	       va_list ap) __attribute__((format(printf, 4, 0)));
int nftb_fail(struct nft_batch *b, const struct rule *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int nftb_oom(struct nft_batch *b);
int nftb_msg_done(struct nft_batch *b, struct origin o);
int nftb_mark_add(struct nft_batch *b, uint32_t off, uint32_t what, uint8_t expr);
struct nlmsghdr *nftb_msg_start(struct nft_batch *b, uint16_t type, uint16_t flags);
size_t nftb_field_space(enum plan_field f);
uint32_t nftb_set_id(size_t si);
const struct rule *nftb_elem_rule(const struct nft_batch *b, const struct plan_elem *e);
uint32_t nftb_verdict_code(const struct plan_verdict *v);
int nftb_put_key_elems(struct nft_batch *b, struct origin o, const char *set, uint32_t id,
		       const uint8_t *keys, size_t klen, size_t n);
/* nft_build.c, for nft_diff.c: the pieces of a transaction */
struct nft_batch *nftb_batch_new(const struct plan *p, const struct policy *pol,
				 struct diag_list *d);
struct nft_batch *nftb_finish(struct nft_batch *b, int ret);
int nftb_put_begin(struct nft_batch *b, uint32_t genid);
int nftb_put_end(struct nft_batch *b, unsigned flags);
int nftb_put_chain(struct nft_batch *b, size_t ci);
/* plan set si's elements sel[0..nsel) (sel NULL: the first nsel) */
int nftb_put_elems_sel(struct nft_batch *b, size_t si, const size_t *sel, size_t nsel);
size_t nftb_encode_key(const struct plan_set *s, const u128 *v, uint8_t *out);
bool nftb_key_next(uint8_t *k, size_t n);
bool nftb_single_interval(const struct plan_set *s);
struct nlattr *nftb_elems_start(struct nlmsghdr *nlh, const char *set, uint32_t id);
/* nft_report.c: at rule ri of chain ci, statement stmt (STMT_VERDICT: its
 * verdict, STMT_NONE: no statement), and the policy rule it stands for */
int nftb_rule_fail(struct nft_batch *b, uint32_t ci, uint32_t ri, uint32_t stmt,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* nft_rule.c */
int nftb_put_rule(struct nft_batch *b, uint32_t ci, uint32_t ri);

#endif
