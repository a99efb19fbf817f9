/* XFRM messages -> SA records, and the SA cache.  Messages are built here
 * with libmnl exactly as the kernel lays them out (xfrm_user.c), then
 * broken one attribute at a time. */
#include "config.h"

#include "engine_int.h"
#include "model.h"
#include "xfrm.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ 4096

struct msgbuf {
	_Alignas(8) char b[BUFSZ];
};

static u128 ip(const char *s)
{
	unsigned char b[16];
	u128 v = 0;

	if (inet_pton(AF_INET, s, b) == 1) {
		for (int i = 0; i < 4; i++)
			v = (v << 8) | b[i];
		return v;
	}
	cr_assert_eq(inet_pton(AF_INET6, s, b), 1, "bad address %s", s);
	for (int i = 0; i < 16; i++)
		v = (v << 8) | b[i];
	return v;
}

static void xaddr(xfrm_address_t *a, int family, const char *s)
{
	memset(a, 0, sizeof(*a));
	cr_assert_eq(inet_pton(family, s, a), 1, "bad address %s", s);
}

static struct xfrm_usersa_info sa_info(int family, const char *src, const char *dst,
				       uint32_t spi, uint8_t proto, uint8_t mode)
{
	struct xfrm_usersa_info p;

	memset(&p, 0, sizeof(p));
	p.family = (uint16_t)family;
	xaddr(&p.saddr, family, src);
	xaddr(&p.id.daddr, family, dst);
	p.id.spi = htonl(spi);
	p.id.proto = proto;
	p.mode = mode;
	p.reqid = 1;
	p.lft.soft_byte_limit = p.lft.hard_byte_limit = XFRM_INF;
	p.lft.soft_packet_limit = p.lft.hard_packet_limit = XFRM_INF;
	p.lft.soft_add_expires_seconds = 3000;
	p.lft.hard_add_expires_seconds = 3600;
	p.curlft.add_time = 1700000000;
	return p;
}

static struct nlmsghdr *msg_start(struct msgbuf *m, uint16_t type, const void *hdr,
				  size_t hdrlen)
{
	struct nlmsghdr *nlh;

	memset(m->b, 0, sizeof(m->b));
	nlh = mnl_nlmsg_put_header(m->b);
	nlh->nlmsg_type = type;
	memcpy(mnl_nlmsg_put_extra_header(nlh, hdrlen), hdr, hdrlen);
	return nlh;
}

static struct nlmsghdr *sa_msg(struct msgbuf *m, uint16_t type,
			       const struct xfrm_usersa_info *p)
{
	return msg_start(m, type, p, sizeof(*p));
}

/* An algorithm attribute: head (68 bytes, or 72 with the ICV / truncation
 * field) followed by key_bytes of key, whatever key_bits claims. */
static void put_alg_raw(struct nlmsghdr *nlh, uint16_t type, const char *name,
			uint32_t key_bits, bool third, uint32_t third_val,
			size_t key_bytes)
{
	unsigned char tmp[600];
	size_t hdr = third ? sizeof(struct xfrm_algo_aead) : sizeof(struct xfrm_algo);

	cr_assert_leq(hdr + key_bytes, sizeof(tmp));
	memset(tmp, 0, sizeof(tmp));
	strncpy((char *)tmp, name, 63);
	memcpy(tmp + 64, &key_bits, 4);
	if (third)
		memcpy(tmp + 68, &third_val, 4);
	memset(tmp + hdr, 0xa5, key_bytes);
	mnl_attr_put(nlh, type, hdr + key_bytes, tmp);
}

static void put_aead(struct nlmsghdr *nlh, const char *name, uint32_t key_bits,
		     uint32_t icv_bits)
{
	put_alg_raw(nlh, XFRMA_ALG_AEAD, name, key_bits, true, icv_bits, (key_bits + 7) / 8);
}

static void put_crypt(struct nlmsghdr *nlh, const char *name, uint32_t key_bits)
{
	put_alg_raw(nlh, XFRMA_ALG_CRYPT, name, key_bits, false, 0, (key_bits + 7) / 8);
}

/* As the kernel reports integrity: XFRMA_ALG_AUTH then XFRMA_ALG_AUTH_TRUNC. */
static void put_auth(struct nlmsghdr *nlh, const char *name, uint32_t key_bits,
		     uint32_t trunc_bits)
{
	put_alg_raw(nlh, XFRMA_ALG_AUTH, name, key_bits, false, 0, (key_bits + 7) / 8);
	put_alg_raw(nlh, XFRMA_ALG_AUTH_TRUNC, name, key_bits, true, trunc_bits,
		    (key_bits + 7) / 8);
}

static void put_mark(struct nlmsghdr *nlh, uint32_t v, uint32_t mask)
{
	struct xfrm_mark mk = { v, mask };

	mnl_attr_put(nlh, XFRMA_MARK, sizeof(mk), &mk);
}

static void expect_reject(const struct nlmsghdr *nlh, const char *needle)
{
	struct xfrm_sa sa;
	struct diag_list why = { 0 };

	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), -1, "accepted; expected \"%s\"", needle);
	cr_assert_eq(why.count, 1);
	cr_assert_eq(why.errors, 1);
	cr_assert_str_eq(why.items[0].file, "xfrm");
	cr_assert_not_null(strstr(diag_last(&why), needle), "reason \"%s\" lacks \"%s\"",
			   diag_last(&why), needle);
	diag_list_fini(&why);
}

/* ------------------------------------------------------------------ */

Test(xfrm, newsa_ipv4_aead_every_field)
{
	struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1",
					    0xc0ffee01, IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct msgbuf m;
	struct nlmsghdr *nlh;
	struct xfrm_sa sa;
	struct diag_list why = { 0 };

	p.reqid = 77;
	p.flags = XFRM_STATE_ESN;
	p.sel.family = AF_INET;
	xaddr(&p.sel.saddr, AF_INET, "192.0.2.10");
	xaddr(&p.sel.daddr, AF_INET, "192.0.2.1");
	p.sel.prefixlen_s = p.sel.prefixlen_d = 32;
	p.sel.proto = IPPROTO_TCP;
	p.sel.dport = htons(5432);
	p.sel.dport_mask = 0xffff;
	p.curlft.use_time = 1700000100;
	p.curlft.bytes = 1234;
	p.curlft.packets = 5;
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);

	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(sa.fam, AF4);
	cr_assert(sa.saddr == ip("192.0.2.10"));
	cr_assert(sa.daddr == ip("192.0.2.1"));
	cr_assert_eq(sa.spi, 0xc0ffee01);
	cr_assert_eq(xfrm_sa_handover(&sa), htonl(0xc0ffee01));
	cr_assert_eq(xfrm_spi_from_handover(xfrm_sa_handover(&sa)), 0xc0ffee01);
	cr_assert_eq(sa.proto, XFRM_PROTO_ESP);
	cr_assert_eq(sa.mode, XFRM_SA_TRANSPORT);
	cr_assert_eq(sa.kmode, XFRM_MODE_TRANSPORT);
	cr_assert_eq(sa.reqid, 77);
	cr_assert_eq(sa.flags, XFRM_STATE_ESN);
	cr_assert_eq(sa.mark_v, 0);
	cr_assert_eq(sa.mark_m, 0);
	cr_assert_eq(sa.if_id, 0);
	cr_assert_eq(sa.dir, 0);
	cr_assert_not(sa.encap);
	cr_assert_not(sa.comp);
	cr_assert(sa.aead.present);
	cr_assert_str_eq(sa.aead.name, "rfc4106(gcm(aes))");
	cr_assert_eq(sa.aead.key_bits, 160);
	cr_assert_eq(sa.aead.icv_bits, 128);
	cr_assert_eq(sa.aead.bit, ALG_AES128GCM16);
	cr_assert_not(sa.crypt.present);
	cr_assert_not(sa.auth.present);
	cr_assert(xfrm_sa_encrypts(&sa));
	cr_assert_eq(sa.life.add_time, 1700000000);
	cr_assert_eq(sa.life.use_time, 1700000100);
	cr_assert_eq(sa.life.bytes, 1234);
	cr_assert_eq(sa.life.packets, 5);
	cr_assert_eq(sa.life.soft_add, 3000);
	cr_assert_eq(sa.life.hard_add, 3600);
	cr_assert_eq(sa.life.soft_use, 0);
	cr_assert_eq(sa.life.hard_use, 0);
	cr_assert_eq(sa.life.hard_bytes, XFRM_INF);
	cr_assert_eq(sa.life.soft_packets, XFRM_INF);
	cr_assert(sa.sel.set);
	cr_assert_eq(sa.sel.fam, AF4);
	cr_assert(sa.sel.saddr == ip("192.0.2.10"));
	cr_assert(sa.sel.daddr == ip("192.0.2.1"));
	cr_assert_eq(sa.sel.plen_s, 32);
	cr_assert_eq(sa.sel.plen_d, 32);
	cr_assert_eq(sa.sel.proto, IPPROTO_TCP);
	cr_assert_eq(sa.sel.dport, 5432);
	cr_assert_eq(sa.sel.dport_mask, 0xffff);
	cr_assert_eq(sa.sel.sport_mask, 0);
	cr_assert_not(sa.key_only);
	cr_assert_not(sa.dying);
	cr_assert_not(sa.expired);
	cr_assert_not(xfrm_sa_expired(&sa, 1700000000 + 3599));
	cr_assert(xfrm_sa_expired(&sa, 1700000000 + 3600));
	cr_assert_not(xfrm_sa_dying(&sa, 1700000000 + 2999));
	cr_assert(xfrm_sa_dying(&sa, 1700000000 + 3000));
}

