/* The verdict engine: a policy parsed from a file, SAs installed through
 * XFRM messages, packets built byte by byte.  Every reason is produced,
 * accepts work for IPv4 and IPv6, and no truncated or mangled packet
 * crashes or is accepted. */
#include "config.h"

#include "classify.h"
#include "decide.h"
#include "diag.h"
#include "fake_ident.h"
#include "parse.h"
#include "xfrm.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NOW 1700001000ull

static const char policy_text[] =
	"{\"version\": 1,\n"
	" \"defaults\": {\"in\": \"block\", \"out\": \"permit\"},\n"
	" \"rules\": [\n"
	"  {\"name\": \"web\", \"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": 80},\n"
	"  {\"name\": \"app-pg\", \"action\": \"require-ipsec\",\n"
	"   \"peers\": [\"192.0.2.8/29\", \"2001:db8::10\"], \"protocol\": \"tcp\", \"ports\": [\"5432-5433\"],\n"
	"   \"ipsec\": {\"mode\": \"transport\", \"algorithms\": [\"aes128gcm16\", \"aes256gcm16\"]}},\n"
	"  {\"name\": \"branch-ssh\", \"action\": \"require-ipsec\",\n"
	"   \"peers\": [\"10.20.0.0/16\", \"fd20::/48\"], \"protocol\": \"tcp\", \"ports\": 22,\n"
	"   \"ipsec\": {\"mode\": \"tunnel\", \"gateways\": [\n"
	"     {\"gateway\": \"198.51.100.1\", \"inner\": \"10.20.0.0/24\"},\n"
	"     {\"gateway\": \"2001:db8:ff::1\", \"inner\": \"fd20::/64\"}]}},\n"
	"  {\"name\": \"integrity\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.20\",\n"
	"   \"protocol\": \"tcp\", \"ports\": 8080, \"ipsec\": {\"encryption\": \"integrity-only-allowed\"}},\n"
	"  {\"name\": \"pinned\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.30\",\n"
	"   \"protocol\": \"tcp\", \"ports\": 9000, \"ipsec\": {\"reqid\": 42}},\n"
	"  {\"name\": \"any-mode\", \"action\": \"require-ipsec\", \"peers\": \"10.30.0.0/16\",\n"
	"   \"protocol\": \"tcp\", \"ports\": 443, \"ipsec\": {\"mode\": \"any\", \"gateways\": [\n"
	"     {\"gateway\": \"198.51.100.2\", \"inner\": \"10.30.1.0/24\"}]}},\n"
	"  {\"name\": \"who\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.40\",\n"
	"   \"protocol\": \"tcp\", \"ports\": 5500, \"ipsec\": {\"identities\":\n"
	"     [\"C=CH, O=Acme, CN=app1\", \"*.app.example.org\", \"san:*@ops.example.org\"]}}\n"
	" ]}\n";

static struct policy *pol;
static struct classes *cls;
static struct xfrm_cache *sas;
static struct decide_ctx ctx;

/* who proved what for the SAs of rule "who" (0x8003: nobody) */
static char *ops_sans[] = { "x.example.org", "kim@ops.example.org", NULL };
static const struct fake_ident idents[] = {
	{ 0x8001, 0, { "C=CH, O=Acme, CN=app1", "pubkey", NULL, "C=CH, O=Acme, CN=app1" } },
	{ 0x8002, 0, { "C=CH, O=Acme, CN=app2", "pubkey", NULL, "C=CH, O=Acme, CN=app2" } },
	{ 0x8004, 0, { "pg.app.example.org", "pubkey", NULL, NULL } },
	{ 0x8005, 0, { "C=CH, O=Acme, CN=app1", "pubkey", NULL, NULL } },
	{ 0x8006, 0, { "C=CH, O=Acme, CN=kim", "pubkey", ops_sans, NULL } },
	{ 0x8007, 5, { "C=CH, O=Acme, CN=app1", "pubkey", NULL, NULL } },
	{ 0x1001, 0, { "C=CH, O=Evil, CN=x", "psk", NULL, NULL } },
	{ 0 }
};
static struct fake_ident_table ident_table = { idents, 0 };

/* ------------------------------------------------------------------ */
/* SAs, installed the way sagated will: as XFRM messages */

static void xaddr(xfrm_address_t *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a) != 1)
		cr_assert_eq(inet_pton(AF_INET6, s, a), 1, "bad address %s", s);
}

static struct xfrm_usersa_info sa_info(const char *src, const char *dst, uint32_t spi,
				       uint8_t proto, uint8_t mode)
{
	struct xfrm_usersa_info p;

	memset(&p, 0, sizeof(p));
	p.family = strchr(dst, ':') ? AF_INET6 : AF_INET;
	xaddr(&p.saddr, src);
	xaddr(&p.id.daddr, dst);
	p.id.spi = htonl(spi);
	p.id.proto = proto;
	p.mode = mode;
	p.reqid = 1;
	p.lft.soft_byte_limit = p.lft.hard_byte_limit = XFRM_INF;
	p.lft.soft_packet_limit = p.lft.hard_packet_limit = XFRM_INF;
	p.lft.soft_add_expires_seconds = 3000;
	p.lft.hard_add_expires_seconds = 3600;
	p.curlft.add_time = NOW - 100;
	return p;
}

