/* nft_talk: the netlink plumbing nft_read.c and nft_snap.c share: a
 * NETLINK_NETFILTER socket, one request at a time with every reply (a
 * dump's many, or a get's one and its ack) fed to a callback, and the
 * pieces of a reply both readers take apart: set element dumps and the
 * comments in user data.  Internal to the nft readers. */
#ifndef SAGATE_NFT_TALK_H
#define SAGATE_NFT_TALK_H

#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <stdbool.h>
#include <stdint.h>

#define NFT_TALK_REQ_BUF 4096	/**< one request: a header and a few names */

/** One conversation with nf_tables. */
struct nft_talk {
	struct mnl_socket *nl;
	uint32_t portid, seq;
};

/** Open and bind the socket.  0, or -1 with errno and nothing to close. */
int nft_talk_open(struct nft_talk *t);
/** Close the socket, if open. */
void nft_talk_close(struct nft_talk *t);

/** Start a request of type for family in buf (NFT_TALK_REQ_BUF bytes,
 *  zeroed: attribute padding goes out too), acked, numbered in turn. */
struct nlmsghdr *nft_talk_request(struct nft_talk *t, char *buf, uint16_t type,
				  uint16_t family, uint16_t flags);

/** Send nlh and feed every reply to cb(data) until the ack, the end of
 *  the dump or an error.  0, or -1 with errno (ENOENT: no such object). */
int nft_talk_run(struct nft_talk *t, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

/** Is nlh the nf_tables message type msg (NFT_MSG_NEWRULE, ...)?  If
 *  not, errno is EPROTO: a reply of another type must not be parsed as
 *  this one (libnftnl reads each attribute at the width the type it is
 *  told gives it, and exits on a mismatch). */
bool nft_talk_expect(const struct nlmsghdr *nlh, uint16_t msg);

/** What nft_talk_get_table found. */
struct nft_talk_table {
	bool present;
	char *comment;		/**< a copy, NULL if none; the caller frees it */
	bool oom;		/**< the comment could not be copied */
};

/** Get table family/name into *out (zeroed first).  0 also when there is
 *  no such table (present false); -1 with errno. */
int nft_talk_get_table(struct nft_talk *t, uint16_t family, const char *table,
		       struct nft_talk_table *out);

/** Dump the sets of a table into cb(data).  0, or -1 with errno. */
int nft_talk_dump_sets(struct nft_talk *t, uint16_t family, const char *table,
		       mnl_cb_t cb, void *data);

/** Dump the elements of one set into cb(data); cb may use nft_talk_elems. */
int nft_talk_dump_elems(struct nft_talk *t, uint16_t family, const char *table,
			const char *set, mnl_cb_t cb, void *data);

/** Dump the rules of a table (of its chain chain; NULL: of every chain)
 *  into cb(data).  0, or -1 with errno. */
int nft_talk_dump_rules(struct nft_talk *t, uint16_t family, const char *table,
			const char *chain, mnl_cb_t cb, void *data);

/** Called for each element of a set element dump; any result but
 *  MNL_CB_OK ends the message's walk and is nft_talk_elems' result. */
typedef int (*nft_talk_elem_cb)(struct nftnl_set_elem *e, void *data);

/** Walk the elements of one NEWSETELEM reply: MNL_CB_ERROR if it does not
 *  parse, else MNL_CB_OK or what cb ended the walk with. */
int nft_talk_elems(const struct nlmsghdr *nlh, nft_talk_elem_cb cb, void *data);

/** True for the closing half of an interval: not an element of its own. */
bool nft_talk_elem_is_interval_end(struct nftnl_set_elem *e);

/** The comment in an object's user data (table, rule or element), or
 *  NULL when there is none, it is not a terminated string, or a length
 *  in the user data runs past len (another program can plant any). */
const char *nft_talk_comment(const void *udata, uint32_t len);

#endif