Test(xfrm, newsa_ipv6_tunnel_cbc_hmac_as_the_kernel_sends_it)
{
	struct xfrm_usersa_info p = sa_info(AF_INET6, "2001:db8:ff::1", "2001:db8::1",
					    0x2000, IPPROTO_ESP, XFRM_MODE_TUNNEL);
	struct xfrm_encap_tmpl encap = { .encap_type = 2, .encap_sport = htons(4500),
					 .encap_dport = htons(4500) };
	struct xfrm_lifetime_cur cur = { .bytes = 99, .packets = 3,
					 .add_time = 1700000500, .use_time = 1700000600 };
	struct xfrm_replay_state rs = { 0 };
	struct msgbuf m;
	struct nlmsghdr *nlh;
	struct xfrm_sa sa;
	struct diag_list why = { 0 };

	p.flags = XFRM_STATE_AF_UNSPEC;		/* strongSwan: tunnel SAs have no selector */
	p.reqid = 9;
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	mnl_attr_put_u64(nlh, XFRMA_LASTUSED, 1700000700);
	put_auth(nlh, "hmac(sha256)", 256, 128);
	put_crypt(nlh, "cbc(aes)", 256);
	mnl_attr_put(nlh, XFRMA_ENCAP, sizeof(encap), &encap);
	put_mark(nlh, 0x10, 0xff);
	mnl_attr_put(nlh, XFRMA_REPLAY_VAL, sizeof(rs), &rs);
	mnl_attr_put_u32(nlh, XFRMA_IF_ID, 7);
	mnl_attr_put(nlh, XFRMA_LTIME_VAL, sizeof(cur), &cur);
	mnl_attr_put_u8(nlh, 33 /* XFRMA_SA_DIR */, XFRM_SA_IN);

	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(sa.fam, AF6);
	cr_assert(sa.saddr == ip("2001:db8:ff::1"));
	cr_assert(sa.daddr == ip("2001:db8::1"));
	cr_assert_eq(sa.spi, 0x2000);
	cr_assert_eq(sa.mode, XFRM_SA_TUNNEL);
	cr_assert_eq(sa.reqid, 9);
	cr_assert_not(sa.sel.set);
	cr_assert(sa.encap);
	cr_assert_eq(sa.mark_v, 0x10);
	cr_assert_eq(sa.mark_m, 0xff);
	cr_assert_eq(sa.if_id, 7);
	cr_assert_eq(sa.dir, XFRM_SA_IN);
	cr_assert_not(sa.aead.present);
	cr_assert(sa.crypt.present);
	cr_assert_str_eq(sa.crypt.name, "cbc(aes)");
	cr_assert_eq(sa.crypt.key_bits, 256);
	cr_assert_eq(sa.crypt.icv_bits, 0);
	cr_assert_eq(sa.crypt.bit, ALG_AES256);
	cr_assert(sa.auth.present);
	cr_assert_str_eq(sa.auth.name, "hmac(sha256)");
	cr_assert_eq(sa.auth.key_bits, 256);
	cr_assert_eq(sa.auth.icv_bits, 128);
	cr_assert_eq(sa.auth.bit, ALG_SHA256);
	cr_assert(xfrm_sa_encrypts(&sa));
	/* XFRMA_LTIME_VAL overrides the header's current lifetime */
	cr_assert_eq(sa.life.add_time, 1700000500);
	cr_assert_eq(sa.life.use_time, 1700000600);
	cr_assert_eq(sa.life.bytes, 99);
	cr_assert_eq(sa.life.packets, 3);
}

Test(xfrm, ah_and_esp_null_are_integrity_only)
{
	struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.20", "192.0.2.1", 0x3000,
					    IPPROTO_AH, XFRM_MODE_TRANSPORT);
	struct msgbuf m;
	struct nlmsghdr *nlh;
	struct xfrm_sa sa;
	struct diag_list why = { 0 };

	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_auth(nlh, "hmac(sha256)", 256, 128);
	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(sa.proto, XFRM_PROTO_AH);
	cr_assert_eq(sa.auth.bit, ALG_SHA256);
	cr_assert_not(xfrm_sa_encrypts(&sa));

	/* only the untruncated attribute: the kernel's default truncation
	 * for SHA-256 is 96 bits, which is not our sha256 */
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_alg_raw(nlh, XFRMA_ALG_AUTH, "hmac(sha256)", 256, false, 0, 32);
	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(sa.auth.icv_bits, 96);
	cr_assert_eq(sa.auth.bit, 0);

	p = sa_info(AF_INET, "192.0.2.20", "192.0.2.1", 0x3001, IPPROTO_ESP,
		    XFRM_MODE_TRANSPORT);
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_auth(nlh, "hmac(sha512)", 512, 256);
	put_crypt(nlh, "ecb(cipher_null)", 0);
	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(sa.crypt.bit, ALG_NULL);
	cr_assert_eq(sa.auth.bit, ALG_SHA512);
	cr_assert_not(xfrm_sa_encrypts(&sa));

	/* AES-GMAC has the AEAD shape but does not encrypt */
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4543(gcm(aes))", 160, 128);
	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(sa.aead.bit, 0);
	cr_assert_not(xfrm_sa_encrypts(&sa));
}

