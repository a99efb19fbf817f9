/* Replies from nf_tables, crafted: any program with CAP_NET_ADMIN can
 * plant a rule whose user data lies about its lengths, or send a message
 * whose length lies to our socket, and a reply may leave out what the
 * kernel always sends.  The readers must neither read past what they
 * were given nor trust what is missing. */
#include "config.h"

#include "nft_snap.h"
#include "nft_talk.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>

/* User data, in a zeroed buffer of 512 bytes (a reader that goes past
 * len finds a terminated string there), and the comment its first len
 * bytes hold. */
static const struct {
	const char *what, *bytes;
	size_t size, len;
	const char *comment;
} comments[] = {
	{ "a terminated comment", "\0\3ab", 5, 5, "ab" },
	{ "length 255 in 5 bytes", "\0\377ab", 5, 5, NULL },
	{ "the length byte outside", "\0\2a", 4, 1, NULL },
	{ "a lie after the comment: nothing is trusted", "\0\3ab\0\1\200x", 8, 8, NULL },
	{ "the comment before the lie", "\0\3ab\0\1\200x", 8, 5, "ab" },
	{ "unterminated", "\0\2ab", 4, 4, NULL },
};

Test(nft_comment, lengths_stay_inside_the_data)
{
	for (size_t i = 0; i < sizeof(comments) / sizeof(comments[0]); i++) {
		char *b = calloc(1, 512);
		const char *c;

		cr_assert_not_null(b);
		memcpy(b, comments[i].bytes, comments[i].size);
		c = nft_talk_comment(b, (uint32_t)comments[i].len);
		if (comments[i].comment)
			cr_assert_str_eq(c ? c : "(none)", comments[i].comment, "%s", comments[i].what);
		else
			cr_assert_null(c, "%s: got \"%s\"", comments[i].what, c);
		free(b);
	}
}

/* The same lie in a NEWRULE message, through libnftnl's parser, which
 * copies the user data into a buffer of exactly its length. */
Test(nft_comment, planted_rule_comment)
{
	char buf[4096];
	struct nftnl_rule *r = nftnl_rule_alloc(), *got = nftnl_rule_alloc();
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	const void *ud;
	uint32_t len = 0;

	cr_assert(r && got);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "filter");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "input");
	nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, "\0\377ab", 5);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	cr_assert_eq(nftnl_rule_nlmsg_parse(nlh, got), 0);
	ud = nftnl_rule_get_data(got, NFTNL_RULE_USERDATA, &len);
	cr_assert_eq(len, 5);
	cr_assert_null(nft_talk_comment(ud, len));
	nftnl_rule_free(r);
	nftnl_rule_free(got);
}

/* A chain with the table and name given (NULL: left out). */
static struct nftnl_chain *chain(const char *table, const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	cr_assert_not_null(c);
	if (table)
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	if (name)
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	return c;
}

/* nft_snap_chain_parse of a NEWCHAIN message of c (freed), family inet. */
static int parse_chain(struct nftnl_chain *c, struct snap_chain *sc)
{
	char buf[4096];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWCHAIN, NFPROTO_INET, 0, 1);

	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return nft_snap_chain_parse(nlh, sc);
}

Test(nft_chain, base_chain_is_taken_apart)
{
	struct nftnl_chain *c = chain("filter", "input");
	struct snap_chain sc;

	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_IN);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, -10);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_DROP);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	cr_assert_eq(parse_chain(c, &sc), 1);
	cr_assert_str_eq(sc.family, "inet");
	cr_assert_str_eq(sc.table, "filter");
	cr_assert_str_eq(sc.name, "input");
	cr_assert(sc.has_hook && sc.hooknum == NF_INET_LOCAL_IN && sc.prio == -10 && sc.policy_drop);
	nft_snap_chain_fini(&sc);
}

/* A reply of another type than the one asked for (fuzz_nft_dump found
 * it): libnftnl reads the attributes of a set element message as a
 * chain's or a rule's, finds NFTA_SET_ELEM_LIST_ELEMENTS where the
 * 8-byte handle should be and exits the process.  The readers refuse the
 * message instead (EPROTO). */
