/* model: a policy after parsing, independent of JSON and of nftables.
 *
 * Every rule's match is normalised into sorted, merged intervals:
 * peer and local addresses (per family) and "service keys".  A service
 * key flattens protocol and port into one 24-bit number,
 * (protocol << 16) | port, so protocols without ports cover all 65536
 * keys of their protocol and "any protocol" is [0, 0xffffff].  The
 * classifier then works on three interval dimensions.
 */
#ifndef SAGATE_MODEL_H
#define SAGATE_MODEL_H

#include "addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** What a rule does with the packets it matches. */
enum action {
	ACT_PERMIT,
	ACT_BLOCK,
	ACT_REQUIRE_IPSEC,	/**< permit only when carried by a suitable SA */
};

/** Which way a flow goes, seen from this host. */
enum direction {
	DIR_IN,		/**< peer is the source, local port is the destination port */
	DIR_OUT,	/**< peer is the destination, port is the peer's port */
	DIR_FWD,	/**< routed through this host: peer is the source ("from"),
			     local the destination ("to"), port the destination port */
	DIR_COUNT
};

#define KEY_MAX 0xffffffu	/**< largest service key */
#define KEY(proto, port) (((uint32_t)(proto) << 16) | (uint32_t)(port))
#define KEY_PROTO(k) ((uint8_t)((k) >> 16))
#define KEY_PORT(k) ((uint16_t)((k) & 0xffff))

/** Number of a protocol the policy language names ("tcp": 6), or -1. */
int model_proto_number(const char *name);
/** The language's name of a protocol number, or NULL when it has none. */
const char *model_proto_name(unsigned proto);

/** A closed interval of service keys. */
struct key_range {
	uint32_t lo, hi;
};

/** IPsec protection a require-ipsec rule asks for. */
enum ipsec_encryption {
	ENC_REQUIRED,		/**< the SA must encrypt (default) */
	ENC_INTEGRITY_OK,	/**< integrity-only SAs (AH, ESP-NULL) are enough */
};

/** Which SA mode may carry the traffic. */
enum ipsec_mode {
	MODE_ANY,		/**< transport, or tunnel through a listed gateway */
	MODE_TRANSPORT,
	MODE_TUNNEL,
};

/** Transforms an SA may use, as a bit mask (see model_alg_names). */
enum ipsec_alg {
	ALG_AES128GCM16 = 1u << 0,
	ALG_AES192GCM16 = 1u << 1,
	ALG_AES256GCM16 = 1u << 2,
	ALG_CHACHA20POLY1305 = 1u << 3,
	ALG_AES128 = 1u << 4,		/* CBC */
	ALG_AES192 = 1u << 5,
	ALG_AES256 = 1u << 6,
	ALG_AES128CTR = 1u << 7,
	ALG_AES256CTR = 1u << 8,
	ALG_SHA1 = 1u << 9,		/* HMAC integrity */
	ALG_SHA256 = 1u << 10,
	ALG_SHA384 = 1u << 11,
	ALG_SHA512 = 1u << 12,
	ALG_NULL = 1u << 13,		/* ESP-NULL: no encryption */
	ALG_COUNT_BITS = 14
};

/** Algorithms allowed when a rule names none: AEADs, AES CBC/CTR, SHA-2. */
#define ALG_DEFAULT_SET (ALG_AES128GCM16 | ALG_AES192GCM16 | ALG_AES256GCM16 | \
	ALG_CHACHA20POLY1305 | ALG_AES128 | ALG_AES192 | ALG_AES256 | \
	ALG_AES128CTR | ALG_AES256CTR | ALG_SHA256 | ALG_SHA384 | ALG_SHA512)

/** Name of one algorithm bit, or NULL. */
const char *model_alg_name(uint32_t bit);
/** Bit of a name, or 0 when unknown. */
uint32_t model_alg_from_name(const char *name);
/** The names of the bits of mask in bit order, e.g. "aes128gcm16, sha256".
 *  Writes at most len bytes (len > 0); a long list is cut short. */
void model_alg_list(char *buf, size_t len, uint32_t mask);

/** A list of address intervals, sorted and merged, both families mixed
 *  (all IPv4 intervals first). */
struct addr_set {
	struct addr_range *v;
	size_t n;
	bool any;	/**< written as "any" (absent) in the policy */
};

/** A tunnel gateway and the inner addresses it may vouch for. */
struct ipsec_gateway {
	struct addr_set gateway;	/**< outer SA peer addresses */
	struct addr_set inner;		/**< inner sources it may carry */
};

/** What an SA must be like to satisfy a require-ipsec rule. */
struct ipsec_req {
	enum ipsec_encryption encryption;
	uint32_t algorithms;		/**< mask of enum ipsec_alg */
	enum ipsec_mode mode;
	struct ipsec_gateway *gateways;
	size_t ngateways;
	bool has_reqid;
	uint32_t reqid;
};

/** A per-source limit on the new flows a permit rule admits ("limit"):
 *  each source may open rate flows per unit, and burst more at once;
 *  the flows past that are dropped.  rate 0: no limit. */