Test(xfrm, algorithm_names_map_to_bits)
{
	static const struct {
		enum xfrm_alg_kind kind;
		const char *name;
		uint32_t key, icv, bit;
	} t[] = {
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 160, 128, ALG_AES128GCM16 },
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 224, 128, ALG_AES192GCM16 },
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 288, 128, ALG_AES256GCM16 },
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 128, 128, 0 },	/* no salt */
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 160, 64, 0 },	/* gcm8 */
		{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 288, 96, 0 },	/* gcm12 */
		{ XFRM_ALG_AEAD, "rfc7539esp(chacha20,poly1305)", 288, 128, ALG_CHACHA20POLY1305 },
		{ XFRM_ALG_AEAD, "rfc7539esp(chacha20,poly1305)", 256, 128, 0 },
		{ XFRM_ALG_AEAD, "rfc4309(ccm(aes))", 152, 128, 0 },
		{ XFRM_ALG_AEAD, "rfc4543(gcm(aes))", 160, 128, 0 },
		{ XFRM_ALG_CRYPT, "cbc(aes)", 128, 0, ALG_AES128 },
		{ XFRM_ALG_CRYPT, "cbc(aes)", 192, 0, ALG_AES192 },
		{ XFRM_ALG_CRYPT, "cbc(aes)", 256, 0, ALG_AES256 },
		{ XFRM_ALG_CRYPT, "cbc(aes)", 64, 0, 0 },
		{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 160, 0, ALG_AES128CTR },
		{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 224, 0, 0 },
		{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 288, 0, ALG_AES256CTR },
		{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 128, 0, 0 },	/* no nonce */
		{ XFRM_ALG_CRYPT, "ecb(cipher_null)", 0, 0, ALG_NULL },
		{ XFRM_ALG_CRYPT, "cbc(des3_ede)", 192, 0, 0 },
		{ XFRM_ALG_CRYPT, "aes", 128, 0, 0 },		/* aliases are not reported */
		{ XFRM_ALG_AUTH, "hmac(sha1)", 160, 96, ALG_SHA1 },
		{ XFRM_ALG_AUTH, "hmac(sha1)", 160, 160, 0 },
		{ XFRM_ALG_AUTH, "hmac(sha256)", 256, 128, ALG_SHA256 },
		{ XFRM_ALG_AUTH, "hmac(sha256)", 256, 96, 0 },
		{ XFRM_ALG_AUTH, "hmac(sha256)", 256, 256, 0 },
		{ XFRM_ALG_AUTH, "hmac(sha384)", 384, 192, ALG_SHA384 },
		{ XFRM_ALG_AUTH, "hmac(sha512)", 512, 256, ALG_SHA512 },
		{ XFRM_ALG_AUTH, "hmac(md5)", 128, 96, 0 },
		{ XFRM_ALG_AUTH, "xcbc(aes)", 128, 96, 0 },
		{ XFRM_ALG_AUTH, "cbc(aes)", 128, 0, 0 },		/* right name, wrong kind */
		{ XFRM_ALG_CRYPT, "hmac(sha256)", 256, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint32_t got = xfrm_alg_bit(t[i].kind, t[i].name, t[i].key, t[i].icv);

		if (got != t[i].bit)
			cr_assert_fail("%s key %u icv %u: bit 0x%x, expected 0x%x", t[i].name,
				       t[i].key, t[i].icv, got, t[i].bit);
	}
}

Test(xfrm, updsa_parses_like_newsa)
{
	struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x4000,
					    IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct msgbuf m;
	struct nlmsghdr *nlh = sa_msg(&m, XFRM_MSG_UPDSA, &p);
	struct xfrm_sa sa;
	struct diag_list why = { 0 };

	put_aead(nlh, "rfc7539esp(chacha20,poly1305)", 288, 128);
	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(sa.spi, 0x4000);
	cr_assert_eq(sa.aead.bit, ALG_CHACHA20POLY1305);
}

static struct nlmsghdr *delsa_msg(struct msgbuf *m, const struct xfrm_usersa_info *p,
				  bool with_sa)
{
	struct xfrm_usersa_id id;
	struct nlmsghdr *nlh;

	memset(&id, 0, sizeof(id));
	id.daddr = p->id.daddr;
	id.spi = p->id.spi;
	id.family = p->family;
	id.proto = p->id.proto;
	nlh = msg_start(m, XFRM_MSG_DELSA, &id, sizeof(id));
	if (with_sa)
		mnl_attr_put(nlh, XFRMA_SA, sizeof(*p), p);
	return nlh;
}

Test(xfrm, delsa_carries_the_sa_in_an_attribute)
{
	struct xfrm_usersa_info p = sa_info(AF_INET6, "2001:db8::10", "2001:db8::1", 0x5000,
					    IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct msgbuf m;
	struct nlmsghdr *nlh;
	struct xfrm_sa sa;
	struct diag_list why = { 0 };

	p.reqid = 5;
	nlh = delsa_msg(&m, &p, true);
	put_aead(nlh, "rfc4106(gcm(aes))", 288, 128);
	put_mark(nlh, 3, 0xffffffff);
	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_not(sa.key_only);
	cr_assert_eq(sa.fam, AF6);
	cr_assert(sa.saddr == ip("2001:db8::10"));
	cr_assert(sa.daddr == ip("2001:db8::1"));
	cr_assert_eq(sa.spi, 0x5000);
	cr_assert_eq(sa.reqid, 5);
	cr_assert_eq(sa.aead.bit, ALG_AES256GCM16);
	cr_assert_eq(sa.mark_v, 3);
	cr_assert_eq(sa.mark_m, 0xffffffff);

	/* without XFRMA_SA: the key is enough to delete */
	nlh = delsa_msg(&m, &p, false);
	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert(sa.key_only);
	cr_assert_eq(sa.spi, 0x5000);
	cr_assert_eq(sa.proto, XFRM_PROTO_ESP);
	cr_assert(sa.daddr == ip("2001:db8::1"));

	/* id and XFRMA_SA must name the same SA */
	{
		struct xfrm_usersa_info q = p;

		q.id.spi = htonl(0x5001);
		nlh = delsa_msg(&m, &p, false);
		mnl_attr_put(nlh, XFRMA_SA, sizeof(q), &q);
		expect_reject(nlh, "name different SAs");
	}
	/* XFRMA_SA of the wrong size */
	nlh = delsa_msg(&m, &p, false);
	mnl_attr_put(nlh, XFRMA_SA, sizeof(p) - 8, &p);
	expect_reject(nlh, "XFRMA_SA: 216 bytes, expected 224");
}

Test(xfrm, expire_soft_and_hard)
{
	struct xfrm_user_expire ue;
	struct msgbuf m;
	struct nlmsghdr *nlh;
	struct xfrm_sa sa;
	bool hard = true;
	struct diag_list why = { 0 };

	memset(&ue, 0, sizeof(ue));
	ue.state = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x6000, IPPROTO_ESP,
			   XFRM_MODE_TRANSPORT);
	ue.hard = 0;
	nlh = msg_start(&m, XFRM_MSG_EXPIRE, &ue, sizeof(ue));
	put_mark(nlh, 1, 1);
	cr_assert_eq(xfrm_parse_expire(nlh, &sa, &hard, &why), 0, "%s", diag_last(&why));
	cr_assert_not(hard);
	cr_assert_eq(sa.spi, 0x6000);
	cr_assert_eq(sa.proto, XFRM_PROTO_ESP);
	cr_assert(sa.daddr == ip("192.0.2.1"));
	cr_assert(sa.saddr == ip("192.0.2.10"));
	cr_assert_eq(sa.mark_v, 1);
	cr_assert_eq(sa.mark_m, 1);

	ue.hard = 1;
	nlh = msg_start(&m, XFRM_MSG_EXPIRE, &ue, sizeof(ue));
	cr_assert_eq(xfrm_parse_expire(nlh, &sa, &hard, &why), 0, "%s", diag_last(&why));
	cr_assert(hard);

	ue.hard = 7;
	nlh = msg_start(&m, XFRM_MSG_EXPIRE, &ue, sizeof(ue));
	cr_assert_eq(xfrm_parse_expire(nlh, &sa, &hard, &why), -1);
	cr_assert_not_null(strstr(diag_last(&why), "hard flag 7"), "%s", diag_last(&why));

	/* truncated expire header */
	nlh = msg_start(&m, XFRM_MSG_EXPIRE, &ue, 200);
	cr_assert_eq(xfrm_parse_expire(nlh, &sa, &hard, &why), -1);
	cr_assert_not_null(strstr(diag_last(&why), "shorter than its 232-byte header"), "%s", diag_last(&why));

	/* an SA message is not an expire, nor the other way round */
	nlh = msg_start(&m, XFRM_MSG_NEWSA, &ue.state, sizeof(ue.state));
	cr_assert_eq(xfrm_parse_expire(nlh, &sa, &hard, &why), -1);
	cr_assert_eq(why.errors, 3, "one reason per rejected message");
	diag_list_fini(&why);
	nlh = msg_start(&m, XFRM_MSG_EXPIRE, &ue, sizeof(ue));
	expect_reject(nlh, "not an SA message");
}

