/* mkseeds-xfrm: writes the seeds of fuzz_xfrm (fuzz/corpus/xfrm), XFRM
 * messages built by hand as the kernel lays them out (xfrm_user.c): SAs
 * of every mode and transform kind, their update, expiry, deletion and
 * flush, and SPD entries.  Not built by make; run once:
 *   cc -o /tmp/mkseeds-xfrm fuzz/mkseeds-xfrm.c -lmnl && /tmp/mkseeds-xfrm fuzz/corpus/xfrm */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static _Alignas(8) char out[65536];
static size_t used;

static struct nlmsghdr *msg(uint16_t type, const void *hdr, size_t len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(out + used);

	nlh->nlmsg_type = type;
	memcpy(mnl_nlmsg_put_extra_header(nlh, len), hdr, len);
	return nlh;
}

static void done(struct nlmsghdr *nlh)
{
	used += MNL_ALIGN(nlh->nlmsg_len);
}

static void addr(xfrm_address_t *a, int fam, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(fam, s, a) != 1)
		abort();
}

static struct xfrm_usersa_info sa(int fam, const char *src, const char *dst, uint32_t spi,
				  uint8_t proto, uint8_t mode)
{
	struct xfrm_usersa_info p;

	memset(&p, 0, sizeof(p));
	p.family = (uint16_t)fam;
	addr(&p.saddr, fam, src);
	addr(&p.id.daddr, fam, dst);
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

static void alg(struct nlmsghdr *nlh, uint16_t type, const char *name, uint32_t key_bits,
		bool third, uint32_t third_val)
{
	unsigned char tmp[200];
	size_t hdr = third ? sizeof(struct xfrm_algo_aead) : sizeof(struct xfrm_algo);

	memset(tmp, 0, sizeof(tmp));
	strncpy((char *)tmp, name, 63);
	memcpy(tmp + 64, &key_bits, 4);
	if (third)
		memcpy(tmp + 68, &third_val, 4);
	memset(tmp + hdr, 0xa5, (key_bits + 7) / 8);
	mnl_attr_put(nlh, type, hdr + (key_bits + 7) / 8, tmp);
}

static void gcm_v4(uint16_t type, uint32_t spi)
{
	struct xfrm_usersa_info p = sa(AF_INET, "10.77.0.21", "10.77.0.10", spi, IPPROTO_ESP,
				       XFRM_MODE_TRANSPORT);
	struct nlmsghdr *nlh = msg(type, &p, sizeof(p));
	struct xfrm_mark mk = { 7, 0xff };

	alg(nlh, XFRMA_ALG_AEAD, "rfc4106(gcm(aes))", 160, true, 128);
	mnl_attr_put(nlh, XFRMA_MARK, sizeof(mk), &mk);
	mnl_attr_put_u32(nlh, XFRMA_IF_ID, 3);
	mnl_attr_put_u8(nlh, 33 /* XFRMA_SA_DIR */, 1);
	done(nlh);
}

static void cbc_tunnel_v6(uint32_t spi)
{
	struct xfrm_usersa_info p = sa(AF_INET6, "fd77::1", "fd77::10", spi, IPPROTO_ESP,
				       XFRM_MODE_TUNNEL);
	struct nlmsghdr *nlh;

	p.sel.family = AF_INET6;
	addr(&p.sel.saddr, AF_INET6, "fd78::");
	p.sel.prefixlen_s = 64;
	p.sel.proto = IPPROTO_TCP;
	p.sel.dport = htons(5432);
	p.sel.dport_mask = 0xffff;
	nlh = msg(XFRM_MSG_NEWSA, &p, sizeof(p));
	alg(nlh, XFRMA_ALG_CRYPT, "cbc(aes)", 256, false, 0);
	alg(nlh, XFRMA_ALG_AUTH, "hmac(sha256)", 256, false, 0);
	alg(nlh, XFRMA_ALG_AUTH_TRUNC, "hmac(sha256)", 256, true, 128);
	done(nlh);
}

static void null_v4(uint16_t type, uint32_t spi)
{
	struct xfrm_usersa_info p = sa(AF_INET, "10.77.0.21", "10.77.0.10", spi, IPPROTO_ESP,
				       XFRM_MODE_TRANSPORT);
	struct nlmsghdr *nlh = msg(type, &p, sizeof(p));

	alg(nlh, XFRMA_ALG_CRYPT, "ecb(cipher_null)", 0, false, 0);
	alg(nlh, XFRMA_ALG_AUTH_TRUNC, "hmac(sha1)", 160, true, 96);
	done(nlh);
}

static void ah_nat(uint32_t spi)
{
	struct xfrm_usersa_info p = sa(AF_INET, "192.0.2.1", "10.77.0.10", spi, IPPROTO_AH,
				       XFRM_MODE_TRANSPORT);
	struct nlmsghdr *nlh = msg(XFRM_MSG_NEWSA, &p, sizeof(p));
	struct xfrm_encap_tmpl e = { .encap_type = 2, .encap_sport = htons(4500),
				     .encap_dport = htons(4500) };

	alg(nlh, XFRMA_ALG_AUTH_TRUNC, "hmac(sha512)", 512, true, 256);
	mnl_attr_put(nlh, XFRMA_ENCAP, sizeof(e), &e);
	alg(nlh, XFRMA_ALG_COMP, "deflate", 0, false, 0);
	done(nlh);
}

static void del(int fam, const char *src, const char *dst, uint32_t spi)
{
	struct xfrm_usersa_id id = { .spi = htonl(spi), .family = (uint16_t)fam,
				     .proto = IPPROTO_ESP };
	struct xfrm_usersa_info p = sa(fam, src, dst, spi, IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	struct nlmsghdr *nlh;

	addr(&id.daddr, fam, dst);
	nlh = msg(XFRM_MSG_DELSA, &id, sizeof(id));
	mnl_attr_put(nlh, XFRMA_SA, sizeof(p), &p);
	done(nlh);
}

static void expire(uint32_t spi, int hard)
{
	struct xfrm_user_expire x;
	struct nlmsghdr *nlh;

	memset(&x, 0, sizeof(x));
	x.state = sa(AF_INET, "10.77.0.21", "10.77.0.10", spi, IPPROTO_ESP, XFRM_MODE_TRANSPORT);
	x.hard = (uint8_t)hard;
	nlh = msg(XFRM_MSG_EXPIRE, &x, sizeof(x));
	done(nlh);
}

static void flush(uint8_t proto)
{
	struct xfrm_usersa_flush f = { .proto = proto };

	done(msg(XFRM_MSG_FLUSHSA, &f, sizeof(f)));
}

static void policy(int dir, bool optional)
{
	struct xfrm_userpolicy_info info;
	struct xfrm_user_tmpl t[2];
	struct nlmsghdr *nlh;

	memset(&info, 0, sizeof(info));
	info.sel.family = AF_INET;
	addr(&info.sel.saddr, AF_INET, "10.77.0.0");
	info.sel.prefixlen_s = 24;
	info.dir = (uint8_t)dir;
	info.priority = 100;
	info.lft.soft_byte_limit = info.lft.hard_byte_limit = XFRM_INF;
	info.lft.soft_packet_limit = info.lft.hard_packet_limit = XFRM_INF;
	nlh = msg(XFRM_MSG_NEWPOLICY, &info, sizeof(info));
	memset(t, 0, sizeof(t));
	t[0].family = AF_INET;
	t[0].id.proto = IPPROTO_ESP;
	t[0].mode = XFRM_MODE_TRANSPORT;
	t[0].reqid = 1;
	t[0].optional = optional;
	t[1] = t[0];
	t[1].id.proto = IPPROTO_COMP;
	t[1].optional = 1;
	mnl_attr_put(nlh, XFRMA_TMPL, sizeof(t), t);
	done(nlh);
}

static void write_seed(const char *dir, const char *name)
{
	char path[4096];
	uint32_t now = 1700000100;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&now, 4, 1, f) != 1 || fwrite(out, 1, used, f) != used || fclose(f))
		abort();
	memset(out, 0, sizeof(out));
	used = 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	gcm_v4(XFRM_MSG_NEWSA, 0x1000);
	cbc_tunnel_v6(0x2000);
	write_seed(argv[1], "two-sas");
	gcm_v4(XFRM_MSG_NEWSA, 0x1000);
	null_v4(XFRM_MSG_UPDSA, 0x1000);
	expire(0x1000, 0);
	expire(0x1000, 1);
	write_seed(argv[1], "replaced-then-expired");
	gcm_v4(XFRM_MSG_NEWSA, 0x1000);
	ah_nat(0x3000);
	del(AF_INET, "10.77.0.21", "10.77.0.10", 0x1000);
	flush(255);
	write_seed(argv[1], "ah-deleted-flushed");
	policy(0, false);
	policy(1, true);
	null_v4(XFRM_MSG_NEWSA, 0x4000);
	write_seed(argv[1], "policies-and-null");
	return 0;
}