struct rule_limit {
	uint32_t rate;		/**< flows per unit, 1-1000000; 0: none */
	uint32_t unit;		/**< seconds: 1, 60, 3600 or 86400 */
	uint32_t burst;		/**< 1-1000000 */
};

/** Kinds of finding about a policy, shared by `sagate check` and
 *  `sagate audit` (compile/findings.c gives each its one severity).  A
 *  rule's "accept-findings" lists the names of the kinds it acknowledges. */
enum finding_kind {
	FIND_SHADOWED,		/**< never matches: earlier rules decide its packets alike */
	FIND_CONTRADICTION,	/**< never matches: an earlier rule decides its packets otherwise */
	FIND_REDUNDANT,		/**< removing it changes no decision */
	FIND_ICMP_FAMILY,	/**< ICMP of one family, peers all of the other */
	FIND_OPTIONS_UNCHECKED,	/**< outbound require-ipsec options the kernel cannot check */
	FIND_IPSEC_UNREACHABLE,	/**< require-ipsec peers whose ESP the policy drops */
	FIND_CLEARTEXT_WIDE,	/**< cleartext ports permitted to a wide range */
	FIND_KERNEL_ONLY,	/**< policy-level: kernel-only mode checks less */
	FIND_KIND_COUNT
};

/** Name of a finding kind ("shadowed"). */
const char *model_finding_name(enum finding_kind k);
/** The kind of a name, or -1. */
int model_finding_from_name(const char *name);

/** One policy rule, in file order. */
struct rule {
	char *name;
	char *file;		/**< file it was written in */
	char *path;		/**< its JSON path there, "rules[3]" */
	enum action action;
	enum direction dir;
	struct addr_set peers;	/**< remote side */
	struct addr_set local;	/**< this host's addresses it applies to */
	struct key_range *keys;	/**< protocol / port, sorted and merged */
	size_t nkeys;
	struct ipsec_req ipsec;	/**< meaningful for ACT_REQUIRE_IPSEC only */
	bool log;
	struct rule_limit limit;	/**< "limit": permit rules, in and forward */
	char **ifaces;		/**< "interfaces": the interface names it applies to
				     (in and forward: the one a packet arrives on;
				     out: leaves by), sorted, unique; none: every one */
	size_t nifaces;
	char *comment;		/**< may be NULL */
	uint32_t accepted;	/**< 1 << enum finding_kind, per kind its "accept-findings" lists */
};

/** A named host group ("hosts" in the policy file or an include).  Rules
 *  hold their groups' addresses, not their names: this is for readers
 *  that need the names (the audit's family-counterpart finding). */
struct host_group {
	char *name;
	struct addr_set set;	/**< its addresses, nested groups expanded */
};

/** Kernel set elements a policy may compile to when its "max-elements"
 *  does not say: a million apply in 7-11 s, with some 350 MB for sagate
 *  and up to 600 MB in the kernel (sagate.json(5)). */
#define POLICY_DEFAULT_MAX_ELEMENTS 1000000

/** A whole policy: what the parser produces and everything else reads. */
struct policy {
	char *file;		/**< top-level file as named by the user */
	char *description;	/**< may be NULL */
	enum action defaults[DIR_COUNT];	/**< ACT_PERMIT or ACT_BLOCK */
	bool forward_covered;	/**< forwarded traffic is filtered (a forward chain is
				     compiled): the policy has forward rules or sets
				     defaults.forward; else the host forwards as it would
				     without sagate, as before forward rules existed */
	struct rule *rules;
	size_t nrules;
	char sha256[65];	/**< hex SHA-256 over the digests of the policy file and
				     every file it includes, in reading order */
	char *text;		/**< the bytes of the policy file when it includes
				     nothing (so apply can record it as it is),
				     else NULL */
	size_t text_len;
	struct host_group *groups;	/**< every host group defined, used or not, in
					     reading order: the policy file's, then each
					     include's, depth first; a bundle keeps them
					     (one written before bundles did has none) */
	size_t ngroups;
	size_t max_elements;	/**< most kernel set elements it may compile to
				     ("max-elements"; the parser sets it); 0: no limit */
};

struct policy *policy_alloc(void);
void policy_free(struct policy *p);

void addr_set_fini(struct addr_set *s);
/** Sort and merge overlapping / adjacent intervals.  Returns 0 or -1 (OOM). */
int addr_set_normalize(struct addr_set *s);
/** Do two sets hold the same intervals (both normalised)? */
bool addr_set_equal(const struct addr_set *a, const struct addr_set *b);
/** Does rule r apply to packets on interface name (NULL: on one no rule
 *  names)? */
bool rule_on_iface(const struct rule *r, const char *name);
/** Does the set hold this address? */
bool addr_set_contains(const struct addr_set *s, enum addr_family fam, u128 a);

/** Sort and merge key ranges in place; returns the new count. */
size_t key_ranges_normalize(struct key_range *k, size_t n);

const char *action_name(enum action a);
const char *direction_name(enum direction d);
const char *mode_name(enum ipsec_mode m);

/** Do two rules decide the same way (action, IPsec requirement, logging,
 *  per-source limit)?
 *  Used to find redundant rules. */
bool rule_same_decision(const struct rule *a, const struct rule *b);

#endif