/* ------------------------------------------------------------------ */
/* Malformed messages: each rejected with its reason. */

static struct nlmsghdr *good_msg(struct msgbuf *m)
{
	struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x7000,
					    IPPROTO_ESP, XFRM_MODE_TRANSPORT);

	return sa_msg(m, XFRM_MSG_NEWSA, &p);
}

Test(xfrm, zero_length_and_truncated_headers)
{
	struct msgbuf m;
	struct nlmsghdr *nlh = good_msg(&m);
	struct xfrm_sa sa;
	struct diag_list why = { 0 };

	nlh->nlmsg_len = 0;
	expect_reject(nlh, "shorter than a netlink header");
	nlh->nlmsg_len = 10;
	expect_reject(nlh, "shorter than a netlink header");
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN;
	expect_reject(nlh, "XFRM_MSG_NEWSA: 0 payload bytes, shorter than its 224-byte header");
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 100;
	expect_reject(nlh, "XFRM_MSG_NEWSA: 100 payload bytes");
	nlh->nlmsg_type = XFRM_MSG_DELSA;
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 20;
	expect_reject(nlh, "XFRM_MSG_DELSA: 20 payload bytes, shorter than its 24-byte header");
	cr_assert_eq(xfrm_parse_sa(NULL, &sa, &why), -1);
	cr_assert_str_eq(diag_last(&why), "no message");
	diag_list_fini(&why);

	/* a policy message is not an SA */
	nlh = good_msg(&m);
	nlh->nlmsg_type = XFRM_MSG_NEWPOLICY;
	expect_reject(nlh, "not an SA message");
}

Test(xfrm, attribute_headers_that_lie)
{
	struct msgbuf m;
	struct nlmsghdr *nlh;
	struct nlattr *a;

	/* nla_len below its own header */
	nlh = good_msg(&m);
	a = mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put_u32(nlh, XFRMA_IF_ID, 1);
	a->nla_len = 2;
	expect_reject(nlh, "length 2 is below the 4-byte attribute header");

	/* nla_len running past the end of the message */
	nlh = good_msg(&m);
	a = mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put_u32(nlh, XFRMA_IF_ID, 1);
	a->nla_len = 64;
	expect_reject(nlh, "length 64 runs beyond the 8 bytes left");

	/* the message ends inside an attribute header */
	nlh = good_msg(&m);
	nlh->nlmsg_len += 2;
	expect_reject(nlh, "2 stray bytes after the last attribute");
}

Test(xfrm, attributes_shorter_than_their_struct)
{
	struct msgbuf m;
	struct nlmsghdr *nlh;
	char small[10] = "gcm", zeros[256] = { 0 };

	nlh = good_msg(&m);
	mnl_attr_put(nlh, XFRMA_ALG_AEAD, sizeof(small), small);
	expect_reject(nlh, "XFRMA_ALG_AEAD: 10 bytes, shorter than its 72-byte struct");

	nlh = good_msg(&m);
	mnl_attr_put(nlh, XFRMA_ALG_CRYPT, sizeof(small), small);
	expect_reject(nlh, "XFRMA_ALG_CRYPT: 10 bytes, shorter than its 68-byte struct");

	nlh = good_msg(&m);
	mnl_attr_put(nlh, XFRMA_ALG_AUTH_TRUNC, 70, zeros);
	expect_reject(nlh, "XFRMA_ALG_AUTH_TRUNC: 70 bytes, shorter than its 72-byte struct");

	nlh = good_msg(&m);
	mnl_attr_put_u32(nlh, XFRMA_MARK, 1);
	expect_reject(nlh, "XFRMA_MARK: 4 bytes, expected 8");

	nlh = good_msg(&m);
	mnl_attr_put_u16(nlh, XFRMA_IF_ID, 1);
	expect_reject(nlh, "XFRMA_IF_ID: 2 bytes, expected 4");

	nlh = good_msg(&m);
	mnl_attr_put_u32(nlh, XFRMA_LTIME_VAL, 1);
	expect_reject(nlh, "XFRMA_LTIME_VAL: 4 bytes, expected 32");

	nlh = good_msg(&m);
	mnl_attr_put_u32(nlh, XFRMA_ENCAP, 1);
	expect_reject(nlh, "XFRMA_ENCAP: 4 bytes, expected 24");

	nlh = good_msg(&m);
	mnl_attr_put_u32(nlh, XFRMA_LASTUSED, 1);
	expect_reject(nlh, "XFRMA_LASTUSED: 4 bytes, expected 8");

	nlh = good_msg(&m);
	mnl_attr_put(nlh, XFRMA_TMPL, sizeof(struct xfrm_user_tmpl) + 4, zeros);
	expect_reject(nlh, "XFRMA_TMPL");
}

Test(xfrm, algorithm_key_length_must_match_attribute_size)
{
	struct msgbuf m;
	struct nlmsghdr *nlh;

	/* claims 288 key bits (36 bytes) but carries 16 */
	nlh = good_msg(&m);
	put_alg_raw(nlh, XFRMA_ALG_AEAD, "rfc4106(gcm(aes))", 288, true, 128, 16);
	expect_reject(nlh, "XFRMA_ALG_AEAD: key length 288 bits needs 36 key bytes, the attribute holds 16");

	/* claims 128 bits but carries 32 bytes */
	nlh = good_msg(&m);
	put_alg_raw(nlh, XFRMA_ALG_CRYPT, "cbc(aes)", 128, false, 0, 32);
	expect_reject(nlh, "XFRMA_ALG_CRYPT: key length 128 bits needs 16 key bytes, the attribute holds 32");

	/* a key length that would overflow 32-bit arithmetic */
	nlh = good_msg(&m);
	put_alg_raw(nlh, XFRMA_ALG_AUTH, "hmac(sha1)", 0xfffffffu, false, 0, 4);
	expect_reject(nlh, "XFRMA_ALG_AUTH: key length");

	nlh = good_msg(&m);
	put_alg_raw(nlh, XFRMA_ALG_AUTH_TRUNC, "hmac(sha1)", 160, true, 96, 0);
	expect_reject(nlh, "XFRMA_ALG_AUTH_TRUNC: key length 160 bits needs 20 key bytes, the attribute holds 0");

	nlh = good_msg(&m);
	put_alg_raw(nlh, XFRMA_ALG_COMP, "deflate", 8, false, 0, 0);
	expect_reject(nlh, "XFRMA_ALG_COMP: key length 8 bits");
}