static void put_alg(struct nlmsghdr *nlh, uint16_t type, const char *name,
		    uint32_t key_bits, bool third, uint32_t third_val)
{
	unsigned char tmp[200];
	size_t hdr = third ? sizeof(struct xfrm_algo_aead) : sizeof(struct xfrm_algo);
	size_t kb = (key_bits + 7) / 8;

	memset(tmp, 0, sizeof(tmp));
	strncpy((char *)tmp, name, 63);
	memcpy(tmp + 64, &key_bits, 4);
	if (third)
		memcpy(tmp + 68, &third_val, 4);
	memset(tmp + hdr, 0x5a, kb);
	mnl_attr_put(nlh, type, hdr + kb, tmp);
}

struct algs {
	const char *aead;
	uint32_t aead_key;
	const char *crypt;
	uint32_t crypt_key;
	const char *auth;
	uint32_t auth_key, trunc;
};

#define GCM128 { "rfc4106(gcm(aes))", 160, NULL, 0, NULL, 0, 0 }
#define GCM256 { "rfc4106(gcm(aes))", 288, NULL, 0, NULL, 0, 0 }

static void install(const struct xfrm_usersa_info *p, struct algs a)
{
	_Alignas(8) char buf[2048];
	struct nlmsghdr *nlh;
	struct diag_list why = { 0 };

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(*p)), p, sizeof(*p));
	if (a.aead)
		put_alg(nlh, XFRMA_ALG_AEAD, a.aead, a.aead_key, true, 128);
	if (a.auth) {
		put_alg(nlh, XFRMA_ALG_AUTH, a.auth, a.auth_key, false, 0);
		put_alg(nlh, XFRMA_ALG_AUTH_TRUNC, a.auth, a.auth_key, true, a.trunc);
	}
	if (a.crypt)
		put_alg(nlh, XFRMA_ALG_CRYPT, a.crypt, a.crypt_key, false, 0);
	cr_assert_eq(xfrm_cache_apply(sas, nlh, NOW - 100, &why), 1, "%s", diag_last(&why));
}

static void add(const char *src, const char *dst, uint32_t spi, uint8_t proto,
		uint8_t mode, struct algs a)
{
	struct xfrm_usersa_info p = sa_info(src, dst, spi, proto, mode);

	install(&p, a);
}

static void expire(const char *src, const char *dst, uint32_t spi, bool hard)
{
	_Alignas(8) char buf[512];
	struct xfrm_user_expire ue;
	struct nlmsghdr *nlh;
	struct diag_list why = { 0 };

	memset(&ue, 0, sizeof(ue));
	ue.state = sa_info(src, dst, spi, IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	ue.hard = hard;
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_EXPIRE;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(ue)), &ue, sizeof(ue));
	cr_assert_eq(xfrm_cache_apply(sas, nlh, NOW - 10, &why), 1, "%s", diag_last(&why));
}

#define TR XFRM_MODE_TRANSPORT
#define TUN XFRM_MODE_TUNNEL
#define ESP IPPROTO_ESP
#define AH IPPROTO_AH

