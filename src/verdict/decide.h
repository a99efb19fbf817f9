/* decide: the verdict for one packet queued by the kernel.
 *
 * The ruleset queues new inbound flows of require-ipsec classes that
 * arrived with a secpath, skb->priority set to the SPI of the SA that
 * carried them (network byte order, see xfrm_sa_handover); the packet
 * mark is left alone.  decide() re-derives
 * the packet's class from its headers, finds that SA in the XFRM cache and
 * checks it against the deciding rule's IPsec requirement.
 *
 * Exactly one verdict per packet; every path that is not a full match is
 * a drop with a reason.  Nothing here allocates, prints or blocks.
 */
#ifndef SAGATE_DECIDE_H
#define SAGATE_DECIDE_H

#include "classify.h"
#include "model.h"
#include "sa_ident.h"
#include "xfrm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Why a packet was accepted or dropped. */
enum decide_reason {
	DECIDE_ACCEPT_OK,		/**< the SA satisfies the rule */
	DECIDE_DROP_TRUNCATED,		/**< the copied bytes end before the headers we need */
	DECIDE_DROP_MALFORMED,		/**< bad version or lengths, an extension header chain
					     that cannot be walked, a fragment other than the
					     first, or a first fragment without its transport
					     header */
	DECIDE_DROP_NO_RULE,		/**< the packet's class is not require-ipsec (or has no rule) */
	DECIDE_DROP_NO_SPI,		/**< priority 0: no SA was handed over */
	DECIDE_DROP_SA_UNKNOWN,		/**< no SA with that SPI in the cache */
	DECIDE_DROP_SA_AMBIGUOUS,	/**< several SAs share the SPI (protocols, marks): cannot tell */
	DECIDE_DROP_SA_EXPIRED,		/**< hard-expired, or dying (soft-expired, rekey due) */
	DECIDE_DROP_SA_PEER,		/**< transport: SA source is not the packet source / not a peer */
	DECIDE_DROP_TUNNEL_GATEWAY,	/**< tunnel: SA source is no listed gateway vouching for
					     the packet source */
	DECIDE_DROP_MODE,		/**< SA mode not allowed by the rule */
	DECIDE_DROP_SELECTOR,		/**< the packet lies outside the SA's own selector */
	DECIDE_DROP_NOT_ENCRYPTED,	/**< AH, ESP-null or GMAC where the rule requires encryption */
	DECIDE_DROP_ALGORITHM,		/**< a transform (or a missing one) not in the rule's list */
	DECIDE_DROP_REQID,		/**< the rule pins a reqid the SA does not have */
	DECIDE_DROP_NO_IDENTITY,	/**< the rule names identities, and no IKE identity is
					     known for the SA (no identity source, an SA set by
					     hand or by another daemon, an event lost) */
	DECIDE_DROP_IDENTITY,		/**< the SA's IKE identity is none the rule names */
	DECIDE_REASON_COUNT
};

/** Stable lower-case name of a reason, for logs ("drop-sa-peer"). */
const char *decide_reason_name(enum decide_reason r);

/** What the headers of a queued packet say. */
struct decide_pkt {
	struct packet_key key;	/**< DIR_IN (decide_dir: its dir); peer = source,
				     local = destination;
				     key = KEY(proto, dport) for tcp / udp / sctp,
				     KEY(proto, 0) otherwise */
	uint8_t proto;		/**< upper-layer protocol after extension headers */
	uint16_t sport, dport;	/**< ports, or ICMP type / code, as XFRM selectors see them */
	bool fragment;		/**< the first fragment of a fragmented packet */
	size_t l4off;		/**< offset of the transport header */
};