Test(xfrm, inconsistent_messages)
{
	struct msgbuf m;
	struct nlmsghdr *nlh;
	unsigned char name[80];

	/* name filling all 64 bytes without a terminator */
	nlh = good_msg(&m);
	memset(name, 'a', sizeof(name));
	memset(name + 64, 0, 8);
	mnl_attr_put(nlh, XFRMA_ALG_CRYPT, 68, name);
	expect_reject(nlh, "not NUL-terminated");

	nlh = good_msg(&m);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	put_crypt(nlh, "cbc(aes)", 128);
	expect_reject(nlh, "an AEAD together with a cipher");

	{
		struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 1,
						    IPPROTO_AH, XFRM_MODE_TRANSPORT);

		nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
		put_auth(nlh, "hmac(sha256)", 256, 128);
		put_crypt(nlh, "cbc(aes)", 128);
		expect_reject(nlh, "an AH SA with an encryption algorithm");
	}

	nlh = good_msg(&m);
	put_alg_raw(nlh, XFRMA_ALG_AUTH, "hmac(sha1)", 160, false, 0, 20);
	put_alg_raw(nlh, XFRMA_ALG_AUTH_TRUNC, "hmac(sha256)", 256, true, 128, 32);
	expect_reject(nlh, "disagree");

	{
		struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 1,
						    IPPROTO_ESP, XFRM_MODE_TRANSPORT);

		p.family = AF_UNIX;
		nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
		expect_reject(nlh, "SA family 1 is neither");

		p.family = AF_INET;
		p.sel.family = AF_INET;
		p.sel.prefixlen_s = 33;
		nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
		expect_reject(nlh, "selector prefix length /33");

		p.sel.prefixlen_s = 32;
		p.sel.family = 99;
		nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
		expect_reject(nlh, "selector family 99");
	}

	{
		struct xfrm_user_sec_ctx u = { .len = 50, .ctx_len = 4 };
		unsigned char buf[12] = { 0 };

		memcpy(buf, &u, sizeof(u));
		nlh = good_msg(&m);
		mnl_attr_put(nlh, XFRMA_SEC_CTX, sizeof(buf), buf);
		expect_reject(nlh, "XFRMA_SEC_CTX: context length 4 disagrees");
	}
	{
		struct xfrm_replay_state_esn e = { .bmp_len = 4 };

		nlh = good_msg(&m);
		mnl_attr_put(nlh, XFRMA_REPLAY_ESN_VAL, sizeof(e), &e);
		expect_reject(nlh, "XFRMA_REPLAY_ESN_VAL: bitmap of 4 words");
	}
}

Test(xfrm, unknown_attributes_are_skipped)
{
	struct msgbuf m;
	struct nlmsghdr *nlh = good_msg(&m);
	struct xfrm_sa sa;
	char blob[13] = "whatever-123";
	struct diag_list why = { 0 };

	mnl_attr_put(nlh, 40, sizeof(blob), blob);
	mnl_attr_put(nlh, 200, 0, blob);
	mnl_attr_put_u64(nlh, XFRMA_PAD, 0);
	mnl_attr_put(nlh, NLA_F_NESTED | 1000, sizeof(blob), blob);
	put_aead(nlh, "rfc4106(gcm(aes))", 288, 128);
	mnl_attr_put(nlh, 34, 3, blob);		/* a newer kernel's attribute */
	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_eq(sa.aead.bit, ALG_AES256GCM16);
	cr_assert_eq(sa.spi, 0x7000);
}

Test(xfrm, larval_sa_without_algorithms_parses_but_satisfies_nothing)
{
	struct msgbuf m;
	struct nlmsghdr *nlh = good_msg(&m);
	struct xfrm_sa sa;
	struct diag_list why = { 0 };

	cr_assert_eq(xfrm_parse_sa(nlh, &sa, &why), 0, "%s", diag_last(&why));
	cr_assert_not(sa.aead.present || sa.crypt.present || sa.auth.present);
	cr_assert_not(xfrm_sa_encrypts(&sa));
}

/* ------------------------------------------------------------------ */
/* Cache */

static int apply(struct xfrm_cache *c, const struct nlmsghdr *nlh, uint64_t now)
{
	struct diag_list why = { 0 };
	int rc = xfrm_cache_apply(c, nlh, now, &why);

	if (rc < 0)
		cr_log_info("apply: %s", diag_last(&why));
	diag_list_fini(&why);
	return rc;
}

static struct xfrm_sa key_of(int family, const char *dst, uint32_t spi, uint8_t proto)
{
	struct xfrm_sa k;

	memset(&k, 0, sizeof(k));
	k.fam = family == AF_INET ? AF4 : AF6;
	k.daddr = ip(dst);
	k.spi = spi;
	k.proto = proto;
	return k;
}

Test(xfrm, cache_add_update_expire_delete)
{
	struct xfrm_cache *c = xfrm_cache_alloc();
	struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x100,
					    IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct xfrm_sa k = key_of(AF_INET, "192.0.2.1", 0x100, XFRM_PROTO_ESP);
	struct xfrm_user_expire ue;
	const struct xfrm_sa *sa;
	struct msgbuf m;
	struct nlmsghdr *nlh;

	cr_assert_not_null(c);
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	cr_assert_eq(apply(c, nlh, 100), 1);
	cr_assert_eq(xfrm_cache_count(c), 1);
	sa = xfrm_cache_find(c, &k);
	cr_assert_not_null(sa);
	cr_assert_eq(sa->reqid, 1);
	cr_assert_eq(xfrm_cache_lookup(c, 0x100, AF4, ip("192.0.2.1"), &sa), 1);
	cr_assert_eq(sa->spi, 0x100);
	cr_assert_eq(xfrm_cache_lookup(c, 0x101, AF4, ip("192.0.2.1"), &sa), 0);
	cr_assert_null(sa);

	/* update: the message is what was asked for, not the SA (the
	 * kernel keeps a valid SA's transforms): the entry goes until the
	 * kernel's answer to a GETSA, a NEWSA, brings the SA back */
	p.reqid = 2;
	nlh = sa_msg(&m, XFRM_MSG_UPDSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 288, 128);
	cr_assert_eq(apply(c, nlh, 100), XFRM_APPLY_CONFIRM);
	cr_assert_eq(xfrm_cache_count(c), 0);
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 288, 128);
	cr_assert_eq(apply(c, nlh, 100), 1);
	cr_assert_eq(xfrm_cache_count(c), 1);
	sa = xfrm_cache_find(c, &k);
	cr_assert_eq(sa->reqid, 2);
	cr_assert_eq(sa->aead.bit, ALG_AES256GCM16);

	/* soft expiry: dying; an update clears it, as in the kernel */
	memset(&ue, 0, sizeof(ue));
	ue.state = p;
	nlh = msg_start(&m, XFRM_MSG_EXPIRE, &ue, sizeof(ue));
	cr_assert_eq(apply(c, nlh, 200), 1);
	cr_assert(xfrm_cache_find(c, &k)->dying);
	cr_assert_not(xfrm_cache_find(c, &k)->expired);
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 288, 128);
	cr_assert_eq(apply(c, nlh, 210), 1);
	cr_assert_not(xfrm_cache_find(c, &k)->dying);

	/* hard expiry: a tombstone until swept */
	ue.hard = 1;
	nlh = msg_start(&m, XFRM_MSG_EXPIRE, &ue, sizeof(ue));
	cr_assert_eq(apply(c, nlh, 300), 1);
	sa = xfrm_cache_find(c, &k);
	cr_assert(sa->expired);
	cr_assert_eq(sa->expired_at, 300);
	cr_assert(xfrm_sa_expired(sa, 0));
	cr_assert_eq(xfrm_cache_sweep(c, 329, 30), 0);
	cr_assert_eq(xfrm_cache_sweep(c, 330, 30), 1);
	cr_assert_eq(xfrm_cache_count(c), 0);
	/* an expiry for an SA we do not hold changes nothing */
	cr_assert_eq(apply(c, nlh, 400), 0);

	/* delete */
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	cr_assert_eq(apply(c, nlh, 500), 1);
	nlh = delsa_msg(&m, &p, true);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	cr_assert_eq(apply(c, nlh, 510), 1);
	cr_assert_eq(xfrm_cache_count(c), 0);
	cr_assert_eq(apply(c, nlh, 520), 0);

	/* other message types are not ours; broken ones change nothing */
	nlh = good_msg(&m);
	nlh->nlmsg_type = XFRM_MSG_NEWPOLICY;
	cr_assert_eq(apply(c, nlh, 600), 0);
	nlh = good_msg(&m);
	put_alg_raw(nlh, XFRMA_ALG_AEAD, "rfc4106(gcm(aes))", 288, true, 128, 3);
	cr_assert_eq(apply(c, nlh, 600), -1);
	cr_assert_eq(xfrm_cache_count(c), 0);
	xfrm_cache_free(c);
}

