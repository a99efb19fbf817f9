/* xfrm: IPsec SAs as the kernel's XFRM netlink messages describe them, and
 * a cache of them keyed like the kernel's SA database.
 *
 * Parsing (xfrm.c) and the cache (xfrm_cache.c) are pure: no socket
 * here.  Messages come from the dump (XFRM_MSG_GETSA with NLM_F_DUMP
 * answers NEWSA) and the multicast groups XFRMNLGRP_SA (NEWSA / UPDSA /
 * DELSA / FLUSHSA) and XFRMNLGRP_EXPIRE (EXPIRE).  Everything in a
 * message is distrusted: every attribute's length is checked before it
 * is read, unknown attributes are skipped, and a message that is
 * truncated or contradicts itself is rejected with a reason: an error
 * added to a diagnostics list (file "xfrm"), whose message a caller may
 * word its own way (diag_last).
 *
 * Key material is never copied out of a message.
 */
#ifndef SAGATE_XFRM_H
#define SAGATE_XFRM_H

#include "addr.h"
#include "diag.h"

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** IP protocol numbers of the SA kinds that matter here. */
#define XFRM_PROTO_ESP 50
#define XFRM_PROTO_AH 51
#define XFRM_PROTO_COMP 108

/** XFRMA_SA_DIR values. */
#define XFRM_SA_IN 1
#define XFRM_SA_OUT 2

/** Encapsulation mode of an SA. */
enum xfrm_sa_mode {
	XFRM_SA_TRANSPORT,	/**< XFRM_MODE_TRANSPORT */
	XFRM_SA_TUNNEL,		/**< XFRM_MODE_TUNNEL */
	XFRM_SA_OTHER,		/**< BEET, route optimisation, ...: never satisfies a rule */
};

/** One transform (AEAD, cipher or integrity algorithm) of an SA. */
struct xfrm_alg {
	bool present;
	char name[64];		/**< the kernel's name, "rfc4106(gcm(aes))" */
	uint32_t key_bits;	/**< as the kernel counts it: with salt / nonce */
	uint32_t icv_bits;	/**< AEAD ICV or integrity truncation; 0 for ciphers */
	uint32_t bit;		/**< its enum ipsec_alg bit, or 0: allowed by no rule */
};

/** Which transform attribute an algorithm came in (see xfrm_alg_bit). */
enum xfrm_alg_kind {
	XFRM_ALG_AEAD,		/**< XFRMA_ALG_AEAD */
	XFRM_ALG_CRYPT,		/**< XFRMA_ALG_CRYPT */
	XFRM_ALG_AUTH,		/**< XFRMA_ALG_AUTH_TRUNC (or XFRMA_ALG_AUTH) */
};

/** The SA's traffic selector (all zero / unset: any traffic). */
struct xfrm_sel {
	bool set;		/**< family was AF_INET / AF_INET6, not AF_UNSPEC */
	enum addr_family fam;
	u128 saddr, daddr;	/**< host order, like addr.h */
	uint8_t plen_s, plen_d;
	uint8_t proto;		/**< 0: any */
	uint16_t sport, sport_mask, dport, dport_mask;	/**< host order; ICMP: type / code */
	int32_t ifindex;	/**< 0: any */
};

/** Lifetime limits and use, as the kernel reports them. */
struct xfrm_life {
	uint64_t add_time;	/**< seconds since the epoch the SA was added */
	uint64_t use_time;	/**< first use, seconds since the epoch; 0: unused */
	uint64_t bytes, packets;	/**< counters when the message was built */
	uint64_t soft_add, hard_add;	/**< seconds after add_time; 0: none */
	uint64_t soft_use, hard_use;	/**< seconds after use_time; 0: none */
	uint64_t soft_bytes, hard_bytes;	/**< XFRM_INF (~0): none */
	uint64_t soft_packets, hard_packets;
};

/** One SA.  Addresses are host-order integers (addr.h); fam is the outer
 *  family, which in tunnel mode may differ from the packets it carries. */