static void install_sas(void)
{
	struct xfrm_usersa_info p;

	sas = xfrm_cache_alloc();
	cr_assert_not_null(sas);
	/* app-pg: transport from the app servers */
	add("192.0.2.10", "192.0.2.1", 0x1001, ESP, TR, (struct algs)GCM128);
	add("192.0.2.1", "192.0.2.10", 0x1001, ESP, TR, (struct algs)GCM128);	/* outbound twin */
	add("2001:db8::10", "2001:db8::1", 0x1002, ESP, TR, (struct algs)GCM256);
	add("192.0.2.10", "192.0.2.1", 0x1003, ESP, TR,
	    (struct algs){ NULL, 0, "cbc(aes)", 128, "hmac(sha256)", 256, 128 });
	add("192.0.2.10", "192.0.2.1", 0x1004, AH, TR,
	    (struct algs){ NULL, 0, NULL, 0, "hmac(sha256)", 256, 128 });
	add("192.0.2.10", "192.0.2.1", 0x1005, ESP, TR,
	    (struct algs){ NULL, 0, "ecb(cipher_null)", 0, "hmac(sha256)", 256, 128 });
	p = sa_info("192.0.2.10", "192.0.2.1", 0x1006, ESP, TR);
	p.sel.family = AF_INET;
	xaddr(&p.sel.saddr, "192.0.2.10");
	xaddr(&p.sel.daddr, "192.0.2.1");
	p.sel.prefixlen_s = p.sel.prefixlen_d = 32;
	p.sel.proto = IPPROTO_TCP;
	p.sel.dport = htons(5432);
	p.sel.dport_mask = 0xffff;
	install(&p, (struct algs)GCM128);
	add("192.0.2.10", "192.0.2.1", 0x1007, ESP, TR, (struct algs)GCM128);
	expire("192.0.2.10", "192.0.2.1", 0x1007, true);
	add("192.0.2.10", "192.0.2.1", 0x1008, ESP, TR, (struct algs)GCM128);
	expire("192.0.2.10", "192.0.2.1", 0x1008, false);
	p = sa_info("192.0.2.10", "192.0.2.1", 0x1009, ESP, TR);
	p.curlft.add_time = NOW - 4000;		/* past its hard lifetime, no message yet */
	install(&p, (struct algs)GCM128);
	add("192.0.2.10", "192.0.2.1", 0x100a, ESP, TR,
	    (struct algs){ "rfc4543(gcm(aes))", 160, NULL, 0, NULL, 0, 0 });
	add("192.0.2.10", "192.0.2.1", 0x100b, ESP, TR,
	    (struct algs){ "rfc7539esp(chacha20,poly1305)", 288, NULL, 0, NULL, 0, 0 });
	/* integrity-only rule */
	add("192.0.2.20", "192.0.2.1", 0x2001, AH, TR,
	    (struct algs){ NULL, 0, NULL, 0, "hmac(sha256)", 256, 128 });
	add("192.0.2.20", "192.0.2.1", 0x2002, ESP, TR,
	    (struct algs){ NULL, 0, "ecb(cipher_null)", 0, "hmac(sha512)", 512, 256 });
	add("192.0.2.20", "192.0.2.1", 0x2003, ESP, TR,
	    (struct algs){ NULL, 0, "cbc(aes)", 128, NULL, 0, 0 });
	add("192.0.2.20", "192.0.2.1", 0x2004, AH, TR,
	    (struct algs){ NULL, 0, NULL, 0, "hmac(sha1)", 160, 96 });
	/* tunnels */
	add("198.51.100.1", "192.0.2.1", 0x3001, ESP, TUN, (struct algs)GCM128);
	add("198.51.100.99", "192.0.2.1", 0x3002, ESP, TUN, (struct algs)GCM128);
	add("2001:db8:ff::1", "2001:db8::1", 0x3003, ESP, TUN, (struct algs)GCM256);
	add("10.20.0.5", "192.0.2.1", 0x3004, ESP, TR, (struct algs)GCM128);
	add("198.51.100.1", "203.0.113.7", 0x3005, ESP, TUN, (struct algs)GCM128);
	/* reqid */
	p = sa_info("192.0.2.30", "192.0.2.1", 0x4001, ESP, TR);
	p.reqid = 42;
	install(&p, (struct algs)GCM128);
	p = sa_info("192.0.2.30", "192.0.2.1", 0x4002, ESP, TR);
	p.reqid = 7;
	install(&p, (struct algs)GCM128);
	/* mode any */
	add("10.30.1.5", "192.0.2.1", 0x5001, ESP, TR, (struct algs)GCM128);
	add("198.51.100.2", "192.0.2.1", 0x5002, ESP, TUN, (struct algs)GCM128);
	/* one SPI, two protocols */
	add("192.0.2.10", "192.0.2.1", 0x6001, ESP, TR, (struct algs)GCM128);
	add("192.0.2.10", "192.0.2.1", 0x6001, AH, TR,
	    (struct algs){ NULL, 0, NULL, 0, "hmac(sha256)", 256, 128 });
	/* who: identities */
	add("192.0.2.40", "192.0.2.1", 0x8001, ESP, TR, (struct algs)GCM128);
	add("192.0.2.40", "192.0.2.1", 0x8002, ESP, TR, (struct algs)GCM128);
	add("192.0.2.40", "192.0.2.1", 0x8003, ESP, TR, (struct algs)GCM128);
	add("192.0.2.40", "192.0.2.1", 0x8004, ESP, TR, (struct algs)GCM128);
	add("192.0.2.40", "192.0.2.1", 0x8005, ESP, TR,
	    (struct algs){ NULL, 0, "ecb(cipher_null)", 0, "hmac(sha256)", 256, 128 });
	add("192.0.2.40", "192.0.2.1", 0x8006, ESP, TR, (struct algs)GCM128);
	add("192.0.2.40", "192.0.2.1", 0x8007, ESP, TR, (struct algs)GCM128);	/* reqid 1, not 5 */
	/* an odd mode */
	add("192.0.2.10", "192.0.2.1", 0x7001, ESP, XFRM_MODE_BEET, (struct algs)GCM128);
}

static void setup(void)
{
	char dir[] = "/tmp/sagate-decide-XXXXXX", path[64];
	struct diag_list d;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(policy_text, f);
	fclose(f);
	diag_list_init(&d);
	pol = parse_policy_file(path, NULL, &d);
	cr_assert_not_null(pol, "policy rejected: %s", d.count ? d.items[0].message : "?");
	diag_list_fini(&d);
	unlink(path);
	rmdir(dir);
	cls = classify(pol, 0);
	cr_assert_not_null(cls);
	install_sas();
	ctx = (struct decide_ctx){ .policy = pol, .classes = cls, .sas = sas,
				   .ident_lookup = fake_ident_lookup, .ident_ctx = &ident_table };
}

static void teardown(void)
{
	xfrm_cache_free(sas);
	classes_free(cls);
	policy_free(pol);
}

TestSuite(decide, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------ */
/* Packets */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void tcp_syn(uint8_t *t, uint16_t sport, uint16_t dport)
{
	memset(t, 0, 20);
	put16(t, sport);
	put16(t + 2, dport);
	t[4] = 0x12;		/* sequence number */
	t[12] = 5 << 4;		/* data offset: 20 bytes */
	t[13] = 0x02;		/* SYN */
	put16(t + 14, 64240);
}

/* IPv4 + TCP SYN; opts extra bytes of IP options (NOPs).  Returns length. */
static size_t tcp4(uint8_t *b, const char *src, const char *dst, uint16_t dport,
		   size_t opts)
{
	size_t ihl = 20 + opts;

	memset(b, 0, ihl);
	b[0] = (uint8_t)(0x40 | (ihl / 4));
	put16(b + 2, (uint16_t)(ihl + 20));
	put16(b + 4, 0x1234);
	put16(b + 6, 0x4000);	/* DF */
	b[8] = 64;
	b[9] = IPPROTO_TCP;
	cr_assert_eq(inet_pton(AF_INET, src, b + 12), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, b + 16), 1);
	memset(b + 20, 1, opts);
	tcp_syn(b + ihl, 40000, dport);
	return ihl + 20;
}