static void count_one(const struct xfrm_sa *sa, void *arg)
{
	(*(size_t *)arg)++;
}

Test(xfrm, cache_keys_like_the_kernel_and_looks_up_by_spi)
{
	struct xfrm_cache *c = xfrm_cache_alloc();
	struct xfrm_usersa_info p;
	const struct xfrm_sa *sa;
	struct msgbuf m;
	struct nlmsghdr *nlh;

	/* inbound 0x200 to us, and an outbound SA the peer gave the same SPI */
	p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x200, IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	cr_assert_eq(apply(c, sa_msg(&m, XFRM_MSG_NEWSA, &p), 0), 1);
	p = sa_info(AF_INET, "192.0.2.1", "192.0.2.10", 0x200, IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	cr_assert_eq(apply(c, sa_msg(&m, XFRM_MSG_NEWSA, &p), 0), 1);
	cr_assert_eq(xfrm_cache_count(c), 2);
	cr_assert_eq(xfrm_cache_lookup(c, 0x200, AF4, ip("192.0.2.1"), &sa), 1);
	cr_assert(sa->saddr == ip("192.0.2.10"));

	/* tunnel SA: the inner destination differs from the outer one */
	p = sa_info(AF_INET, "198.51.100.1", "203.0.113.1", 0x300, IPPROTO_ESP, XFRM_MODE_TUNNEL);
	cr_assert_eq(apply(c, sa_msg(&m, XFRM_MSG_NEWSA, &p), 0), 1);
	cr_assert_eq(xfrm_cache_lookup(c, 0x300, AF6, ip("fd00::1"), &sa), 1);
	cr_assert(sa->saddr == ip("198.51.100.1"));
	/* a transport SA never matches another destination */
	cr_assert_eq(xfrm_cache_lookup(c, 0x200, AF4, ip("192.0.2.99"), &sa), 0);

	/* AH and ESP sharing SPI and destination: ambiguous */
	p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x200, IPPROTO_AH, XFRM_MODE_TRANSPORT);
	cr_assert_eq(apply(c, sa_msg(&m, XFRM_MSG_NEWSA, &p), 0), 1);
	cr_assert_eq(xfrm_cache_lookup(c, 0x200, AF4, ip("192.0.2.1"), &sa), 2);
	cr_assert_null(sa);

	/* marks are part of the key: a second SA, not a replacement */
	p = sa_info(AF_INET, "192.0.2.11", "192.0.2.1", 0x400, IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	cr_assert_eq(apply(c, sa_msg(&m, XFRM_MSG_NEWSA, &p), 0), 1);
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_mark(nlh, 5, 0xff);
	cr_assert_eq(apply(c, nlh, 0), 1);
	cr_assert_eq(xfrm_cache_count(c), 6);
	cr_assert_eq(xfrm_cache_lookup(c, 0x400, AF4, ip("192.0.2.1"), &sa), 2);

	/* an SA the kernel says is outbound never carried a packet in */
	p = sa_info(AF_INET, "192.0.2.1", "192.0.2.12", 0x500, IPPROTO_ESP, XFRM_MODE_TUNNEL);
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	mnl_attr_put_u8(nlh, 33, XFRM_SA_OUT);
	cr_assert_eq(apply(c, nlh, 0), 1);
	cr_assert_eq(xfrm_cache_lookup(c, 0x500, AF4, ip("192.0.2.1"), &sa), 0);

	{
		size_t n = 0;

		xfrm_cache_foreach(c, count_one, &n);
		cr_assert_eq(n, 7);
	}
	cr_assert_str_eq(xfrm_proto_name(XFRM_PROTO_AH), "ah");
	cr_assert_str_eq(xfrm_mode_name(XFRM_SA_TUNNEL), "tunnel");

	/* flush by protocol, then everything */
	{
		struct xfrm_usersa_flush f = { .proto = IPPROTO_AH };

		cr_assert_eq(apply(c, msg_start(&m, XFRM_MSG_FLUSHSA, &f, sizeof(f)), 0), 1);
		cr_assert_eq(xfrm_cache_count(c), 6);
		f.proto = 255;	/* IPSEC_PROTO_ANY */
		cr_assert_eq(apply(c, msg_start(&m, XFRM_MSG_FLUSHSA, &f, sizeof(f)), 0), 1);
		cr_assert_eq(xfrm_cache_count(c), 0);
		cr_assert_eq(apply(c, msg_start(&m, XFRM_MSG_FLUSHSA, &f, sizeof(f)), 0), 0);
	}
	xfrm_cache_free(c);
}

Test(xfrm, cache_grows_and_frees)
{
	enum { N = 50000 };
	struct xfrm_cache *c = xfrm_cache_alloc();
	struct xfrm_sa sa;
	size_t bad = 0;

	cr_assert_not_null(c);
	memset(&sa, 0, sizeof(sa));
	sa.fam = AF6;
	sa.proto = XFRM_PROTO_ESP;
	sa.mode = XFRM_SA_TRANSPORT;
	for (uint32_t i = 1; i <= N; i++) {
		sa.spi = i * 7919u;		/* spread, but not random */
		sa.daddr = ((u128)0xfd00 << 112) | (i % 97);
		sa.reqid = i;
		if (xfrm_cache_put(c, &sa) != 0)
			cr_assert_fail("put %u failed", i);
	}
	cr_assert_eq(xfrm_cache_count(c), N);
	for (uint32_t i = 1; i <= N; i++) {
		const struct xfrm_sa *got;

		if (xfrm_cache_lookup(c, i * 7919u, AF6, ((u128)0xfd00 << 112) | (i % 97),
				      &got) != 1 || got->reqid != i)
			bad++;
	}
	cr_assert_eq(bad, 0, "%zu SAs not found after growth", bad);
	for (uint32_t i = 1; i <= N; i += 2) {
		sa.spi = i * 7919u;
		sa.daddr = ((u128)0xfd00 << 112) | (i % 97);
		if (!xfrm_cache_del(c, &sa))
			bad++;
	}
	cr_assert_eq(bad, 0);
	cr_assert_eq(xfrm_cache_count(c), N / 2);
	for (uint32_t i = 1; i <= N; i++) {
		const struct xfrm_sa *got;
		size_t n = xfrm_cache_lookup(c, i * 7919u, AF6,
					     ((u128)0xfd00 << 112) | (i % 97), &got);

		if (n != (i % 2 == 0))
			bad++;
	}
	cr_assert_eq(bad, 0);
	xfrm_cache_free(c);
	xfrm_cache_free(NULL);
}

/* ------------------------------------------------------------------ */
/* No verdict on a stale SA: the cache's rules */

Test(xfrm, an_sa_changed_in_place_is_a_new_sa_not_a_merge)
{
	struct xfrm_cache *c = xfrm_cache_alloc();
	struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x1000,
					    IPPROTO_ESP, XFRM_MODE_TUNNEL);
	struct xfrm_sa k = key_of(AF_INET, "192.0.2.1", 0x1000, XFRM_PROTO_ESP);
	const struct xfrm_sa *sa;
	struct msgbuf m;
	struct nlmsghdr *nlh;

	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	cr_assert_eq(apply(c, nlh, 0), 1);
	cr_assert(xfrm_sa_encrypts(xfrm_cache_find(c, &k)));
	/* the same SPI and reqid, now ESP-null in transport mode */
	p.mode = XFRM_MODE_TRANSPORT;
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_crypt(nlh, "ecb(cipher_null)", 0);
	put_auth(nlh, "hmac(sha256)", 256, 128);
	cr_assert_eq(apply(c, nlh, 0), 1);
	cr_assert_eq(xfrm_cache_count(c), 1);
	sa = xfrm_cache_find(c, &k);
	cr_assert_not(sa->aead.present, "nothing of the old AEAD may survive");
	cr_assert(sa->crypt.present && sa->auth.present);
	cr_assert_not(xfrm_sa_encrypts(sa));
	cr_assert_eq(sa->mode, XFRM_SA_TRANSPORT);
	cr_assert_eq(sa->reqid, 1);
	xfrm_cache_free(c);
}