static struct nlmsghdr *elems_msg(char *buf)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET, 0, 1);
	uint32_t key = 1;

	cr_assert(s && e);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, "sagate");
	nftnl_set_set_str(s, NFTNL_SET_NAME, "in4_exact");
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
	nftnl_set_elem_add(s, e);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh;
}

static int no_elem(struct nftnl_set_elem *e, void *data)
{
	return MNL_CB_OK;
}

Test(nft_reply_type, other_type_is_refused_not_parsed)
{
	char buf[4096], rbuf[4096];
	struct nlmsghdr *nlh = elems_msg(buf), *rule;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct snap_chain sc;

	errno = 0;
	cr_assert_eq(nft_snap_chain_parse(nlh, &sc), -1);
	cr_assert_eq(errno, EPROTO);
	nft_snap_chain_fini(&sc);
	cr_assert(nft_talk_expect(nlh, NFT_MSG_NEWSETELEM));
	/* and a rule is no set element message */
	cr_assert_not_null(r);
	rule = nftnl_nlmsg_build_hdr(rbuf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "sagate");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "input");
	nftnl_rule_nlmsg_build_payload(rule, r);
	nftnl_rule_free(r);
	errno = 0;
	cr_assert_eq(nft_talk_elems(rule, no_elem, NULL), MNL_CB_ERROR);
	cr_assert_eq(errno, EPROTO);
}

/* Without its table, or its name, a chain is left out, not dereferenced. */
Test(nft_chain, chain_without_table_or_name_is_left_out)
{
	struct snap_chain sc;

	cr_assert_eq(parse_chain(chain(NULL, "input"), &sc), 0);
	cr_assert(!sc.table && !sc.name && !sc.family);
	nft_snap_chain_fini(&sc);
	cr_assert_eq(parse_chain(chain("filter", NULL), &sc), 0);
	nft_snap_chain_fini(&sc);
}

/* Messages of 20 bytes each (an aligned header and 4 bytes), at 4-byte
 * aligned offsets in a heap buffer of exactly len bytes. */
static char *messages(size_t len, const uint32_t *lens, size_t n)
{
	char *b = calloc(1, len);

	cr_assert_not_null(b);
	for (size_t i = 0; i < n; i++) {
		struct nlmsghdr *h = (struct nlmsghdr *)(b + 20 * i);

		h->nlmsg_len = lens[i];
		h->nlmsg_type = NLMSG_MIN_TYPE;	/* data, for the callback */
	}
	return b;
}

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	++*(int *)data;
	return MNL_CB_OK;
}

/* libmnl's mnl_nlmsg_ok compares (int)nlmsg_len <= len: 0x80000014 is
 * negative and passes, and mnl_cb_run walks 2 GiB on.  netlink_span
 * stops before it. */
Test(netlink_span, length_over_2_gib_ends_the_walk)
{
	uint32_t lens[] = { 20, 0x80000014u, 20 };
	char *b = messages(60, lens, 3);
	int seen = 0;

	cr_assert_eq(netlink_span(b, 60), 20);
	cr_assert_eq(mnl_cb_run(b, netlink_span(b, 60), 0, 0, count_cb, &seen), MNL_CB_OK);
	cr_assert_eq(seen, 1);
	free(b);
}

Test(netlink_span, whole_messages_only)
{
	uint32_t good[] = { 20, 20, 20 }, short_hdr[] = { 20, 8 }, past[] = { 20, 21 };
	char *b = messages(60, good, 3);

	cr_assert_eq(netlink_span(b, 60), 60);
	cr_assert_eq(netlink_span(b, 59), 40, "a message cut short is not whole");
	cr_assert_eq(netlink_span(b, 50), 40, "10 bytes are no header");
	free(b);
	b = messages(40, short_hdr, 2);
	cr_assert_eq(netlink_span(b, 40), 20, "a length below the header's");
	free(b);
	b = messages(44, past, 2);
	cr_assert_eq(netlink_span(b, 40), 20, "a length past the end");
	cr_assert_eq(netlink_span(b, 41), 41, "the last message may end unpadded");
	free(b);
}
