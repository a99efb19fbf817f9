/* xfrm_policy: IPsec security policies (the SPD) as XFRM netlink
 * describes them, for audit: which traffic must be protected, by which
 * transforms, and whether a protection is only optional ("level use").
 *
 * Pure parsing, like xfrm.c: every length is checked, unknown
 * attributes are skipped, a truncated message is rejected with a reason
 * (an error in a diagnostics list).
 */
#ifndef SAGATE_XFRM_POLICY_H
#define SAGATE_XFRM_POLICY_H

#include "xfrm.h"

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XFRM_SPD_MAX_TMPL 6	/**< templates kept per policy (the kernel allows 6) */

/** Direction of an SPD entry (the kernel's XFRM_POLICY_IN / OUT / FWD). */
enum xfrm_spd_dir { XFRM_SPD_IN = 0, XFRM_SPD_OUT = 1, XFRM_SPD_FWD = 2 };

/** One template: a transform the traffic must (or may) go through. */
struct xfrm_spd_tmpl {
	uint8_t proto;		/**< XFRM_PROTO_ESP, _AH, _COMP */
	enum xfrm_sa_mode mode;
	uint32_t reqid;
	bool optional;		/**< "level use": traffic without the SA passes too */
	enum addr_family fam;	/**< outer family (tunnel endpoints) */
	u128 saddr, daddr;	/**< tunnel endpoints; zero in transport mode */
};

/** One SPD entry. */
struct xfrm_spd {
	struct xfrm_sel sel;	/**< the traffic it covers */
	uint8_t dir;		/**< enum xfrm_spd_dir; larger: a socket policy */
	bool block;		/**< action block (XFRM_POLICY_BLOCK) */
	uint32_t priority, index;
	struct xfrm_spd_tmpl tmpl[XFRM_SPD_MAX_TMPL];
	size_t ntmpl;
};

/** Parse XFRM_MSG_NEWPOLICY / UPDPOLICY (struct xfrm_userpolicy_info and
 *  attributes; XFRMA_TMPL an array of struct xfrm_user_tmpl).  nlh must
 *  hold nlh->nlmsg_len readable bytes.  Returns 0, or -1 with the reason in d. */
int xfrm_parse_policy(const struct nlmsghdr *nlh, struct xfrm_spd *out,
		      struct diag_list *d);

/** Does the entry's selector cover this peer address in direction in
 *  (source) or out (destination)?  An unset or zero-prefix selector
 *  covers everything of its family (AF_UNSPEC: every family). */
bool xfrm_spd_covers_peer(const struct xfrm_spd *p, enum addr_family fam, u128 peer);

/** Is any template of p mandatory ("level required")? */
bool xfrm_spd_requires(const struct xfrm_spd *p);

const char *xfrm_spd_dir_name(uint8_t dir);

#endif