/* IPv6 [+ hop-by-hop] [+ first fragment] + TCP SYN.  Returns length. */
static size_t tcp6(uint8_t *b, const char *src, const char *dst, uint16_t dport,
		   bool hbh, bool frag)
{
	size_t off = 40;
	uint8_t *nh = b + 6;

	memset(b, 0, 40);
	b[0] = 0x60;
	b[7] = 64;
	cr_assert_eq(inet_pton(AF_INET6, src, b + 8), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, b + 24), 1);
	if (hbh) {
		*nh = 0;
		memset(b + off, 0, 8);
		b[off + 2] = 1;		/* PadN, 4 bytes of padding */
		b[off + 3] = 4;
		nh = b + off;
		off += 8;
	}
	if (frag) {
		*nh = 44;
		memset(b + off, 0, 8);
		b[off + 3] = 1;		/* offset 0, more fragments */
		put16(b + off + 4, 0xbeef);
		nh = b + off;
		off += 8;
	}
	*nh = IPPROTO_TCP;
	tcp_syn(b + off, 40000, dport);
	off += 20;
	put16(b + 4, (uint16_t)(off - 40));
	return off;
}

static size_t tcp_any(uint8_t *b, const char *src, const char *dst, uint16_t dport)
{
	return strchr(src, ':') ? tcp6(b, src, dst, dport, false, false) :
				  tcp4(b, src, dst, dport, 0);
}

/* Decide on an exact-size heap copy, so that ASan sees any over-read. */
static struct verdict decide_copy(const uint8_t *b, size_t len, uint32_t spi)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct verdict v;

	cr_assert_not_null(copy);
	memcpy(copy, b, len);
	v = decide(&ctx, copy, len, spi ? htonl(spi) : 0, NOW);
	free(copy);
	return v;
}

static uint32_t rule_index(const char *name)
{
	for (size_t i = 0; i < pol->nrules; i++)
		if (strcmp(pol->rules[i].name, name) == 0)
			return (uint32_t)i;
	cr_assert_fail("no rule %s", name);
	return CLASS_NONE;
}

/* ------------------------------------------------------------------ */

struct pcase {
	const char *what;
	const char *src, *dst;
	uint16_t dport;
	uint32_t spi;
	enum decide_reason want;
	const char *rule;	/* expected deciding rule, NULL: none */
};

