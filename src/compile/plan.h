/* plan: what sagate wants the kernel to hold, before any netlink.
 *
 * compile.c builds it from the classes, plan_print.c renders it as an
 * `nft -f` script, and the apply stage turns it into libnftnl objects.
 * One table, "inet sagate"; the statement vocabulary below is the whole
 * set of things sagate ever asks of nftables.
 */
#ifndef SAGATE_PLAN_H
#define SAGATE_PLAN_H

#include "addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLAN_TABLE "sagate"
#define PLAN_CT_MARK_IPSEC 0x80000000u	/**< conntrack mark bit: flow admitted under require-ipsec */
/** The set of (conntrack mark . reqid) pairs that bind require-ipsec flows
 *  to the SA binding they were admitted with (see compile.h). */
#define PLAN_BOUND_SET "ipsec_bound"
/** Its keys: ct mark . reqid, 4 bytes each in host order (as the ct and
 *  xfrm expressions load them). */
#define PLAN_BOUND_KEY_LEN 8
/** The sets of cleartext attempts on inbound require-ipsec classes, by
 *  source, protocol and port (IPv4, IPv6): filled by the packet path,
 *  each element with a counter, kept PLAN_ATTEMPTS_TIMEOUT seconds after
 *  its last packet; at most PLAN_ATTEMPTS_SIZE sources and ports each. */
#define PLAN_ATTEMPTS4 "cleartext4"
#define PLAN_ATTEMPTS6 "cleartext6"
#define PLAN_ATTEMPTS_TIMEOUT 86400
#define PLAN_ATTEMPTS_SIZE 4096
/** At most this many sources in a rule's meter set (limit_N_4 / _6): a
 *  source the full set has no room for is not limited. */
#define PLAN_METER_SIZE 65536

/** A field of a set key, in packet terms. */
enum plan_field {
	PF_SADDR4, PF_DADDR4, PF_SADDR6, PF_DADDR6, PF_L4PROTO, PF_DPORT,
	PF_ICMP_TYPE,		/**< icmp type: the first byte of an ICMP header */
	PF_ICMPV6_TYPE,		/**< icmpv6 type: the same byte of an ICMPv6 header */
	PF_IIFNAME,		/**< meta iifname: 16 bytes, the name NUL-padded */
	PF_OIFNAME,		/**< meta oifname */
};

/** An interface name as a key value: its 16 bytes, NUL-padded, big-endian
 *  (so that a key lays the name out in order). */
u128 plan_ifname_value(const char *name);
/** The name of such a value, into buf (at least 17 bytes). */
void plan_ifname_text(char *buf, u128 v);

/** Bytes a field takes in a packet (and in an nf_tables key before
 *  padding): 4 / 16 for addresses, 1 for the protocol, 2 for a port. */
size_t plan_field_len(enum plan_field f);

/** What a set element or a rule ends with. */
enum plan_verdict_kind {
	PV_NONE,	/**< rule continues */
	PV_ACCEPT,
	PV_DROP,
	PV_GOTO,	/**< goto chain */
	PV_JUMP,	/**< jump chain */
	PV_QUEUE,	/**< queue num N (N-M fanout), never bypass: fail closed */
};

struct plan_verdict {
	enum plan_verdict_kind kind;
	const char *chain;	/**< for GOTO / JUMP; a plan_strdup'ed name */
	uint16_t queue;		/**< for QUEUE: the first queue */
	uint16_t queues;	/**< for QUEUE: queues from queue on (0 or 1: one;
				     more: spread by the kernel's per-CPU fanout) */
};

/** One element: a box in key space; every field is an interval. */
struct plan_elem {
	u128 lo[4], hi[4];	/**< per key field */
	struct plan_verdict verdict;
	uint32_t rule;		/**< policy rule index, for comments and counters;
				     PLAN_NO_RULE: part of the layout, not of a rule */
};

#define PLAN_NO_RULE UINT32_MAX