Test(xfrm, an_update_is_never_taken_for_the_sa)
{
	/* `ip xfrm state update` of a valid ESP-null SA asking for AES-GCM:
	 * the kernel keeps the null cipher, and announces AES-GCM */
	struct xfrm_cache *c = xfrm_cache_alloc();
	struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x1000,
					    IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct xfrm_sa k = key_of(AF_INET, "192.0.2.1", 0x1000, XFRM_PROTO_ESP);
	struct msgbuf m;
	struct nlmsghdr *nlh;

	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_crypt(nlh, "ecb(cipher_null)", 0);
	put_auth(nlh, "hmac(sha256)", 256, 128);
	cr_assert_eq(apply(c, nlh, 0), 1);
	nlh = sa_msg(&m, XFRM_MSG_UPDSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	cr_assert_eq(apply(c, nlh, 0), XFRM_APPLY_CONFIRM);
	cr_assert_null(xfrm_cache_find(c, &k));
	xfrm_cache_free(c);
}

Test(xfrm, an_unreadable_sa_message_leaves_nothing_of_its_spi)
{
	struct xfrm_cache *c = xfrm_cache_alloc();
	struct xfrm_usersa_info p = sa_info(AF_INET, "192.0.2.10", "192.0.2.1", 0x1000,
					    IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct xfrm_usersa_info other = sa_info(AF_INET, "192.0.2.11", "192.0.2.1", 0x2000,
						IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct xfrm_sa k = key_of(AF_INET, "192.0.2.1", 0x1000, XFRM_PROTO_ESP);
	struct xfrm_sa ko = key_of(AF_INET, "192.0.2.1", 0x2000, XFRM_PROTO_ESP);
	struct msgbuf m;
	struct nlmsghdr *nlh;
	uint16_t types[] = { XFRM_MSG_NEWSA, XFRM_MSG_UPDSA, XFRM_MSG_DELSA, XFRM_MSG_EXPIRE };

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
		put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
		cr_assert_eq(apply(c, nlh, 0), 1);
		nlh = sa_msg(&m, XFRM_MSG_NEWSA, &other);
		put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
		cr_assert_eq(apply(c, nlh, 0), 1);
		/* a message about 0x1000 whose attributes cannot be read: an
		 * AEAD with a cipher (for DELSA: its id, then a broken
		 * XFRMA_SA; for EXPIRE: a hard flag of 7) */
		if (types[t] == XFRM_MSG_DELSA) {
			struct xfrm_usersa_id id = { .spi = htonl(0x1000), .family = AF_INET,
						     .proto = IPPROTO_ESP };

			memcpy(&id.daddr, &p.id.daddr, sizeof(id.daddr));
			nlh = msg_start(&m, XFRM_MSG_DELSA, &id, sizeof(id));
			mnl_attr_put(nlh, XFRMA_SA, 8, &p);
		} else if (types[t] == XFRM_MSG_EXPIRE) {
			struct xfrm_user_expire ue = { .state = p, .hard = 7 };

			nlh = msg_start(&m, XFRM_MSG_EXPIRE, &ue, sizeof(ue));
		} else {
			nlh = sa_msg(&m, types[t], &p);
			put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
			put_crypt(nlh, "cbc(aes)", 128);
		}
		cr_assert_eq(apply(c, nlh, 0), -1, "message type %u", types[t]);
		cr_assert_null(xfrm_cache_find(c, &k), "message type %u left the old SA", types[t]);
		cr_assert_not_null(xfrm_cache_find(c, &ko), "message type %u", types[t]);
	}
	/* too short to name an SPI: nothing to remove here (sagated re-dumps) */
	nlh = msg_start(&m, XFRM_MSG_NEWSA, &p, 8);
	cr_assert_eq(apply(c, nlh, 0), -1);
	cr_assert_not_null(xfrm_cache_find(c, &ko));
	xfrm_cache_free(c);
}

Test(xfrm, getsa_request_names_the_kernels_key)
{
	struct xfrm_sa k = key_of(AF_INET6, "fd77::10", 0x12345678, XFRM_PROTO_ESP);
	struct msgbuf m;
	struct nlmsghdr *nlh = (struct nlmsghdr *)m.b;
	struct xfrm_usersa_id id;
	const struct nlattr *a;
	bool mark = false;
	xfrm_address_t want;

	k.mark_v = 5;
	k.mark_m = 0xff;
	cr_assert_eq(xfrm_getsa_request(m.b, 16, &k, 9), 0);
	cr_assert_gt(xfrm_getsa_request(m.b, sizeof(m.b), &k, 9), 0);
	cr_assert_eq(nlh->nlmsg_type, XFRM_MSG_GETSA);
	cr_assert_eq(nlh->nlmsg_flags, NLM_F_REQUEST, "a request, not a dump");
	cr_assert_eq(nlh->nlmsg_seq, 9);
	memcpy(&id, mnl_nlmsg_get_payload(nlh), sizeof(id));
	xaddr(&want, AF_INET6, "fd77::10");
	cr_assert_eq(memcmp(&id.daddr, &want, sizeof(want)), 0);
	cr_assert_eq(ntohl(id.spi), 0x12345678);
	cr_assert_eq(id.family, AF_INET6);
	cr_assert_eq(id.proto, IPPROTO_ESP);
	mnl_attr_for_each(a, nlh, sizeof(id))
		if (mnl_attr_get_type(a) == XFRMA_MARK) {
			struct xfrm_mark xm;

			memcpy(&xm, mnl_attr_get_payload(a), sizeof(xm));
			mark = xm.v == 5 && xm.m == 0xff;
		}
	cr_assert(mark);
}

/* ------------------------------------------------------------------ */
/* engine_xfrm_sync: what a queue thread runs before an accept.  A pair
 * of NETLINK_USERSOCK sockets stands in for the kernel's XFRM socket. */

struct fake {
	struct engine e;
	struct mnl_socket *peer;
};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->e.xnl = mnl_socket_open(NETLINK_USERSOCK);
	f->peer = mnl_socket_open(NETLINK_USERSOCK);
	cr_assert(f->e.xnl && f->peer);
	cr_assert_eq(mnl_socket_bind(f->e.xnl, 0, MNL_SOCKET_AUTOPID), 0);
	cr_assert_eq(mnl_socket_bind(f->peer, 0, MNL_SOCKET_AUTOPID), 0);
	cr_assert_eq(fcntl(mnl_socket_get_fd(f->e.xnl), F_SETFL, O_NONBLOCK), 0);
	pthread_rwlock_init(&f->e.lock, NULL);
	f->e.lock_ok = true;
	pthread_mutex_init(&f->e.xmu, NULL);
	f->e.xmu_ok = true;
	elimit_init(&f->e.log, 100);
	f->e.buflen = 65536;
	f->e.buf = malloc(f->e.buflen);
	f->e.sas = xfrm_cache_alloc();
	cr_assert(f->e.buf && f->e.sas);
}

static void fake_fini(struct fake *f)
{
	mnl_socket_close(f->e.xnl);
	mnl_socket_close(f->peer);
	xfrm_cache_free(f->e.sas);
	free(f->e.buf);
	pthread_rwlock_destroy(&f->e.lock);
	pthread_mutex_destroy(&f->e.xmu);
}

/* The kernel queues an event for sagated. */
static void feed(struct fake *f, const struct nlmsghdr *nlh)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK,
				  .nl_pid = mnl_socket_get_portid(f->e.xnl) };

	cr_assert_eq(sendto(mnl_socket_get_fd(f->peer), nlh, nlh->nlmsg_len, 0,
			    (struct sockaddr *)&to, sizeof(to)), (ssize_t)nlh->nlmsg_len);
}