static const struct pcase cases[] = {
	{ "ipv4 transport gcm128", "192.0.2.10", "192.0.2.1", 5432, 0x1001, DECIDE_ACCEPT_OK, "app-pg" },
	{ "ipv6 transport gcm256", "2001:db8::10", "2001:db8::1", 5433, 0x1002, DECIDE_ACCEPT_OK, "app-pg" },
	{ "ipv4 tunnel via gateway", "10.20.0.5", "192.0.2.1", 22, 0x3001, DECIDE_ACCEPT_OK, "branch-ssh" },
	{ "ipv6 tunnel via gateway", "fd20::5", "2001:db8::1", 22, 0x3003, DECIDE_ACCEPT_OK, "branch-ssh" },
	{ "tunnel ending on another local address", "10.20.0.5", "192.0.2.1", 22, 0x3005, DECIDE_ACCEPT_OK, "branch-ssh" },
	{ "integrity-only: AH sha256", "192.0.2.20", "192.0.2.1", 8080, 0x2001, DECIDE_ACCEPT_OK, "integrity" },
	{ "integrity-only: ESP-null sha512", "192.0.2.20", "192.0.2.1", 8080, 0x2002, DECIDE_ACCEPT_OK, "integrity" },
	{ "reqid pinned and equal", "192.0.2.30", "192.0.2.1", 9000, 0x4001, DECIDE_ACCEPT_OK, "pinned" },
	{ "mode any: transport", "10.30.1.5", "192.0.2.1", 443, 0x5001, DECIDE_ACCEPT_OK, "any-mode" },
	{ "mode any: tunnel via listed gateway", "10.30.1.7", "192.0.2.1", 443, 0x5002, DECIDE_ACCEPT_OK, "any-mode" },
	{ "selector admits 5432", "192.0.2.10", "192.0.2.1", 5432, 0x1006, DECIDE_ACCEPT_OK, "app-pg" },

	{ "permit rule is not queued work", "192.0.2.10", "192.0.2.1", 80, 0x1001, DECIDE_DROP_NO_RULE, "web" },
	{ "no rule at all", "192.0.2.10", "192.0.2.1", 1234, 0x1001, DECIDE_DROP_NO_RULE, NULL },
	{ "peer outside the rule", "192.0.2.99", "192.0.2.1", 5432, 0x1001, DECIDE_DROP_NO_RULE, NULL },
	{ "mark 0", "192.0.2.10", "192.0.2.1", 5432, 0, DECIDE_DROP_NO_SPI, "app-pg" },
	{ "unknown SPI", "192.0.2.10", "192.0.2.1", 5432, 0xdead, DECIDE_DROP_SA_UNKNOWN, "app-pg" },
	{ "transport SA to another address", "2001:db8::10", "2001:db8::1", 5432, 0x1001, DECIDE_DROP_SA_UNKNOWN, "app-pg" },
	{ "ESP and AH share the SPI", "192.0.2.10", "192.0.2.1", 5432, 0x6001, DECIDE_DROP_SA_AMBIGUOUS, "app-pg" },
	{ "hard-expired (reported)", "192.0.2.10", "192.0.2.1", 5432, 0x1007, DECIDE_DROP_SA_EXPIRED, "app-pg" },
	{ "soft-expired (dying)", "192.0.2.10", "192.0.2.1", 5432, 0x1008, DECIDE_DROP_SA_EXPIRED, "app-pg" },
	{ "past its hard lifetime", "192.0.2.10", "192.0.2.1", 5432, 0x1009, DECIDE_DROP_SA_EXPIRED, "app-pg" },
	{ "SA of another app server", "192.0.2.11", "192.0.2.1", 5432, 0x1001, DECIDE_DROP_SA_PEER, "app-pg" },
	{ "tunnel SA on a transport rule", "192.0.2.10", "192.0.2.1", 5432, 0x3001, DECIDE_DROP_MODE, "app-pg" },
	{ "transport SA on a tunnel rule", "10.20.0.5", "192.0.2.1", 22, 0x3004, DECIDE_DROP_MODE, "branch-ssh" },
	{ "BEET SA", "192.0.2.10", "192.0.2.1", 5432, 0x7001, DECIDE_DROP_MODE, "app-pg" },
	{ "gateway may not vouch for that inner source", "10.20.1.5", "192.0.2.1", 22, 0x3001, DECIDE_DROP_TUNNEL_GATEWAY, "branch-ssh" },
	{ "unlisted gateway", "10.20.0.5", "192.0.2.1", 22, 0x3002, DECIDE_DROP_TUNNEL_GATEWAY, "branch-ssh" },
	{ "mode any: gateway of another rule", "10.30.1.7", "192.0.2.1", 443, 0x3001, DECIDE_DROP_TUNNEL_GATEWAY, "any-mode" },
	{ "outside the SA's selector", "192.0.2.10", "192.0.2.1", 5433, 0x1006, DECIDE_DROP_SELECTOR, "app-pg" },
	{ "AH where encryption is required", "192.0.2.10", "192.0.2.1", 5432, 0x1004, DECIDE_DROP_NOT_ENCRYPTED, "app-pg" },
	{ "ESP-null where encryption is required", "192.0.2.10", "192.0.2.1", 5432, 0x1005, DECIDE_DROP_NOT_ENCRYPTED, "app-pg" },
	{ "AES-GMAC does not encrypt", "192.0.2.10", "192.0.2.1", 5432, 0x100a, DECIDE_DROP_NOT_ENCRYPTED, "app-pg" },
	{ "cbc+sha256 not in the list", "192.0.2.10", "192.0.2.1", 5432, 0x1003, DECIDE_DROP_ALGORITHM, "app-pg" },
	{ "chacha20 not in the list", "192.0.2.10", "192.0.2.1", 5432, 0x100b, DECIDE_DROP_ALGORITHM, "app-pg" },
	{ "ESP without integrity", "192.0.2.20", "192.0.2.1", 8080, 0x2003, DECIDE_DROP_ALGORITHM, "integrity" },
	{ "AH sha1 not in the default set", "192.0.2.20", "192.0.2.1", 8080, 0x2004, DECIDE_DROP_ALGORITHM, "integrity" },
	{ "reqid differs", "192.0.2.30", "192.0.2.1", 9000, 0x4002, DECIDE_DROP_REQID, "pinned" },
	{ "identity: the DN named", "192.0.2.40", "192.0.2.1", 5500, 0x8001, DECIDE_ACCEPT_OK, "who" },
	{ "identity: FQDN below the suffix", "192.0.2.40", "192.0.2.1", 5500, 0x8004, DECIDE_ACCEPT_OK, "who" },
	{ "identity: a SAN of the certificate", "192.0.2.40", "192.0.2.1", 5500, 0x8006, DECIDE_ACCEPT_OK, "who" },
	{ "identity: another certificate of the CA", "192.0.2.40", "192.0.2.1", 5500, 0x8002, DECIDE_DROP_IDENTITY, "who" },
	{ "identity: none known (SA set by hand)", "192.0.2.40", "192.0.2.1", 5500, 0x8003, DECIDE_DROP_NO_IDENTITY, "who" },
	{ "identity: known for another reqid only", "192.0.2.40", "192.0.2.1", 5500, 0x8007, DECIDE_DROP_NO_IDENTITY, "who" },
	{ "identity right, SA does not encrypt", "192.0.2.40", "192.0.2.1", 5500, 0x8005, DECIDE_DROP_NOT_ENCRYPTED, "who" },
	{ "rule without identities ignores a known one", "192.0.2.10", "192.0.2.1", 5432, 0x1001, DECIDE_ACCEPT_OK, "app-pg" },
};

