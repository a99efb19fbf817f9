/* The nflog reader's core (nflog_msg.h, nflog_line.h): packet messages
 * built here byte by byte as the kernel sends them, read into records
 * (and refused when malformed), and the records written as JSON lines,
 * text and the journal's native datagrams. */
#include "config.h"

#include "nflog_line.h"
#include "nflog_msg.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <stdlib.h>
#include <string.h>

static char buf[4096];

/* An IPv4 TCP packet 10.0.0.2:40000 -> 10.0.0.1:22 (only its headers). */
static size_t ip4_tcp(uint8_t *p)
{
	memset(p, 0, 40);
	p[0] = 0x45;
	p[3] = 60;
	p[9] = 6;
	memcpy(p + 12, (uint8_t[]){ 10, 0, 0, 2 }, 4);
	memcpy(p + 16, (uint8_t[]){ 10, 0, 0, 1 }, 4);
	p[20] = 40000 >> 8;
	p[21] = 40000 & 0xff;
	p[23] = 22;
	return 40;
}

/* An IPv6 packet fd00::2 -> fd00::1 whose next header is nh, with a
 * hop-by-hop header first when hbh; then 4 bytes of l4. */
static size_t ip6(uint8_t *p, uint8_t nh, bool hbh, const uint8_t l4[4])
{
	size_t off = 40;

	memset(p, 0, 56);
	p[0] = 0x60;
	p[6] = hbh ? 0 : nh;
	p[8] = 0xfd;
	p[23] = 2;
	p[24] = 0xfd;
	p[39] = 1;
	if (hbh) {
		p[40] = nh;	/* its next header; length 0: 8 bytes */
		off += 8;
	}
	memcpy(p + off, l4, 4);
	p[5] = (uint8_t)(off + 4 - 40);
	return off + 4;
}

/* A packet message of group 90, hook in, interface 3. */
static struct nlmsghdr *msg(const char *prefix, const uint8_t *pl, size_t plen, bool hdr)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;
	struct nfulnl_msg_packet_hdr ph = { .hw_protocol = htons(0x0800), .hook = 1 };

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	g->res_id = htons(90);
	if (hdr)
		mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof(ph), &ph);
	mnl_attr_put_u32(nlh, NFULA_IFINDEX_INDEV, htonl(3));
	if (prefix)
		mnl_attr_put_strz(nlh, NFULA_PREFIX, prefix);
	if (pl)
		mnl_attr_put(nlh, NFULA_PAYLOAD, plen, pl);
	return nlh;
}

static int parse(struct nlmsghdr *nlh, struct nflog_rec *r, const char **why)
{
	return nflog_msg_parse(nlh, nlh->nlmsg_len, r, why);
}

Test(nflog_msg, ipv4_tcp_of_a_rule)
{
	uint8_t p[64];
	size_t n = ip4_tcp(p);
	struct nflog_rec r;
	const char *why;

	cr_assert_eq(parse(msg("sagate ssh-admins block: ", p, n, true), &r, &why), 1, "%s", why);
	cr_expect_eq(r.group, 90);
	cr_expect_eq(r.family, 4);
	cr_expect_str_eq(r.rule, "ssh-admins");
	cr_expect_str_eq(r.action, "block");
	cr_expect_str_eq(r.dir, "in");
	cr_expect_not(r.is_default);
	cr_expect_eq(r.indev, 3);
	cr_expect_eq(r.proto, 6);
	cr_expect(r.has_ports);
	cr_expect_eq(r.sport, 40000);
	cr_expect_eq(r.dport, 22);
	cr_expect_eq(r.length, 60);
}

Test(nflog_msg, ipv6_over_a_hop_by_hop_header_and_a_default)
{
	uint8_t p[64];
	size_t n = ip6(p, 58, true, (uint8_t[]){ 128, 0, 0, 0 });
	struct nflog_rec r;
	const char *why;

	cr_assert_eq(parse(msg("sagate default forward block: ", p, n, true), &r, &why), 1, "%s", why);
	cr_expect_eq(r.family, 6);
	cr_expect(r.is_default);
	cr_expect_str_eq(r.rule, "default");
	cr_expect_str_eq(r.dir, "forward");	/* the prefix's, not the hook's */
	cr_expect_eq(r.proto, 58);
	cr_expect(r.has_icmp);
	cr_expect_eq(r.icmp_type, 128);
	cr_expect_not(r.has_ports);
	cr_expect_eq(r.saddr[0], 0xfd);
	cr_expect_eq(r.daddr[15], 1);
}

Test(nflog_msg, a_later_fragment_has_no_ports)
{
	uint8_t p[64];
	size_t n = ip4_tcp(p);
	struct nflog_rec r;
	const char *why;

	p[7] = 8;	/* fragment offset 64 bytes */
	cr_assert_eq(parse(msg("sagate web permit: ", p, n, true), &r, &why), 1);
	cr_expect_not(r.has_ports);
}

Test(nflog_msg, a_foreign_prefix_is_kept_without_a_rule)
{
	uint8_t p[64];
	size_t n = ip4_tcp(p);
	struct nflog_rec r;
	const char *why;

	cr_assert_eq(parse(msg("DROP: ", p, n, true), &r, &why), 1);
	cr_expect_str_eq(r.rule, "");
	cr_expect_str_eq(r.prefix, "DROP: ");
	cr_expect_str_eq(r.dir, "in");
}

