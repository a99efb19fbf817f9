/* fuzz_nft_dump: libFuzzer target for the nft dump readers (nft_read.c,
 * nft_snap.c and the plumbing they share in nft_talk.c), fed fuzzed
 * netlink replies through a fake libmnl socket (fake_mnl.h).
 *
 * Input: one byte choosing the reader (status/list's nft_read_live,
 * audit's nft_snap_read, the generation, the flow bindings, the
 * cleartext attempts), then the replies as fake_mnl chunks, handed out
 * one per recvfrom in the order the reader asks.  Checked: memory safety
 * (the sanitizers), a failure comes with an error in the diagnostics, no
 * socket is left open, and what a reader returns holds together.
 *
 * libnftnl calls exit() on an attribute of the wrong size (abi_breakage)
 * and reads past an expression name without its NUL: framing only a
 * broken kernel would send, which no sagate code can guard against (the
 * message goes to libnftnl before sagate sees any of it).  So every
 * input is first parsed by libnftnl alone, message by message, in a
 * checker process; an input it cannot get through is skipped (and kept
 * out of the corpus, and written nowhere).  Everything sagate does with what libnftnl parsed runs
 * here, in the fuzzed process: a getter that exits on what sagate asks
 * of it, a missing attribute, a hostile length, fails this target.
 *
 * FUZZ_NFT_RECORD=DIR (a variable, not an option): instead of fuzzing,
 * run each reader once against the kernel of the current network
 * namespace and write its replies to DIR/<reader> as a seed. */
#include "config.h"

#include "diag.h"
#include "fake_mnl.h"
#include "nft_read.h"
#include "nft_snap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum reader { RD_LIVE, RD_SNAP, RD_GENID, RD_BOUND, RD_ATTEMPTS, RD_COUNT };
static const char *const reader_names[RD_COUNT] = {
	"live", "snap", "genid", "bound", "attempts",
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_nft_dump: %s\n", what);
	abort();
}

static void check_live(const struct nft_live *l)
{
	size_t objects = 0;

	if (!l->present && (l->nelems || l->nrules || l->sets))
		fail("counters of a table that is not there");
	for (size_t i = 0; i < l->nelems; i++) {
		if (!l->elems[i].comment || nft_live_elem(l, l->elems[i].comment) != &l->elems[i])
			fail("element comment not found through its index");
		objects += l->elems[i].objects;
	}
	if (objects > l->elements)
		fail("more commented elements than elements");
}

static void check_snap(const struct nft_snap *s)
{
	for (size_t i = 0; i < s->nchains; i++)
		if (!s->chains[i].table || !s->chains[i].name || !s->chains[i].family)
			fail("a chain kept without table, name or family");
	for (size_t i = 0; i < s->nforeign; i++)
		if (!s->foreign[i].table || !s->foreign[i].name || !s->foreign[i].has_hook)
			fail("a foreign chain kept without table, name or hook");
	for (size_t i = 0; i < s->nsets; i++)
		for (size_t j = 0; j < s->sets[i].nelems; j++)
			if (!s->sets[i].comments[j] ||
			    s->sets[i].elems[j].key_len > SNAP_KEY_MAX ||
			    s->sets[i].elems[j].key_end_len > SNAP_KEY_MAX)
				fail("an element kept without comment or with an oversized key");
}

static void run_reader(enum reader which)
{
	struct diag_list d;
	int rc = 0;

	diag_list_init(&d);
	switch (which) {
	case RD_LIVE: {
		struct nft_live l;

		rc = nft_read_live(&l, &d);
		if (rc == 0)
			check_live(&l);
		nft_live_fini(&l);
		break;
	}
	case RD_SNAP: {
		struct nft_snap s;

		rc = nft_snap_read(&s, &d);
		if (rc == 0)
			check_snap(&s);
		nft_snap_fini(&s);
		break;
	}
	case RD_GENID: {
		uint32_t g;

		rc = nft_read_genid(&g, &d);
		break;
	}
	case RD_BOUND: {
		uint8_t *keys;
		size_t n;

		rc = nft_read_bound(&keys, &n, &d);
		if (rc < 0 && (keys || n))
			fail("bindings returned with a failure");
		free(keys);
		break;
	}
	case RD_ATTEMPTS: {
		struct nft_attempt *v;
		size_t n;

		rc = nft_read_attempts(&v, &n, &d);
		if (rc < 0 && (v || n))
			fail("attempts returned with a failure");
		for (size_t i = 0; i < n; i++)
			if (v[i].fam != AF4 && v[i].fam != AF6)
				fail("an attempt of no family");
		free(v);
		break;
	}
	case RD_COUNT:
		break;
	}
	if (rc < 0 && d.errors == 0)
		fail("a reader failed without an error");
	for (size_t i = 0; i < d.count; i++)
		free(diag_format(&d.items[i]));
	diag_list_fini(&d);
	if (fake_mnl_open_sockets() != 0)
		fail("a socket left open");
}