static void check_case(const struct pcase *c, bool seen[DECIDE_REASON_COUNT])
{
	uint8_t b[128];
	size_t len = tcp_any(b, c->src, c->dst, c->dport);
	struct verdict v = decide_copy(b, len, c->spi);
	uint32_t want_rule = c->rule ? rule_index(c->rule) : CLASS_NONE;

	if (v.reason != c->want || v.accept != (c->want == DECIDE_ACCEPT_OK))
		cr_assert_fail("%s: %s (accept %d), expected %s", c->what,
			       decide_reason_name(v.reason), v.accept,
			       decide_reason_name(c->want));
	if (v.rule != want_rule)
		cr_assert_fail("%s: rule %u, expected %u", c->what, v.rule, want_rule);
	if (v.accept && (!v.sa || v.sa->spi != c->spi))
		cr_assert_fail("%s: accepted without the SA", c->what);
	seen[v.reason] = true;
}

/* Packets the header parser must refuse, each built by hand. */
static void malformed_cases(bool seen[DECIDE_REASON_COUNT])
{
	uint8_t b[160];
	size_t len;
	struct verdict v;

#define EXPECT(what, want) do { \
	v = decide_copy(b, len, 0x1001); \
	if (v.reason != (want) || v.accept) \
		cr_assert_fail("%s: %s, expected %s", what, decide_reason_name(v.reason), \
			       decide_reason_name(want)); \
	seen[v.reason] = true; \
} while (0)

	len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	b[0] = 0x55;
	EXPECT("IP version 5", DECIDE_DROP_MALFORMED);
	len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	b[0] = 0x44;
	EXPECT("IPv4 header length 16", DECIDE_DROP_MALFORMED);
	len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	put16(b + 2, 12);
	EXPECT("IPv4 total length below the header", DECIDE_DROP_MALFORMED);
	len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	put16(b + 2, 30);
	EXPECT("IPv4 total length cutting the TCP header", DECIDE_DROP_MALFORMED);
	len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	put16(b + 6, 185);
	EXPECT("IPv4 non-first fragment", DECIDE_DROP_MALFORMED);
	len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	put16(b + 6, 0x2000);
	put16(b + 2, 24);
	EXPECT("IPv4 first fragment without the TCP header", DECIDE_DROP_MALFORMED);
	len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	b[32] = 4 << 4;
	EXPECT("TCP data offset 4", DECIDE_DROP_MALFORMED);

	len = tcp6(b, "2001:db8::10", "2001:db8::1", 5432, false, false);
	put16(b + 4, 0);
	EXPECT("IPv6 payload length 0", DECIDE_DROP_MALFORMED);
	len = tcp6(b, "2001:db8::10", "2001:db8::1", 5432, false, true);
	put16(b + 42, 8 << 3);
	EXPECT("IPv6 non-first fragment", DECIDE_DROP_MALFORMED);
	len = tcp6(b, "2001:db8::10", "2001:db8::1", 5432, false, true);
	put16(b + 4, 8 + 4);
	EXPECT("IPv6 first fragment without the TCP header", DECIDE_DROP_MALFORMED);
	len = tcp6(b, "2001:db8::10", "2001:db8::1", 5432, true, false);
	b[41] = 200;
	EXPECT("IPv6 hop-by-hop longer than the packet", DECIDE_DROP_MALFORMED);
	len = tcp6(b, "2001:db8::10", "2001:db8::1", 5432, true, true);
	b[6] = 60;	/* destination options first, then hop-by-hop */
	b[40] = 0;
	EXPECT("IPv6 hop-by-hop not first", DECIDE_DROP_MALFORMED);
	len = tcp6(b, "2001:db8::10", "2001:db8::1", 5432, true, false);
	b[40] = 59;
	EXPECT("IPv6 no next header", DECIDE_DROP_MALFORMED);
	len = tcp6(b, "2001:db8::10", "2001:db8::1", 5432, true, true);
	b[40] = 44;	/* hop-by-hop says fragment; fragment says fragment again */
	b[48] = 44;
	EXPECT("IPv6 two fragment headers", DECIDE_DROP_MALFORMED);
	len = 0;
	EXPECT("empty", DECIDE_DROP_TRUNCATED);
#undef EXPECT
}

Test(decide, every_reason_is_produced_and_accepts_work)
{
	bool seen[DECIDE_REASON_COUNT] = { false };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i], seen);
	malformed_cases(seen);
	for (int r = 0; r < DECIDE_REASON_COUNT; r++)
		if (!seen[r])
			cr_assert_fail("no case produced %s", decide_reason_name((enum decide_reason)r));
}

/* sagated without an identity source: identity rules fail closed, the
 * others decide exactly as before and never ask. */
Test(decide, identity_rules_fail_closed_without_a_source)
{
	uint8_t b[128];
	size_t len = tcp4(b, "192.0.2.40", "192.0.2.1", 5500, 0);
	struct verdict v;
	unsigned before;

	ctx.ident_lookup = NULL;
	v = decide_copy(b, len, 0x8001);
	cr_assert_eq(v.reason, DECIDE_DROP_NO_IDENTITY, "%s", decide_reason_name(v.reason));
	cr_assert_not(v.accept);
	cr_assert_null(v.ident);
	len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	v = decide_copy(b, len, 0x1001);
	cr_assert(v.accept);
	ctx.ident_lookup = fake_ident_lookup;
	before = ident_table.lookups;
	v = decide_copy(b, len, 0x1001);
	cr_assert(v.accept);
	cr_assert_eq(ident_table.lookups, before, "a rule without identities looked one up");
	cr_assert_null(v.ident);
	len = tcp4(b, "192.0.2.40", "192.0.2.1", 5500, 0);
	v = decide_copy(b, len, 0x8002);
	cr_assert_not_null(v.ident, "the verdict carries the identity it judged");
	cr_assert_str_eq(v.ident->id, "C=CH, O=Acme, CN=app2");
	cr_assert_str_eq(decide_reason_name(DECIDE_DROP_IDENTITY), "drop-identity");
	cr_assert_str_eq(decide_reason_name(DECIDE_DROP_NO_IDENTITY), "drop-no-identity");
}