struct xfrm_sa {
	enum addr_family fam;
	u128 saddr, daddr;	/**< outer source (the peer for inbound SAs) and destination */
	uint32_t spi;		/**< host order; see xfrm_sa_handover */
	uint8_t proto;		/**< XFRM_PROTO_ESP, _AH, or another protocol */
	enum xfrm_sa_mode mode;
	uint8_t kmode;		/**< the kernel's XFRM_MODE_* value */
	uint32_t reqid;
	uint32_t mark_v, mark_m;	/**< XFRMA_MARK: part of the kernel's SA key */
	uint32_t if_id;		/**< XFRMA_IF_ID, 0: none */
	uint8_t flags;		/**< XFRM_STATE_* */
	uint8_t dir;		/**< XFRMA_SA_DIR (Linux 6.10+): 1 in, 2 out, 0 not said */
	bool encap;		/**< UDP encapsulation (NAT traversal) */
	bool comp;		/**< an XFRMA_ALG_COMP was present (IPComp) */
	struct xfrm_alg aead, crypt, auth;
	struct xfrm_life life;
	struct xfrm_sel sel;
	bool key_only;		/**< a DELSA without XFRMA_SA: only the key fields are set */
	bool dying;		/**< the kernel reported a soft expiry (rekey due) */
	bool expired;		/**< the kernel reported a hard expiry: the SA is gone */
	uint64_t expired_at;	/**< when the cache learnt of the hard expiry */
};

/** What sagate's ruleset hands sagated for a packet this SA carried (in
 *  skb->priority, reported as NFQA_PRIORITY): the SPI as the kernel
 *  stores it, network byte order, read as a host u32. */
uint32_t xfrm_sa_handover(const struct xfrm_sa *sa);
/** The SPI (host order) a handed-over value carries; 0: none. */
uint32_t xfrm_spi_from_handover(uint32_t mark);

/** Our bit for a kernel algorithm, or 0 when no rule may allow it.
 *
 *  AEAD: rfc4106(gcm(aes)) with 160/224/288 key bits (the key includes a
 *  32-bit salt) and a 128-bit ICV -> aes128gcm16 / aes192gcm16 /
 *  aes256gcm16; other ICV sizes (the 8- and 12-octet variants) -> 0;
 *  rfc7539esp(chacha20,poly1305) with 288 bits and ICV 128 ->
 *  chacha20poly1305.  rfc4543(gcm(aes)) (AES-GMAC) is integrity only and
 *  has no bit.
 *  Cipher: cbc(aes) 128/192/256 -> aes128 / aes192 / aes256;
 *  rfc3686(ctr(aes)) 160/288 (key includes a 32-bit nonce) -> aes128ctr /
 *  aes256ctr (192-bit CTR has no bit); ecb(cipher_null) -> null.
 *  Integrity: hmac(sha1) truncated to 96 bits -> sha1, hmac(sha256) to
 *  128 -> sha256 (RFC 4868; the kernel's legacy 96-bit SHA-256 is not
 *  sha256 and has no bit), hmac(sha384) to 192 -> sha384, hmac(sha512)
 *  to 256 -> sha512.  Untruncated or otherwise truncated HMACs have no bit.
 *  Only the kernel's canonical names count (it reports no aliases). */
uint32_t xfrm_alg_bit(enum xfrm_alg_kind kind, const char *name,
		      uint32_t key_bits, uint32_t icv_bits);

/** Does the SA encrypt?  ESP with an AEAD other than GMAC, or with a cipher
 *  other than ecb(cipher_null).  AH never does. */
bool xfrm_sa_encrypts(const struct xfrm_sa *sa);
/** Is the SA past its hard lifetime at now (reported, or by its time limits)? */
bool xfrm_sa_expired(const struct xfrm_sa *sa, uint64_t now);
/** Is the SA past its soft lifetime at now (reported, or by its time limits)? */
bool xfrm_sa_dying(const struct xfrm_sa *sa, uint64_t now);

const char *xfrm_mode_name(enum xfrm_sa_mode m);
const char *xfrm_proto_name(uint8_t proto);

/** Parse XFRM_MSG_NEWSA, UPDSA (struct xfrm_usersa_info + attributes) or
 *  DELSA (struct xfrm_usersa_id, then the SA in XFRMA_SA, then
 *  attributes).  nlh must hold nlh->nlmsg_len readable bytes (as
 *  mnl_nlmsg_ok checked).  Returns 0, or -1 with the reason in d. */
int xfrm_parse_sa(const struct nlmsghdr *nlh, struct xfrm_sa *out,
		  struct diag_list *d);

/** Parse XFRM_MSG_EXPIRE (struct xfrm_user_expire + XFRMA_MARK /
 *  XFRMA_IF_ID).  out gets the SA as the message states it (no
 *  algorithms: the message has none), *hard the kind of expiry.
 *  Returns 0, or -1 with the reason in d. */
int xfrm_parse_expire(const struct nlmsghdr *nlh, struct xfrm_sa *out,
		      bool *hard, struct diag_list *d);

/** Parse XFRM_MSG_FLUSHSA: the protocol flushed (IPSEC_PROTO_ANY = 255:
 *  ESP, AH and IPComp).  Returns 0, or -1 with the reason in d. */