Test(nflog_msg, malformed_messages_are_refused)
{
	uint8_t p[64];
	size_t n = ip4_tcp(p);
	struct nflog_rec r;
	const char *why;
	struct nlmsghdr *nlh;

	cr_expect_eq(parse(msg("sagate a block: ", p, n, false), &r, &why), -1);
	cr_expect_str_eq(why, "a packet message without its packet header");
	cr_expect_eq(parse(msg("sagate a block: ", NULL, 0, true), &r, &why), -1);
	cr_expect_eq(parse(msg("sagate a block: ", p, 19, true), &r, &why), -1);
	cr_expect_str_eq(why, "an IPv4 header too short");
	cr_expect_eq(parse(msg("sagate a block: ", p, 22, true), &r, &why), 1);	/* ports cut off */
	cr_expect_not(r.has_ports);
	p[0] = 0x55;
	cr_expect_eq(parse(msg("sagate a block: ", p, n, true), &r, &why), -1);
	/* a prefix without its NUL */
	nlh = msg(NULL, NULL, 0, true);
	mnl_attr_put(nlh, NFULA_PREFIX, 3, "abc");
	cr_expect_eq(parse(nlh, &r, &why), -1);
	cr_expect(strstr(why, "prefix") != NULL);
	/* a length past the buffer */
	p[0] = 0x45;
	nlh = msg("sagate a block: ", p, n, true);
	cr_expect_eq(nflog_msg_parse(nlh, nlh->nlmsg_len - 1, &r, &why), -1);
	/* another message type is skipped, not refused */
	nlh->nlmsg_type = NLMSG_DONE;
	cr_expect_eq(parse(nlh, &r, &why), 0);
}

/* a length past 2^31 passes mnl_nlmsg_ok (an int compare) and would
 * send mnl_nlmsg_next out of the buffer: found by fuzz_nflog */
Test(nflog_msg, a_huge_length_ends_the_walk)
{
	struct nlmsghdr *nlh = msg("sagate a block: ", NULL, 0, true);
	int left = (int)nlh->nlmsg_len;

	cr_expect(nflog_msg_ok(nlh, left));
	nlh->nlmsg_len = 0xfffffffdu;
	cr_expect(mnl_nlmsg_ok(nlh, left), "libmnl takes it (else this test guards nothing)");
	cr_expect_not(nflog_msg_ok(nlh, left));
	nlh->nlmsg_len = 8;
	cr_expect_not(nflog_msg_ok(nlh, left));
}

Test(nflog_msg, prefixes)
{
	struct nflog_rec r;

	memset(&r, 0, sizeof(r));
	cr_expect(nflog_prefix_split("sagate pg require-ipsec: ", &r));
	cr_expect_str_eq(r.action, "require-ipsec");
	cr_expect_not(nflog_prefix_split("sagate pg allow: ", &r));
	cr_expect_not(nflog_prefix_split("sagate pg block:", &r));
	cr_expect_not(nflog_prefix_split("sagate default sideways block: ", &r));
	cr_expect_not(nflog_prefix_split("sagate a b c d: ", &r));
	cr_expect_not(nflog_prefix_split("other pg block: ", &r));
	/* a rule may be called "default": three words, not four */
	cr_expect(nflog_prefix_split("sagate default block: ", &r));
	cr_expect_not(r.is_default);
	cr_expect_str_eq(r.rule, "default");
}

Test(nflog_line, json_and_text)
{
	uint8_t p[64];
	size_t n = ip4_tcp(p);
	struct nflog_rec r;
	const char *why;
	char text[256], *s;
	json_t *j;

	cr_assert_eq(parse(msg("sagate ssh-admins block: ", p, n, true), &r, &why), 1);
	j = nflog_line_json(&r, "eth0", NULL);
	cr_assert(j);
	s = json_dumps(j, JSON_COMPACT);
	cr_expect_str_eq(s, "{\"rule\":\"ssh-admins\",\"default\":false,\"action\":\"block\","
			 "\"direction\":\"in\",\"family\":\"ipv4\",\"protocol\":\"tcp\","
			 "\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\",\"sport\":40000,\"dport\":22,"
			 "\"in\":\"eth0\",\"length\":60,\"group\":90}");
	free(s);
	json_decref(j);
	nflog_line_text(text, sizeof(text), &r, "eth0", NULL);
	cr_expect_str_eq(text, "rule ssh-admins block in: tcp 10.0.0.2:40000 -> 10.0.0.1:22 in eth0");
	n = ip6(p, 17, false, (uint8_t[]){ 0, 53, 1, 0 });
	cr_assert_eq(parse(msg("sagate default in block: ", p, n, true), &r, &why), 1);
	nflog_line_text(text, sizeof(text), &r, NULL, NULL);
	cr_expect_str_eq(text, "default in block: udp [fd00::2]:53 -> [fd00::1]:256");
}

Test(nflog_line, journal_fields)
{
	json_t *j = json_pack("{s:s, s:b, s:i, s:n, s:s}", "rule", "web", "default", 0,
			      "dport", 80, "prefix", "in", "a\nb");
	size_t len;
	char *d = nflog_line_journal(j, "rule web block", &len);
	const char want[] = "MESSAGE=rule web block\nPRIORITY=6\nSYSLOG_IDENTIFIER=sagate\n"
			    "SAGATE_RULE=web\nSAGATE_DEFAULT=0\nSAGATE_DPORT=80\n"
			    "SAGATE_IN\n\x03\0\0\0\0\0\0\0a\nb\n";

	cr_assert(d);
	cr_expect_eq(len, sizeof(want) - 1);
	cr_expect(memcmp(d, want, sizeof(want) - 1) == 0, "%.*s", (int)len, d);
	free(d);
	json_object_set_new(j, "action", json_string("block"));
	d = nflog_line_journal(j, "x", &len);
	cr_expect(strstr(d, "PRIORITY=5\n") != NULL);
	free(d);
	json_decref(j);
}
