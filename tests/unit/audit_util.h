/* Shared by test_audit and test_explain: a policy from JSON text, SAs
 * made as XFRM messages, and a fake /proc for engine_presence(). */
#ifndef SAGATE_TEST_AUDIT_UTIL_H
#define SAGATE_TEST_AUDIT_UTIL_H

#include "classify.h"
#include "compile.h"
#include "diag.h"
#include "parse.h"
#include "plan.h"
#include "xfrm.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <linux/xfrm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parse text as a policy file; fails the test when it is rejected. */
static inline struct policy *tu_policy(const char *text)
{
	char dir[] = "/tmp/sagate-tu-XXXXXX", path[64];
	struct diag_list d;
	struct policy *p;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.json", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	diag_list_init(&d);
	p = parse_policy_file(path, NULL, &d);
	cr_assert_not_null(p, "policy rejected: %s", d.count ? d.items[0].message : "?");
	diag_list_fini(&d);
	unlink(path);
	rmdir(dir);
	return p;
}

/* Make a temporary directory from template tmpl (its XXXXXX replaced)
 * and name it the state directory (SAGATE_STATE_DIR). */
static inline void tu_state_dir(char *tmpl)
{
	cr_assert_not_null(mkdtemp(tmpl));
	cr_assert_eq(setenv("SAGATE_STATE_DIR", tmpl, 1), 0);
}

/* Remove dir and everything in it. */
static inline void tu_rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* A fake /proc: tu_proc_sagated gives it a process named sagated,
 * tu_proc_queues writes its net/netfilter/nfnetlink_queue (one line per
 * bound queue); tu_proc_rm removes it. */
static inline void tu_proc_put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_not_null(f = fopen(path, "w"), "%s", path);
	fputs(text, f);
	fclose(f);
}

static inline void tu_proc_mkdir(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) != 0)
		cr_assert_eq(mkdir(path, 0700), 0, "%s", path);
}

static inline void tu_proc_sagated(const char *dir)
{
	tu_proc_mkdir(dir, "42");
	tu_proc_put(dir, "42/comm", "sagated\n");
}

static inline void tu_proc_queues(const char *dir, const char *lines)
{
	tu_proc_mkdir(dir, "net");
	tu_proc_mkdir(dir, "net/netfilter");
	tu_proc_put(dir, "net/netfilter/nfnetlink_queue", lines);
}

static inline void tu_proc_rm(const char *dir)
{
	tu_rm_rf(dir);
}

static inline void tu_xaddr(xfrm_address_t *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a) != 1)
		cr_assert_eq(inet_pton(AF_INET6, s, a), 1, "bad address %s", s);
}

/* Put an SA into c: AEAD GCM-128 when gcm, else ESP-null + HMAC-SHA-256. */
static inline void tu_sa(struct xfrm_cache *c, const char *src, const char *dst,
			 uint32_t spi, bool gcm, uint64_t now)
{
	_Alignas(8) char buf[1024];
	struct xfrm_usersa_info p;
	struct nlmsghdr *nlh;
	unsigned char alg[200];
	uint32_t bits;
	struct diag_list why = { 0 };

	memset(&p, 0, sizeof(p));
	p.family = strchr(dst, ':') ? AF_INET6 : AF_INET;
	tu_xaddr(&p.saddr, src);
	tu_xaddr(&p.id.daddr, dst);
	p.id.spi = htonl(spi);
	p.id.proto = 50;
	p.mode = XFRM_MODE_TRANSPORT;
	p.reqid = 1;
	p.lft.soft_byte_limit = p.lft.hard_byte_limit = XFRM_INF;
	p.lft.soft_packet_limit = p.lft.hard_packet_limit = XFRM_INF;
	p.curlft.add_time = now - 10;
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(p)), &p, sizeof(p));
	memset(alg, 0, sizeof(alg));
	if (gcm) {
		strcpy((char *)alg, "rfc4106(gcm(aes))");
		bits = 160;
		memcpy(alg + 64, &bits, 4);
		bits = 128;
		memcpy(alg + 68, &bits, 4);
		mnl_attr_put(nlh, XFRMA_ALG_AEAD, sizeof(struct xfrm_algo_aead) + 20, alg);
	} else {
		strcpy((char *)alg, "ecb(cipher_null)");
		mnl_attr_put(nlh, XFRMA_ALG_CRYPT, sizeof(struct xfrm_algo), alg);
		memset(alg, 0, sizeof(alg));
		strcpy((char *)alg, "hmac(sha256)");
		bits = 256;
		memcpy(alg + 64, &bits, 4);
		bits = 128;
		memcpy(alg + 68, &bits, 4);
		mnl_attr_put(nlh, XFRMA_ALG_AUTH_TRUNC, sizeof(struct xfrm_algo_auth) + 32, alg);
	}
	cr_assert_eq(xfrm_cache_apply(c, nlh, now, &why), 1, "%s", diag_last(&why));
}

#endif