/** A set or verdict map. */
struct plan_set {
	char name[32];
	enum plan_field fields[4];
	size_t nfields;
	bool interval;		/**< false: exact-match hash */
	bool counter;		/**< per-element counters */
	bool binding;		/**< the PLAN_BOUND_SET: typeof ct mark . ipsec in
				     reqid, filled by the packet path */
	bool attempts;		/**< a PLAN_ATTEMPTS set: no verdicts, a
				     timeout and element counters; filled by
				     the packet path */
	bool meter;		/**< a rule's per-source limit (limit_N_4 /
				     limit_N_6): keyed by source address, no
				     verdicts, flags dynamic,timeout; each
				     element holds a limit of rate per unit
				     seconds, burst, and goes timeout seconds
				     after its source's last new flow */
	uint32_t rate, unit, burst, timeout;	/**< a meter's */
	struct plan_elem *elems;
	size_t nelems, cap;
};

/** Statement kinds, each a small piece of a rule. */
enum plan_stmt_kind {
	PS_IIF_LO,		/**< meta iif "lo" */
	PS_OIF_LO,		/**< meta oif "lo" */
	PS_CT_STATE,		/**< ct state in mask (arg: PLAN_CT_*) */
	PS_CT_MARK_SET_BIT,	/**< ct mark & arg == arg (a match) */
	PS_SECPATH_MISSING,	/**< meta ipsec missing: not decrypted here */
	PS_RT_IPSEC_MISSING,	/**< rt ipsec missing: route will not transform */
	PS_IPSEC_REQID_NE,	/**< ipsec in reqid != arg */
	PS_ICMPV6_ND,		/**< icmpv6 neighbour / router discovery */
	PS_L4PROTO_PORTS,	/**< meta l4proto { tcp, udp, sctp }: protocols with ports */
	PS_L4PROTO_IS,		/**< meta l4proto arg (icmp or ipv6-icmp: the guard
				     of a df_icmp map's lookup) */
	PS_VMAP,		/**< key fields of set str: vmap @str */
	PS_COUNTER,
	PS_LIMIT,		/**< limit rate over arg/unit burst burst packets: the
				     lines a log chain may not write (its rule counts them) */
	PS_LOG,			/**< log group arg prefix str: to nflog, for `sagate log` */
	PS_CT_MARK_OR,		/**< ct mark set ct mark | arg */
	PS_PRIORITY_SET_SPI,	/**< meta priority set ipsec in spi (libnftnl only):
				 *   the SPI reaches sagated as NFQA_PRIORITY; the
				 *   packet mark is not sagate's to use */
	PS_CT_MARK_SET_REQID,	/**< ct mark set ipsec in|out reqid (libnftnl only;
				     arg: PLAN_DIR_OUT for out) */
	PS_BIND_ADD,		/**< add @ipsec_bound { ct mark . ipsec in|out reqid } */
	PS_BIND_MISSING,	/**< ct mark . ipsec in reqid != @ipsec_bound */
	PS_ATTEMPT_UPDATE,	/**< update @str { its key fields } (refreshes the
				     timeout, counts the packet) */
	PS_METER_OVER,		/**< update @str { its key limit rate over ... }:
				     the source is past its meter set's limit */
	PS_CT_DIRECTION,	/**< ct direction original (arg 0) / reply (arg
				     PLAN_CT_REPLY): which way of its flow a packet goes */
};

#define PLAN_CT_REPLY 1	/**< arg of PS_CT_DIRECTION: the kernel's IP_CT_DIR_REPLY */

#define PLAN_DIR_OUT 0x1	/**< arg of the ipsec statements: the outbound SA */

#define PLAN_CT_INVALID 0x1
#define PLAN_CT_ESTABLISHED 0x2
#define PLAN_CT_RELATED 0x4
#define PLAN_CT_NEW 0x8

struct plan_stmt {
	enum plan_stmt_kind kind;
	uint32_t arg;
	uint32_t unit, burst;	/**< PS_LIMIT's: seconds, packets */
	const char *str;	/**< log prefix, or the set name for PS_VMAP; owned by the plan */
};