/* engine_xfrm_settled: what a queue thread asks before an accept, without
 * the lock when nothing is queued and nobody is reading. */
Test(xfrm, settled_sees_every_event_queued_before_it, .init = cr_redirect_stderr)
{
	struct fake f;
	struct xfrm_usersa_info p = sa_info(AF_INET, "10.77.0.21", "10.77.0.10", 0x1000,
					    IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct xfrm_sa k = key_of(AF_INET, "10.77.0.10", 0x1000, XFRM_PROTO_ESP);
	unsigned long gen, reading;
	struct msgbuf m;
	struct nlmsghdr *nlh;

	fake_init(&f);
	gen = f.e.sa_gen;
	reading = f.e.xreading;
	cr_assert(engine_xfrm_settled(&f.e, gen), "nothing queued: the decision stands");
	cr_assert_eq(f.e.xreading, reading, "... and nothing was read for it");
	cr_assert_not(engine_xfrm_settled(&f.e, gen + 1), "the cache changed after the decision");
	/* an SA event queued after the decision: it is applied, and the
	 * decision does not stand */
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	feed(&f, nlh);
	gen = f.e.sa_gen;
	cr_assert_not(engine_xfrm_settled(&f.e, gen), "an event waited in the socket");
	cr_assert_not_null(xfrm_cache_find(f.e.sas, &k));
	cr_assert_neq(f.e.sa_gen, gen);
	cr_assert(engine_xfrm_settled(&f.e, f.e.sa_gen));
	fake_fini(&f);
}

struct settle_arg {
	struct fake *f;
	unsigned long gen;
	bool settled;
	int done;
};

static void *settle(void *arg)
{
	struct settle_arg *a = arg;

	a->settled = engine_xfrm_settled(&a->f->e, a->gen);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Another thread has emptied the socket but not applied what it read
 * (xmu held, e->xreading odd): the decision waits for it, and does not
 * stand when it changed the cache. */
Test(xfrm, settled_waits_for_a_read_being_applied, .init = cr_redirect_stderr)
{
	struct fake f;
	struct settle_arg a;
	pthread_t th;

	fake_init(&f);
	pthread_mutex_lock(&f.e.xmu);
	f.e.xreading++;			/* the reader's read has emptied the socket */
	a = (struct settle_arg){ .f = &f, .gen = f.e.sa_gen };
	cr_assert_eq(pthread_create(&th, NULL, settle, &a), 0);
	for (int i = 0; i < 20 && !__atomic_load_n(&a.done, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	cr_assert_not(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE),
		      "the decision stood while a read was being applied");
	__atomic_add_fetch(&f.e.sa_gen, 1, __ATOMIC_RELEASE);	/* ... it is applied */
	f.e.xreading++;
	pthread_mutex_unlock(&f.e.xmu);
	pthread_join(th, NULL);
	cr_assert_not(a.settled, "the cache changed after the decision");
	fake_fini(&f);
}

Test(xfrm, sync_applies_every_event_queued_before_it, .init = cr_redirect_stderr)
{
	struct fake f;
	struct xfrm_usersa_info p = sa_info(AF_INET, "10.77.0.21", "10.77.0.10", 0x1000,
					    IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct xfrm_sa k = key_of(AF_INET, "10.77.0.10", 0x1000, XFRM_PROTO_ESP);
	struct xfrm_usersa_id id = { .spi = htonl(0x1000), .family = AF_INET,
				     .proto = IPPROTO_ESP };
	const struct xfrm_sa *sa;
	unsigned long gen;
	struct msgbuf m;
	struct nlmsghdr *nlh;

	fake_init(&f);
	cr_assert_eq(engine_xfrm_sync(&f.e), 0, "an empty socket is in sync");
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	feed(&f, nlh);
	gen = f.e.sa_gen;
	cr_assert_eq(engine_xfrm_sync(&f.e), 0);
	cr_assert_neq(f.e.sa_gen, gen, "a change is seen by the generation");
	cr_assert_not_null(xfrm_cache_find(f.e.sas, &k));

	/* deleted and replaced by ESP-null while sagated lags: both events
	 * are applied by the one sync, in order */
	memcpy(&id.daddr, &p.id.daddr, sizeof(id.daddr));
	feed(&f, msg_start(&m, XFRM_MSG_DELSA, &id, sizeof(id)));
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_crypt(nlh, "ecb(cipher_null)", 0);
	put_auth(nlh, "hmac(sha256)", 256, 128);
	feed(&f, nlh);
	cr_assert_eq(engine_xfrm_sync(&f.e), 0);
	cr_assert_eq(xfrm_cache_lookup(f.e.sas, 0x1000, AF4, ip("10.77.0.10"), &sa), 1);
	cr_assert_not(xfrm_sa_encrypts(sa));
	cr_assert_not(f.e.resync);
	/* the review of the flows bound to its reqid is due */
	cr_assert(f.e.nreview == 1 && f.e.review[0] == 1);

	/* an update: the entry goes; asking the kernel fails here (no
	 * kernel behind this socket), so sagated re-dumps: fail closed */
	nlh = sa_msg(&m, XFRM_MSG_UPDSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	feed(&f, nlh);
	cr_assert_eq(engine_xfrm_sync(&f.e), 0);
	cr_assert_null(xfrm_cache_find(f.e.sas, &k));
	cr_assert(f.e.resync && f.e.need_dump);

	/* an unreadable SA message: nothing of its SPI, and a re-dump */
	f.e.resync = f.e.need_dump = false;
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	feed(&f, nlh);
	nlh = sa_msg(&m, XFRM_MSG_NEWSA, &p);
	put_aead(nlh, "rfc4106(gcm(aes))", 160, 128);
	put_crypt(nlh, "cbc(aes)", 128);
	feed(&f, nlh);
	cr_assert_eq(engine_xfrm_sync(&f.e), 0);
	cr_assert_null(xfrm_cache_find(f.e.sas, &k));
	cr_assert(f.e.resync && f.e.need_dump, "new flows dropped until a re-dump");
	fake_fini(&f);
}