Test(decide, ipv6_with_hop_by_hop_and_first_fragment_is_accepted)
{
	uint8_t b[128];
	size_t len = tcp6(b, "2001:db8::10", "2001:db8::1", 5432, true, true);
	struct verdict v = decide_copy(b, len, 0x1002);

	cr_assert_eq(len, 40 + 8 + 8 + 20);
	cr_assert(v.accept, "%s", decide_reason_name(v.reason));
	cr_assert(v.pkt.fragment);
	cr_assert_eq(v.pkt.proto, IPPROTO_TCP);
	cr_assert_eq(v.pkt.l4off, 56);
	cr_assert_eq(v.pkt.dport, 5432);
	cr_assert_eq(v.pkt.sport, 40000);
	cr_assert_eq(v.pkt.key.key, KEY(6, 5432));
	cr_assert_eq(v.spi, 0x1002);
	cr_assert_eq(v.rule, rule_index("app-pg"));
	cr_assert_eq(v.sa->fam, AF6);
}

Test(decide, ipv4_with_options_and_first_fragment)
{
	uint8_t b[128];
	size_t len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 8);
	struct verdict v;

	put16(b + 6, 0x2000);	/* more fragments, offset 0 */
	v = decide_copy(b, len, 0x1001);
	cr_assert(v.accept, "%s", decide_reason_name(v.reason));
	cr_assert(v.pkt.fragment);
	cr_assert_eq(v.pkt.l4off, 28);
}

Test(decide, dying_sa_admits_only_when_configured)
{
	uint8_t b[128];
	size_t len = tcp4(b, "192.0.2.10", "192.0.2.1", 5432, 0);
	struct verdict v;

	ctx.admit_dying = true;
	v = decide_copy(b, len, 0x1008);
	cr_assert(v.accept, "%s", decide_reason_name(v.reason));
	/* hard expiry admits nothing, whatever the setting */
	v = decide_copy(b, len, 0x1007);
	cr_assert_eq(v.reason, DECIDE_DROP_SA_EXPIRED);
	ctx.admit_dying = false;
	v = decide_copy(b, len, 0x1008);
	cr_assert_eq(v.reason, DECIDE_DROP_SA_EXPIRED);
}

/* Every prefix of a valid packet, up to the end of its TCP header: never
 * a crash (ASan sees the exact-size copies), never an accept. */
Test(decide, truncated_packets_of_every_length)
{
	struct {
		uint8_t b[128];
		size_t len;
		uint32_t spi;
	} full[4];

	full[0].len = tcp4(full[0].b, "192.0.2.10", "192.0.2.1", 5432, 0);
	full[0].spi = 0x1001;
	full[1].len = tcp4(full[1].b, "192.0.2.10", "192.0.2.1", 5432, 12);
	full[1].spi = 0x1001;
	full[2].len = tcp6(full[2].b, "2001:db8::10", "2001:db8::1", 5432, false, false);
	full[2].spi = 0x1002;
	full[3].len = tcp6(full[3].b, "2001:db8::10", "2001:db8::1", 5432, true, true);
	full[3].spi = 0x1002;
	for (size_t k = 0; k < 4; k++) {
		struct verdict v = decide_copy(full[k].b, full[k].len, full[k].spi);

		cr_assert(v.accept, "full packet %zu: %s", k, decide_reason_name(v.reason));
		for (size_t len = 0; len < full[k].len; len++) {
			v = decide_copy(full[k].b, len, full[k].spi);
			if (v.accept || v.reason != DECIDE_DROP_TRUNCATED)
				cr_assert_fail("packet %zu cut at %zu: %s", k, len,
					       decide_reason_name(v.reason));
		}
	}
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mangled headers of every kind: no crash, and an accept only ever with
 * a full match (a require-ipsec rule and the SA it checked). */
Test(decide, mangled_packets_never_crash)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	uint8_t base[3][128], b[160];
	size_t blen[3];
	size_t accepts = 0;

	blen[0] = tcp4(base[0], "192.0.2.10", "192.0.2.1", 5432, 0);
	blen[1] = tcp6(base[1], "2001:db8::10", "2001:db8::1", 5432, true, true);
	blen[2] = tcp6(base[2], "fd20::5", "2001:db8::1", 22, false, false);
	for (int i = 0; i < 50000; i++) {
		int k = (int)(xorshift(&s) % 3);
		size_t len = (size_t)(xorshift(&s) % (blen[k] + 16));
		int flips = 1 + (int)(xorshift(&s) % 4);
		uint32_t spi = (uint32_t[]){ 0x1001, 0x1002, 0x3003, 0 }[xorshift(&s) % 4];
		struct verdict v;

		memcpy(b, base[k], blen[k]);
		for (size_t j = blen[k]; j < sizeof(b); j++)
			b[j] = (uint8_t)xorshift(&s);
		for (int f = 0; f < flips; f++)
			b[xorshift(&s) % (blen[k] + 4)] = (uint8_t)xorshift(&s);
		v = decide_copy(b, len, spi);
		if (v.accept) {
			accepts++;
			if (!v.sa || v.rule == CLASS_NONE ||
			    pol->rules[v.rule].action != ACT_REQUIRE_IPSEC)
				cr_assert_fail("accept without a full match (iteration %d)", i);
		}
	}
	cr_log_info("%zu of 50000 mangled packets still matched", accepts);
}

