/* fuzz_nflog: libFuzzer target for the nflog reader's core: the packet
 * message parser (nflog_msg.c) and the line formatters (nflog_line.c).
 *
 * Input: a stream of netlink messages as a bound nflog group would
 * receive them, walked as nflog_sock_read walks a read.  Checked for each
 * message: a refusal has a reason; an accepted record has family 4 or 6,
 * a terminated prefix, a rule only with an action, ports only for a
 * protocol with ports; its JSON line, text line and journal datagram are
 * made (and the journal datagram has no field without its '=' or length). */
#include "config.h"

#include "nflog_line.h"
#include "nflog_msg.h"

#include <libmnl/libmnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_nflog: %s\n", what);
	abort();
}

static void check(const struct nflog_rec *r)
{
	char text[512], *j, *d;
	json_t *o;
	size_t len;

	if (r->family != 4 && r->family != 6)
		fail("a record of no family");
	if (!memchr(r->prefix, '\0', sizeof(r->prefix)))
		fail("an unterminated prefix");
	if (r->rule[0] && !r->action[0])
		fail("a rule without an action");
	if (r->has_ports && r->has_icmp)
		fail("ports and an ICMP type at once");
	if (!(o = nflog_line_json(r, r->indev ? "eth0" : NULL, NULL)))
		return;	/* out of memory */
	nflog_line_text(text, sizeof(text), r, NULL, "eth1");
	if ((j = json_dumps(o, JSON_COMPACT)))
		free(j);
	if ((d = nflog_line_journal(o, text, &len))) {
		if (len < 8 || d[len - 1] != '\n')
			fail("a journal datagram that does not end a field");
		free(d);
	}
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy, aligned as a socket buffer is */
	void *buf = malloc(size ? size : 1);
	const struct nlmsghdr *nlh = buf;
	int left = (int)(size > 65536 ? 65536 : size);

	if (!buf)
		return 0;
	memcpy(buf, data, (size_t)left);
	for (; nflog_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		struct nflog_rec r;
		const char *why;
		int rc = nflog_msg_parse(nlh, (size_t)left, &r, &why);

		if (rc < 0 && !why)
			fail("a refusal without a reason");
		if (rc > 0)
			check(&r);
	}
	free(buf);
	return 0;
}
