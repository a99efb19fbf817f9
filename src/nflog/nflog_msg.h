/* nflog_msg: one nfnetlink_log packet message read into a log record
 * (core layer: a buffer in, no socket).
 *
 * The kernel sends one NFULNL_MSG_PACKET per packet a `log group G`
 * statement saw; sagate's prefix names the rule ("sagate RULE ACTION: ")
 * or the default ("sagate default DIR ACTION: "), and the payload's first
 * bytes give addresses, protocol and ports.
 */
#ifndef SAGATE_NFLOG_MSG_H
#define SAGATE_NFLOG_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;

#define NFLOG_PREFIX_MAX 128	/**< the kernel's NF_LOG_PREFIXLEN */

/** What one log line says. */
struct nflog_rec {
	uint16_t group;		/**< the nflog group it came to */
	uint8_t family;		/**< 4 or 6 */
	uint8_t hook;		/**< NF_INET_LOCAL_IN (1), FORWARD (2), LOCAL_OUT (3), ... */
	char prefix[NFLOG_PREFIX_MAX];	/**< as the kernel sent it; "" if none */
	/* from a sagate prefix; rule[0] == '\0' when it is not one */
	char rule[64];		/**< the policy rule's name, or "default" */
	char action[16];	/**< permit, block or require-ipsec */
	char dir[8];		/**< in, out or forward (from the prefix, else the hook) */
	bool is_default;	/**< the direction's default, not a rule */
	uint32_t indev, outdev;	/**< interface indexes; 0: none */
	uint8_t saddr[16], daddr[16];	/**< 4 or 16 bytes used */
	uint8_t proto;		/**< IP protocol / IPv6 next header */
	bool has_ports;		/**< TCP, UDP, SCTP, UDP-Lite: sport, dport set */
	uint16_t sport, dport;
	bool has_icmp;		/**< ICMP / ICMPv6: icmp_type, icmp_code set */
	uint8_t icmp_type, icmp_code;
	uint32_t length;	/**< the packet's length by its IP header */
};

/** Whether a read's next message, at nlh with left bytes to the end of the
 *  read, lies whole within it: mnl_nlmsg_ok, and a length that is no
 *  negative number to it (libmnl compares the length as an int, and a
 *  length past 2^31 would send mnl_nlmsg_next out of the buffer). */
bool nflog_msg_ok(const struct nlmsghdr *nlh, int left);

/** Read one netlink message.  Returns 1 for a packet message (rec filled),
 *  0 for a message of another type (to skip), -1 for a malformed packet
 *  message (why: a static text). */
int nflog_msg_parse(const struct nlmsghdr *nlh, size_t len, struct nflog_rec *rec,
		    const char **why);

/** Split a prefix "sagate RULE ACTION: " / "sagate default DIR ACTION: "
 *  into rec->rule, action, dir, is_default; false when it is not one. */
bool nflog_prefix_split(const char *prefix, struct nflog_rec *rec);

/** The protocol's name ("tcp", "icmpv6", ...) or NULL. */
const char *nflog_proto_name(uint8_t proto);

#endif