int xfrm_parse_flush(const struct nlmsghdr *nlh, uint8_t *proto,
		     struct diag_list *d);

/** SAs keyed as the kernel keys them: (SPI, protocol, family, destination,
 *  mark).  Opaque. */
struct xfrm_cache;

struct xfrm_cache *xfrm_cache_alloc(void);
void xfrm_cache_free(struct xfrm_cache *c);

/** Number of SAs held (hard-expired ones not yet swept included). */
size_t xfrm_cache_count(const struct xfrm_cache *c);

/** Add an SA or replace the one with its key (NEWSA, UPDSA).  A
 *  replacement clears dying / expired, as the kernel's update does.
 *  Returns 0, or -1 on OOM (the cache is unchanged). */
int xfrm_cache_put(struct xfrm_cache *c, const struct xfrm_sa *sa);

/** Remove the SA with sa's key (DELSA).  Returns whether there was one. */
bool xfrm_cache_del(struct xfrm_cache *c, const struct xfrm_sa *sa);

/** Record an expiry of the SA with sa's key (EXPIRE): soft marks it dying,
 *  hard marks it expired at now (the kernel deletes it without a DELSA;
 *  the record stays as a tombstone until xfrm_cache_sweep, so that
 *  packets still queued get "expired", not "unknown").  Returns whether
 *  the SA was known. */
bool xfrm_cache_expire(struct xfrm_cache *c, const struct xfrm_sa *sa,
		       bool hard, uint64_t now);

/** Remove every SA of proto (FLUSHSA; 255 = ESP, AH and IPComp).
 *  Returns how many. */
size_t xfrm_cache_flush(struct xfrm_cache *c, uint8_t proto);

/** Remove hard-expired SAs that expired keep seconds or more before now.
 *  Returns how many. */
size_t xfrm_cache_sweep(struct xfrm_cache *c, uint64_t now, uint64_t keep);

/** The SA with exactly sa's key, or NULL. */
const struct xfrm_sa *xfrm_cache_find(const struct xfrm_cache *c,
				      const struct xfrm_sa *key);

/** The SA an inbound packet with SPI spi (host order) arrived through,
 *  given the packet's (inner) destination.  SAs of that SPI whose
 *  destination is dst come first (transport mode, or a tunnel ending on
 *  the same address); failing those, tunnel-mode SAs of that SPI, whose
 *  outer destination the inner packet does not show.  SAs the kernel
 *  says are outbound (XFRMA_SA_DIR) never match.  Returns how many
 *  SAs tie at the first level that has any: 1 sets *out; 0 (unknown) and
 *  more than 1 (ambiguous: several protocols or marks share the SPI) set
 *  *out to NULL.  *out stays valid until the cache next changes. */
size_t xfrm_cache_lookup(const struct xfrm_cache *c, uint32_t spi,
			 enum addr_family fam, u128 dst,
			 const struct xfrm_sa **out);

/** Call fn for every SA (in no particular order). */
void xfrm_cache_foreach(const struct xfrm_cache *c,
			void (*fn)(const struct xfrm_sa *, void *), void *arg);

/** Remove every SA of SPI spi (host order), whatever its other key
 *  fields.  Returns how many. */
size_t xfrm_cache_del_spi(struct xfrm_cache *c, uint32_t spi);

/** xfrm_cache_apply: the SA of an UPDSA was removed; ask the kernel for
 *  it (xfrm_getsa_request) to learn what it really holds. */
#define XFRM_APPLY_CONFIRM 2

/** Apply one message from the dump or the multicast groups: NEWSA put
 *  (the entry of its key replaced whole, never merged), DELSA delete,
 *  EXPIRE expire, FLUSHSA flush; other types are ignored.  UPDSA removes
 *  the entry of its key and returns XFRM_APPLY_CONFIRM: the kernel
 *  announces an update as requested, but keeps a valid SA's transforms
 *  and mode, so the message is not the SA.  Returns 1 when the cache
 *  changed, 0 when not, -1 on a malformed message or OOM (the reason in
 *  d): then no entry of the SPI the message names (when it is long
 *  enough to name one) is left, and nothing else changed. */
int xfrm_cache_apply(struct xfrm_cache *c, const struct nlmsghdr *nlh,
		     uint64_t now, struct diag_list *d);

/** Build an XFRM_MSG_GETSA request (not a dump) for the SA with key's
 *  key (SPI, protocol, family, destination, mark) into buf.  Returns its
 *  length, or 0 when len is too small (about 64 bytes suffice). */
size_t xfrm_getsa_request(void *buf, size_t len, const struct xfrm_sa *key, uint32_t seq);

#endif