/** Parse the network and transport headers of a packet as NFQUEUE
 *  delivers it (network header first, only headers copied).  IPv6
 *  extension headers (hop-by-hop, routing, destination options,
 *  fragment, AH, as nft's own protocol lookup skips them) are walked
 *  with bounds checks.  Needed: the IP header(s) and the fixed transport
 *  header (tcp 20, udp 8, sctp 12, dccp 12, udplite 8, icmp 8, icmpv6 4
 *  bytes; nothing for other protocols).  Returns DECIDE_ACCEPT_OK,
 *  DECIDE_DROP_TRUNCATED or DECIDE_DROP_MALFORMED. */
enum decide_reason decide_parse(const void *data, size_t len, struct decide_pkt *out);

/** Finds the rule deciding a packet key, or CLASS_NONE. */
typedef uint32_t (*decide_lookup_fn)(const void *index, const struct packet_key *k);

/** Everything a verdict depends on besides the packet.  The policy, the
 *  classes and the index must describe the ruleset that queued the
 *  packet. */
struct decide_ctx {
	const struct policy *policy;
	const struct classes *classes;	/**< used by the default lookup */
	decide_lookup_fn lookup;	/**< NULL: classify_lookup(classes, k) */
	const void *index;		/**< first argument of lookup */
	const struct xfrm_cache *sas;
	bool admit_dying;		/**< let soft-expired SAs admit new flows */
	sa_ident_lookup_fn ident_lookup;	/**< who the peer of an SA is; NULL: no
						     identity source, rules that name
						     identities drop (fail closed) */
	void *ident_ctx;		/**< first argument of ident_lookup */
};

/** One verdict. */
struct verdict {
	bool accept;
	enum decide_reason reason;
	uint32_t rule;			/**< deciding rule, or CLASS_NONE when none was found */
	const struct xfrm_sa *sa;	/**< the SA checked, or NULL; valid until the cache changes */
	const struct sa_ident *ident;	/**< the SA's IKE identity, when the rule names
					     identities and one is known; the provider's */
	uint32_t spi;			/**< SPI handed over, host order (0: none) */
	struct decide_pkt pkt;		/**< the parsed headers (valid unless truncated / malformed) */
};

/** The rule that decides k, through ctx's lookup. */
uint32_t decide_rule_lookup(const struct decide_ctx *ctx, const struct packet_key *k);

/** Does the SA's selector admit the packet (kernel semantics; ifindex is
 *  not checked here)?  An unset selector admits everything. */
bool decide_selector_match(const struct xfrm_sel *sel, const struct decide_pkt *p);

/** Which of rule r's identities id satisfies: its index, or -1 (also
 *  when id is NULL or r names none). */
long decide_ident_match(const struct rule *r, const struct sa_ident *id);

/** The identity ctx's source knows for sa, or NULL. */
const struct sa_ident *decide_ident_of(const struct decide_ctx *ctx, const struct xfrm_sa *sa);

/** The checks decide() runs once it has the rule and the SA, in its
 *  order: lifetime, mode and origin (peer / gateway), selector,
 *  encryption, algorithms, reqid, and last the IKE identity when the
 *  rule names identities.  For the admin commands (explain, sa),
 *  which ask "would this SA satisfy this rule for this packet". */
enum decide_reason decide_check_sa(const struct decide_ctx *ctx, const struct rule *r,
				   const struct xfrm_sa *sa, const struct decide_pkt *p,
				   uint64_t now);

/** The verdict for one queued packet: data / len as copied by NFQUEUE,
 *  mark what the ruleset handed over in skb->priority (the SPI, network
 *  byte order, as skb->priority holds it), now in seconds since the
 *  epoch. */
struct verdict decide(const struct decide_ctx *ctx, const void *data, size_t len,
		      uint32_t mark, uint64_t now);

/** decide() for a packet the kernel queued from the hook of direction
 *  dir: DIR_IN (input; what decide() assumes) or DIR_FWD (forward: a flow
 *  routed through this host, judged by the forward rules; peer = source,
 *  local = destination, as for DIR_IN). */
struct verdict decide_dir(const struct decide_ctx *ctx, enum direction dir, const void *data,
			  size_t len, uint32_t mark, uint64_t now);

#endif