static unsigned lookups;

static uint32_t fixed_lookup(const void *index, const struct packet_key *k)
{
	lookups++;
	return *(const uint32_t *)index;
}

Test(decide, class_lookup_is_replaceable)
{
	uint8_t b[128];
	size_t len = tcp4(b, "192.0.2.10", "192.0.2.1", 1234, 0);
	uint32_t idx = rule_index("app-pg");
	struct verdict v;

	/* the stand-in index claims port 1234 belongs to app-pg */
	ctx.lookup = fixed_lookup;
	ctx.index = &idx;
	v = decide_copy(b, len, 0x1001);
	cr_assert_eq(lookups, 1);
	cr_assert(v.accept, "%s", decide_reason_name(v.reason));
	idx = 4242;	/* out of range: no rule, not a crash */
	v = decide_copy(b, len, 0x1001);
	cr_assert_eq(v.reason, DECIDE_DROP_NO_RULE);
	cr_assert_eq(v.rule, CLASS_NONE);
}

Test(decide, packet_keys_and_selectors)
{
	uint8_t b[64] = { 0 };
	struct decide_pkt p;
	struct xfrm_sel sel = { 0 };

	/* ICMPv6 echo: key without port, type / code where selectors look */
	b[0] = 0x60;
	put16(b + 4, 8);
	b[6] = 58;
	inet_pton(AF_INET6, "fd20::5", b + 8);
	inet_pton(AF_INET6, "2001:db8::1", b + 24);
	b[40] = 128;
	cr_assert_eq(decide_parse(b, 48, &p), DECIDE_ACCEPT_OK);
	cr_assert_eq(p.key.key, KEY(58, 0));
	cr_assert_eq(p.sport, 128);
	cr_assert_eq(p.dport, 0);
	cr_assert_eq(p.key.dir, DIR_IN);
	cr_assert_eq(p.key.fam, AF6);
	{
		struct decide_pkt q;

		cr_assert_eq(decide_parse(b, 43, &q), DECIDE_DROP_TRUNCATED);
	}

	cr_assert(decide_selector_match(&sel, &p));	/* unset: anything */
	sel.set = true;
	sel.fam = AF4;
	cr_assert(decide_selector_match(&sel, &p));	/* no prefixes: any family */
	sel.plen_s = 8;
	cr_assert_not(decide_selector_match(&sel, &p));
	sel.fam = AF6;
	sel.saddr = (u128)0xfd20 << 112;
	sel.plen_s = 16;
	cr_assert(decide_selector_match(&sel, &p));
	sel.proto = 58;
	sel.sport = 128;
	sel.sport_mask = 0xffff;
	cr_assert(decide_selector_match(&sel, &p));
	sel.sport = 129;
	cr_assert_not(decide_selector_match(&sel, &p));
	sel.sport = 128;
	sel.proto = 6;
	cr_assert_not(decide_selector_match(&sel, &p));
	sel.proto = 0;
	sel.plen_d = 128;
	sel.daddr = (u128)0x20010db8 << 96;
	cr_assert_not(decide_selector_match(&sel, &p));
	sel.daddr |= 1;
	cr_assert(decide_selector_match(&sel, &p));

	/* UDP: ports in the key */
	memset(b, 0, sizeof(b));
	tcp4(b, "192.0.2.10", "192.0.2.1", 53, 0);
	b[9] = IPPROTO_UDP;
	put16(b + 2, 28);
	cr_assert_eq(decide_parse(b, 28, &p), DECIDE_ACCEPT_OK);
	cr_assert_eq(p.key.key, KEY(17, 53));
	/* a protocol without ports needs nothing past the IP header */
	b[9] = 47;
	put16(b + 2, 20);
	cr_assert_eq(decide_parse(b, 20, &p), DECIDE_ACCEPT_OK);
	cr_assert_eq(p.key.key, KEY(47, 0));
}

Test(decide, reason_names_are_distinct)
{
	for (int i = 0; i < DECIDE_REASON_COUNT; i++) {
		const char *a = decide_reason_name((enum decide_reason)i);

		if (!a || !*a)
			cr_assert_fail("reason %d has no name", i);
		for (int j = 0; j < i; j++)
			if (strcmp(a, decide_reason_name((enum decide_reason)j)) == 0)
				cr_assert_fail("reasons %d and %d share the name %s", i, j, a);
	}
	cr_assert_str_eq(decide_reason_name(DECIDE_ACCEPT_OK), "accept");
	cr_assert_str_eq(decide_reason_name(DECIDE_DROP_SA_PEER), "drop-sa-peer");
	cr_assert_str_eq(decide_reason_name((enum decide_reason)99), "drop-unknown-reason");
}