/** A rule: statements, then a verdict. */
struct plan_rule {
	struct plan_stmt stmts[8];
	size_t nstmts;
	struct plan_verdict verdict;
	char *comment;		/**< owned; may be NULL */
};

/** Base chain hooks. */
enum plan_hook { PH_NONE, PH_INPUT, PH_OUTPUT, PH_FORWARD };

/** nft's name of a base chain hook ("input", "output", "forward"), NULL for PH_NONE. */
const char *plan_hook_name(enum plan_hook h);

struct plan_chain {
	char name[32];
	enum plan_hook hook;
	bool policy_drop;	/**< base chains: the direction's default */
	struct plan_rule *rules;
	size_t nrules, cap;
};

/** How require-ipsec flows are admitted. */
enum plan_mode {
	PLAN_ENGINE,		/**< new flows with a secpath go to sagated's queue */
	PLAN_KERNEL_ONLY,	/**< meta ipsec / ipsec in reqid alone */
};

struct plan {
	enum plan_mode mode;
	uint16_t queue;		/**< queue number in engine mode: the first */
	uint16_t queue_count;	/**< queues from queue on (1: one, no fanout) */
	char *comment;		/**< table comment: source file (plan_escape'd) and hash */
	struct plan_set *sets;
	size_t nsets, capsets;
	struct plan_chain *chains;
	size_t nchains, capchains;
	char **strings;		/**< owned strings referenced by statements */
	size_t nstrings, capstrings;
	size_t elems_needed;	/**< compiled under a limit (classes.max_elements)
				     and over it: the elements the policy needs (the
				     sets hold only the first max_elements); else 0 */
};

struct plan *plan_alloc(enum plan_mode mode);
void plan_free(struct plan *p);

/** Add an empty set / chain; NULL on OOM.  Pointers stay valid until the
 *  next add of the same kind; plan_finish freezes them. */
struct plan_set *plan_add_set(struct plan *p, const char *name);
struct plan_chain *plan_add_chain(struct plan *p, const char *name, enum plan_hook hook);
/** The chain / set of that name; NULL when the plan has none.  The
 *  _named forms look into a plan that is only read. */
const struct plan_chain *plan_chain_named(const struct plan *p, const char *name);
const struct plan_set *plan_set_named(const struct plan *p, const char *name);
struct plan_chain *plan_find_chain(struct plan *p, const char *name);
struct plan_set *plan_find_set(struct plan *p, const char *name);
/** Append a rule to a chain; NULL on OOM. */
struct plan_rule *plan_add_rule(struct plan_chain *c, const char *comment);
int plan_add_elem(struct plan_set *s, const struct plan_elem *e);
/** Keep a copy of a string for the plan's lifetime; NULL on OOM. */
const char *plan_strdup(struct plan *p, const char *s);

/** s as text for an nft script's "..." string or # comment: a backslash
 *  becomes \\, a double quote \x22, a newline \n, a tab \t, any other
 *  control character \xHH; other bytes stay.  nft's strings have no
 *  escapes (a quote ends one; a newline ends a comment and starts a
 *  command), so a string from outside (the source path) reaches a plan or
 *  a script only through this, and what the kernel holds (apply), what
 *  `nft -f` loads and what a listing shows are the same text.  Writes
 *  whole escapes only, at most len - 1 bytes and a NUL (len > 0); returns
 *  the bytes written.  PLAN_ESCAPE_MAX(n) bytes hold any n-byte string. */
size_t plan_escape(char *buf, size_t len, const char *s);
#define PLAN_ESCAPE_MAX(n) (4 * (n) + 1)

/** Kernel rules in the plan (the number that must not grow with policy rules). */
size_t plan_rule_count(const struct plan *p);
size_t plan_elem_count(const struct plan *p);

/** Read a PLAN_BOUND_SET key into *mark and *reqid; true when it is a pair
 *  the kernel makes (mark = reqid | PLAN_CT_MARK_IPSEC).  Any other pair
 *  would let a flow move to an SA it was not admitted through. */
bool plan_bound_key_is_kernels(const uint8_t *key, uint32_t *mark, uint32_t *reqid);

#endif