/* FUZZ_NFT_RECORD: seeds from the kernel of this network namespace. */
static void record_seeds(const char *dir)
{
	for (int i = 0; i < RD_COUNT; i++) {
		char path[4096];
		uint8_t sel = (uint8_t)i;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, reader_names[i]);
		f = fopen(path, "wb");
		if (!f || fwrite(&sel, 1, 1, f) != 1)
			fail("cannot write a seed");
		fake_mnl_record(f);
		run_reader((enum reader)i);
		fake_mnl_record(NULL);
		if (fclose(f) != 0)
			fail("cannot write a seed");
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *rec = getenv("FUZZ_NFT_RECORD");

	if (rec && *rec) {
		record_seeds(rec);
		exit(0);
	}
	return 0;
}

/* Parse one message as the readers' libnftnl calls would. */
static void libnftnl_parse(const struct nlmsghdr *nlh)
{
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case NFT_MSG_NEWTABLE: {
		struct nftnl_table *t = nftnl_table_alloc();

		nftnl_table_nlmsg_parse(nlh, t);
		nftnl_table_free(t);
		break;
	}
	case NFT_MSG_NEWCHAIN: {
		struct nftnl_chain *c = nftnl_chain_alloc();

		nftnl_chain_nlmsg_parse(nlh, c);
		nftnl_chain_free(c);
		break;
	}
	case NFT_MSG_NEWSET: {
		struct nftnl_set *s = nftnl_set_alloc();

		nftnl_set_nlmsg_parse(nlh, s);
		nftnl_set_free(s);
		break;
	}
	case NFT_MSG_NEWSETELEM: {
		struct nftnl_set *s = nftnl_set_alloc();

		nftnl_set_elems_nlmsg_parse(nlh, s);
		nftnl_set_free(s);
		break;
	}
	case NFT_MSG_NEWRULE: {
		struct nftnl_rule *r = nftnl_rule_alloc();

		nftnl_rule_nlmsg_parse(nlh, r);
		nftnl_rule_free(r);
		break;
	}
	case NFT_MSG_NEWGEN: {
		struct nftnl_gen *g = nftnl_gen_alloc();

		nftnl_gen_nlmsg_parse(nlh, g);
		nftnl_gen_free(g);
		break;
	}
	default:
		break;
	}
}

/* Parse every message of every chunk, as the readers would. */
static void parse_chunks(const uint8_t *data, size_t size)
{
	static _Alignas(8) uint8_t buf[1u << 16];

	while (size >= 2) {
		size_t n = (size_t)data[0] | (size_t)data[1] << 8;
		const struct nlmsghdr *nlh = (const void *)buf;
		int len;

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		memcpy(buf, data, n);
		data += n;
		size -= n;
		for (len = (int)netlink_span(buf, n); mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			libnftnl_parse(nlh);
	}
}

static bool read_all(int fd, void *p, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

static bool write_all(int fd, const void *p, size_t n)
{
	for (size_t put = 0; put < n;) {
		ssize_t r = write(fd, (const char *)p + put, n - put);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		put += (size_t)r;
	}
	return true;
}

/* The checker: a child that parses what it is sent, with libnftnl alone,
 * and answers one byte; libnftnl may exit it or crash it, and then the
 * next input gets a new one.  Its own output goes nowhere. */
static pid_t checker = -1;
static int to_checker = -1, from_checker = -1;

static void checker_loop(int in, int out)
{
	static uint8_t data[(1u << 16) + 8];
	uint32_t n;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (read_all(in, &n, sizeof(n)) && n <= sizeof(data) && read_all(in, data, n)) {
		parse_chunks(data, n);
		if (!write_all(out, "k", 1))
			break;
	}
	_exit(0);
}

/* In the checker, libnftnl's exit() or crash ends the checker and no
 * more: not libFuzzer's handlers, which would report the parent's input
 * as a crash of the target and write it out as an artifact. */
static void checker_die(void)
{
	_exit(3);
}

static void checker_quiet(void)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGALRM, SIGINT };

	atexit(checker_die);	/* runs before libFuzzer's, registered earlier */
	__sanitizer_set_death_callback(checker_die);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

static void checker_start(void)
{
	int down[2], up[2], null;

	if (pipe(down) < 0 || pipe(up) < 0 || (checker = fork()) < 0)
		abort();
	if (checker == 0) {
		checker_quiet();
		null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		close(down[1]);
		close(up[0]);
		checker_loop(down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	to_checker = down[1];
	from_checker = up[0];
}

static void checker_reap(void)
{
	int status;

	close(to_checker);
	close(from_checker);
	while (waitpid(checker, &status, 0) < 0 && errno == EINTR)
		;
	checker = -1;
}

/* Can libnftnl itself get through every message of every chunk? */
static bool libnftnl_copes(const uint8_t *data, size_t size)
{
	uint32_t n = (uint32_t)size;
	char ok;

	if (checker < 0) {
		signal(SIGPIPE, SIG_IGN);
		checker_start();
	}
	if (write_all(to_checker, &n, sizeof(n)) && write_all(to_checker, data, size) &&
	    read_all(from_checker, &ok, 1))
		return true;
	checker_reap();
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!libnftnl_copes(data + 1, size - 1))
		return -1;
	fake_mnl_feed(data + 1, size - 1);
	run_reader((enum reader)(data[0] % RD_COUNT));
	return 0;
}
