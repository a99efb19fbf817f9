#include "config.h"

#include "xfrm.h"
#include "xfrm_int.h"
#include "model.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Newer kernels than our uapi header know these; their values are ABI. */
#define SAGATE_XFRMA_SA_DIR 33
#define SAGATE_XFRMA_KNOWN SAGATE_XFRMA_SA_DIR

uint32_t xfrm_sa_handover(const struct xfrm_sa *sa)
{
	return htonl(sa->spi);
}

uint32_t xfrm_spi_from_handover(uint32_t mark)
{
	return ntohl(mark);
}

const char *xfrm_mode_name(enum xfrm_sa_mode m)
{
	switch (m) {
	case XFRM_SA_TRANSPORT:
		return "transport";
	case XFRM_SA_TUNNEL:
		return "tunnel";
	case XFRM_SA_OTHER:
		break;
	}
	return "other";
}

const char *xfrm_proto_name(uint8_t proto)
{
	switch (proto) {
	case XFRM_PROTO_ESP:
		return "esp";
	case XFRM_PROTO_AH:
		return "ah";
	case XFRM_PROTO_COMP:
		return "comp";
	default:
		return "other";
	}
}

/* ------------------------------------------------------------------ */
/* Algorithms */

struct alg_map {
	enum xfrm_alg_kind kind;
	const char *name;
	uint32_t key_bits;	/* 0: any key length */
	uint32_t icv_bits;	/* 0: ciphers (no ICV) */
	uint32_t bit;
};

/* The only combinations that map to a bit: everything else is 0 and so
 * is allowed by no rule, rather than guessed at. */
static const struct alg_map alg_table[] = {
	{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 160, 128, ALG_AES128GCM16 },
	{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 224, 128, ALG_AES192GCM16 },
	{ XFRM_ALG_AEAD, "rfc4106(gcm(aes))", 288, 128, ALG_AES256GCM16 },
	{ XFRM_ALG_AEAD, "rfc7539esp(chacha20,poly1305)", 288, 128, ALG_CHACHA20POLY1305 },
	{ XFRM_ALG_CRYPT, "cbc(aes)", 128, 0, ALG_AES128 },
	{ XFRM_ALG_CRYPT, "cbc(aes)", 192, 0, ALG_AES192 },
	{ XFRM_ALG_CRYPT, "cbc(aes)", 256, 0, ALG_AES256 },
	{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 160, 0, ALG_AES128CTR },
	{ XFRM_ALG_CRYPT, "rfc3686(ctr(aes))", 288, 0, ALG_AES256CTR },
	{ XFRM_ALG_CRYPT, "ecb(cipher_null)", 0, 0, ALG_NULL },
	{ XFRM_ALG_AUTH, "hmac(sha1)", 0, 96, ALG_SHA1 },
	{ XFRM_ALG_AUTH, "hmac(sha256)", 0, 128, ALG_SHA256 },
	{ XFRM_ALG_AUTH, "hmac(sha384)", 0, 192, ALG_SHA384 },
	{ XFRM_ALG_AUTH, "hmac(sha512)", 0, 256, ALG_SHA512 },
};

uint32_t xfrm_alg_bit(enum xfrm_alg_kind kind, const char *name,
		      uint32_t key_bits, uint32_t icv_bits)
{
	for (size_t i = 0; i < sizeof(alg_table) / sizeof(alg_table[0]); i++) {
		const struct alg_map *m = &alg_table[i];

		if (m->kind == kind && strcmp(m->name, name) == 0 &&
		    (m->key_bits == 0 || m->key_bits == key_bits) &&
		    m->icv_bits == icv_bits)
			return m->bit;
	}
	return 0;
}

/* Truncation the kernel applies when only XFRMA_ALG_AUTH (no _TRUNC) was
 * given: its algorithm table's icv_truncbits.  SHA-256 defaults to the
 * pre-RFC 4868 96 bits, which is exactly why it must not pass as sha256. */
static uint32_t auth_default_trunc(const char *name)
{
	static const struct { const char *name; uint32_t bits; } t[] = {
		{ "hmac(sha1)", 96 }, { "hmac(sha256)", 96 },
		{ "hmac(sha384)", 192 }, { "hmac(sha512)", 256 },
		{ "hmac(md5)", 96 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].bits;
	return 0;
}

bool xfrm_sa_encrypts(const struct xfrm_sa *sa)
{
	if (sa->proto != XFRM_PROTO_ESP)
		return false;
	/* AES-GMAC has the AEAD shape but only authenticates */
	if (sa->aead.present)
		return strncmp(sa->aead.name, "rfc4543(", 8) != 0;
	return sa->crypt.present && strcmp(sa->crypt.name, "ecb(cipher_null)") != 0;
}

static bool past(uint64_t start, uint64_t secs, uint64_t now)
{
	return start && secs && (start > UINT64_MAX - secs || now >= start + secs);
}

bool xfrm_sa_expired(const struct xfrm_sa *sa, uint64_t now)
{
	return sa->expired || past(sa->life.add_time, sa->life.hard_add, now) ||
	       past(sa->life.use_time, sa->life.hard_use, now);
}

bool xfrm_sa_dying(const struct xfrm_sa *sa, uint64_t now)
{
	return sa->dying || past(sa->life.add_time, sa->life.soft_add, now) ||
	       past(sa->life.use_time, sa->life.soft_use, now);
}

/* ------------------------------------------------------------------ */
/* Attributes */

enum len_rule {
	LEN_ANY,	/* skipped, any length (padding, unknown) */
	LEN_EXACT,	/* exactly n bytes */
	LEN_ARRAY,	/* one or more records of n bytes */
	LEN_CUSTOM,	/* checked by check_custom() */
};

struct attr_rule {
	const char *name;
	enum len_rule rule;
	size_t n;
};

static const struct attr_rule attr_rules[SAGATE_XFRMA_KNOWN + 1] = {
	[XFRMA_ALG_AUTH] = { "XFRMA_ALG_AUTH", LEN_CUSTOM, 0 },
	[XFRMA_ALG_CRYPT] = { "XFRMA_ALG_CRYPT", LEN_CUSTOM, 0 },
	[XFRMA_ALG_COMP] = { "XFRMA_ALG_COMP", LEN_CUSTOM, 0 },
	[XFRMA_ENCAP] = { "XFRMA_ENCAP", LEN_EXACT, sizeof(struct xfrm_encap_tmpl) },
	[XFRMA_TMPL] = { "XFRMA_TMPL", LEN_ARRAY, sizeof(struct xfrm_user_tmpl) },
	[XFRMA_SA] = { "XFRMA_SA", LEN_EXACT, sizeof(struct xfrm_usersa_info) },
	[XFRMA_POLICY] = { "XFRMA_POLICY", LEN_EXACT, sizeof(struct xfrm_userpolicy_info) },
	[XFRMA_SEC_CTX] = { "XFRMA_SEC_CTX", LEN_CUSTOM, 0 },
	[XFRMA_LTIME_VAL] = { "XFRMA_LTIME_VAL", LEN_EXACT, sizeof(struct xfrm_lifetime_cur) },
	[XFRMA_REPLAY_VAL] = { "XFRMA_REPLAY_VAL", LEN_EXACT, sizeof(struct xfrm_replay_state) },
	[XFRMA_REPLAY_THRESH] = { "XFRMA_REPLAY_THRESH", LEN_EXACT, 4 },
	[XFRMA_ETIMER_THRESH] = { "XFRMA_ETIMER_THRESH", LEN_EXACT, 4 },
	[XFRMA_SRCADDR] = { "XFRMA_SRCADDR", LEN_EXACT, sizeof(xfrm_address_t) },
	[XFRMA_COADDR] = { "XFRMA_COADDR", LEN_EXACT, sizeof(xfrm_address_t) },
	[XFRMA_LASTUSED] = { "XFRMA_LASTUSED", LEN_EXACT, 8 },
	[XFRMA_POLICY_TYPE] = { "XFRMA_POLICY_TYPE", LEN_EXACT, sizeof(struct xfrm_userpolicy_type) },
	[XFRMA_MIGRATE] = { "XFRMA_MIGRATE", LEN_ARRAY, sizeof(struct xfrm_user_migrate) },
	[XFRMA_ALG_AEAD] = { "XFRMA_ALG_AEAD", LEN_CUSTOM, 0 },
	[XFRMA_KMADDRESS] = { "XFRMA_KMADDRESS", LEN_EXACT, sizeof(struct xfrm_user_kmaddress) },
	[XFRMA_ALG_AUTH_TRUNC] = { "XFRMA_ALG_AUTH_TRUNC", LEN_CUSTOM, 0 },
	[XFRMA_MARK] = { "XFRMA_MARK", LEN_EXACT, sizeof(struct xfrm_mark) },
	[XFRMA_TFCPAD] = { "XFRMA_TFCPAD", LEN_EXACT, 4 },
	[XFRMA_REPLAY_ESN_VAL] = { "XFRMA_REPLAY_ESN_VAL", LEN_CUSTOM, 0 },
	[XFRMA_SA_EXTRA_FLAGS] = { "XFRMA_SA_EXTRA_FLAGS", LEN_EXACT, 4 },
	[XFRMA_PROTO] = { "XFRMA_PROTO", LEN_EXACT, 1 },
	[XFRMA_ADDRESS_FILTER] = { "XFRMA_ADDRESS_FILTER", LEN_EXACT, sizeof(struct xfrm_address_filter) },
	[XFRMA_PAD] = { "XFRMA_PAD", LEN_ANY, 0 },
	[XFRMA_OFFLOAD_DEV] = { "XFRMA_OFFLOAD_DEV", LEN_EXACT, sizeof(struct xfrm_user_offload) },
	[XFRMA_SET_MARK] = { "XFRMA_SET_MARK", LEN_EXACT, 4 },
	[XFRMA_SET_MARK_MASK] = { "XFRMA_SET_MARK_MASK", LEN_EXACT, 4 },
	[XFRMA_IF_ID] = { "XFRMA_IF_ID", LEN_EXACT, 4 },
	[XFRMA_MTIMER_THRESH] = { "XFRMA_MTIMER_THRESH", LEN_EXACT, 4 },
	[SAGATE_XFRMA_SA_DIR] = { "XFRMA_SA_DIR", LEN_EXACT, 1 },
};

/* The algorithm structs end in a key whose length is given in bits; the
 * kernel sends exactly header + key bytes, so anything else means the
 * message lies about one of them. */
static int check_alg(const struct nlattr *a, const char *what, size_t hdr,
		     struct diag_list *d)
{
	size_t len = mnl_attr_get_payload_len(a);
	const char *p = mnl_attr_get_payload(a);
	struct xfrm_algo head;
	uint64_t keybytes;

	if (len < hdr)
		return xfrm_fail(d, "%s: %zu bytes, shorter than its %zu-byte struct",
				 what, len, hdr);
	memcpy(&head, p, sizeof(head));
	if (!memchr(head.alg_name, '\0', sizeof(head.alg_name)))
		return xfrm_fail(d, "%s: algorithm name is not NUL-terminated", what);
	keybytes = ((uint64_t)head.alg_key_len + 7) / 8;
	if (len - hdr != keybytes)
		return xfrm_fail(d,
				 "%s: key length %u bits needs %llu key bytes, the attribute holds %zu",
				 what, head.alg_key_len, (unsigned long long)keybytes, len - hdr);
	return 0;
}

static int check_custom(const struct nlattr *a, uint16_t type, struct diag_list *d)
{
	const char *name = attr_rules[type].name;
	size_t len = mnl_attr_get_payload_len(a);
	const char *p = mnl_attr_get_payload(a);

	switch (type) {
	case XFRMA_ALG_AUTH:
	case XFRMA_ALG_CRYPT:
	case XFRMA_ALG_COMP:
		return check_alg(a, name, sizeof(struct xfrm_algo), d);
	case XFRMA_ALG_AUTH_TRUNC:
		return check_alg(a, name, sizeof(struct xfrm_algo_auth), d);
	case XFRMA_ALG_AEAD:
		return check_alg(a, name, sizeof(struct xfrm_algo_aead), d);
	case XFRMA_SEC_CTX: {
		struct xfrm_user_sec_ctx u;

		if (len < sizeof(u))
			return xfrm_fail(d, "%s: %zu bytes, shorter than its %zu-byte struct",
					 name, len, sizeof(u));
		memcpy(&u, p, sizeof(u));
		if (u.len != sizeof(u) + (size_t)u.ctx_len || u.len > len)
			return xfrm_fail(d, "%s: context length %u disagrees with attribute size %zu",
					 name, (unsigned)u.ctx_len, len);
		return 0;
	}
	case XFRMA_REPLAY_ESN_VAL: {
		struct xfrm_replay_state_esn e;

		if (len < sizeof(e))
			return xfrm_fail(d, "%s: %zu bytes, shorter than its %zu-byte struct",
					 name, len, sizeof(e));
		memcpy(&e, p, sizeof(e));
		if (e.bmp_len > XFRMA_REPLAY_ESN_MAX / 32 ||
		    len != sizeof(e) + (size_t)e.bmp_len * sizeof(uint32_t))
			return xfrm_fail(d, "%s: bitmap of %u words disagrees with attribute size %zu",
					 name, e.bmp_len, len);
		return 0;
	}
	}
	return 0;
}

/* Walk the attributes after a fixed header of hdrlen bytes.  Every one is
 * checked, unknown types are skipped, and the walk must end exactly at the
 * end of the message: a truncated last attribute is an error, not the end. */
static int parse_attrs(const struct nlmsghdr *nlh, size_t hdrlen,
		       const struct nlattr **tb, struct diag_list *d)
{
	const char *base = (const char *)nlh;
	size_t end = nlh->nlmsg_len, off = MNL_NLMSG_HDRLEN + MNL_ALIGN(hdrlen);

	memset(tb, 0, sizeof(*tb) * (SAGATE_XFRMA_KNOWN + 1));
	while (off < end) {
		const struct nlattr *a = (const struct nlattr *)(base + off);
		uint16_t type;

		if (!mnl_attr_ok(a, (int)(end - off))) {
			if (end - off < sizeof(struct nlattr))
				return xfrm_fail(d, "%zu stray bytes after the last attribute",
						 end - off);
			if (a->nla_len < sizeof(struct nlattr))
				return xfrm_fail(d,
						 "attribute %u at offset %zu: length %u is below the 4-byte attribute header",
						 mnl_attr_get_type(a), off, a->nla_len);
			return xfrm_fail(d,
					 "attribute %u at offset %zu: length %u runs beyond the %zu bytes left",
					 mnl_attr_get_type(a), off, a->nla_len, end - off);
		}
		type = mnl_attr_get_type(a);
		if (type <= SAGATE_XFRMA_KNOWN && attr_rules[type].name) {
			const struct attr_rule *r = &attr_rules[type];
			size_t len = mnl_attr_get_payload_len(a);

			if (r->rule == LEN_EXACT &&
			    mnl_attr_validate2(a, MNL_TYPE_BINARY, r->n) < 0)
				return xfrm_fail(d, "%s: %zu bytes, expected %zu",
						 r->name, len, r->n);
			if (r->rule == LEN_ARRAY && (len == 0 || len % r->n))
				return xfrm_fail(d, "%s: %zu bytes, not a whole number of %zu-byte records",
						 r->name, len, r->n);
			if (r->rule == LEN_CUSTOM && check_custom(a, type, d) < 0)
				return -1;
			tb[type] = a;
		}
		off += MNL_ALIGN(a->nla_len);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Messages */

u128 xfrm_addr_from(const xfrm_address_t *a, enum addr_family fam)
{
	const uint8_t *b = (const uint8_t *)a;
	unsigned n = fam == AF4 ? 4 : 16;
	u128 v = 0;

	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | b[i];
	return v;
}

int xfrm_family_from(unsigned family, enum addr_family *out)
{
	if (family == AF_INET)
		*out = AF4;
	else if (family == AF_INET6)
		*out = AF6;
	else
		return -1;
	return 0;
}

int xfrm_sel_from(const struct xfrm_selector *s, const char *what,
		  struct xfrm_sel *out, struct diag_list *d)
{
	memset(out, 0, sizeof(*out));
	if (s->family == AF_UNSPEC)
		return 0;
	if (xfrm_family_from(s->family, &out->fam) < 0)
		return xfrm_fail(d, "%s family %u is neither AF_INET nor AF_INET6",
				 what, s->family);
	if (s->prefixlen_s > (out->fam == AF4 ? 32 : 128) ||
	    s->prefixlen_d > (out->fam == AF4 ? 32 : 128))
		return xfrm_fail(d, "%s prefix length /%u or /%u is too long for its family",
				 what, s->prefixlen_s, s->prefixlen_d);
	out->set = true;
	out->saddr = xfrm_addr_from(&s->saddr, out->fam);
	out->daddr = xfrm_addr_from(&s->daddr, out->fam);
	out->plen_s = s->prefixlen_s;
	out->plen_d = s->prefixlen_d;
	out->proto = s->proto;
	out->sport = ntohs(s->sport);
	out->sport_mask = ntohs(s->sport_mask);
	out->dport = ntohs(s->dport);
	out->dport_mask = ntohs(s->dport_mask);
	out->ifindex = s->ifindex;
	return 0;
}

static void life_from(const struct xfrm_lifetime_cfg *cfg,
		      const struct xfrm_lifetime_cur *cur, struct xfrm_life *l)
{
	l->add_time = cur->add_time;
	l->use_time = cur->use_time;
	l->bytes = cur->bytes;
	l->packets = cur->packets;
	l->soft_add = cfg->soft_add_expires_seconds;
	l->hard_add = cfg->hard_add_expires_seconds;
	l->soft_use = cfg->soft_use_expires_seconds;
	l->hard_use = cfg->hard_use_expires_seconds;
	l->soft_bytes = cfg->soft_byte_limit;
	l->hard_bytes = cfg->hard_byte_limit;
	l->soft_packets = cfg->soft_packet_limit;
	l->hard_packets = cfg->hard_packet_limit;
}

/* The fields every SA message's xfrm_usersa_info carries. */
static int sa_from_info(const struct xfrm_usersa_info *p, struct xfrm_sa *out,
			struct diag_list *d)
{
	if (xfrm_family_from(p->family, &out->fam) < 0)
		return xfrm_fail(d, "SA family %u is neither AF_INET nor AF_INET6",
				 p->family);
	out->saddr = xfrm_addr_from(&p->saddr, out->fam);
	out->daddr = xfrm_addr_from(&p->id.daddr, out->fam);
	out->spi = ntohl(p->id.spi);
	out->proto = p->id.proto;
	out->kmode = p->mode;
	out->mode = p->mode == XFRM_MODE_TRANSPORT ? XFRM_SA_TRANSPORT :
		    p->mode == XFRM_MODE_TUNNEL ? XFRM_SA_TUNNEL : XFRM_SA_OTHER;
	out->reqid = p->reqid;
	out->flags = p->flags;
	life_from(&p->lft, &p->curlft, &out->life);
	return xfrm_sel_from(&p->sel, "selector", &out->sel, d);
}

/* The three algorithm structs share their head: name, key bits, then (not
 * in struct xfrm_algo) the ICV or truncation bits. */
static void alg_from(const struct nlattr *a, size_t hdr, enum xfrm_alg_kind kind,
		     struct xfrm_alg *out)
{
	struct xfrm_algo_aead h;

	memset(&h, 0, sizeof(h));
	memcpy(&h, mnl_attr_get_payload(a), hdr);
	out->present = true;
	memcpy(out->name, h.alg_name, sizeof(out->name));
	out->key_bits = h.alg_key_len;
	out->icv_bits = h.alg_icv_len;
	out->bit = xfrm_alg_bit(kind, out->name, out->key_bits, out->icv_bits);
}

static uint32_t attr_u32(const struct nlattr *a)
{
	uint32_t v;

	memcpy(&v, mnl_attr_get_payload(a), sizeof(v));
	return v;
}

/* Attributes shared by SA and expire messages: mark, interface id, direction. */
static void key_attrs(const struct nlattr **tb, struct xfrm_sa *out)
{
	if (tb[XFRMA_MARK]) {
		struct xfrm_mark m;

		memcpy(&m, mnl_attr_get_payload(tb[XFRMA_MARK]), sizeof(m));
		out->mark_v = m.v;
		out->mark_m = m.m;
	}
	if (tb[XFRMA_IF_ID])
		out->if_id = attr_u32(tb[XFRMA_IF_ID]);
	if (tb[SAGATE_XFRMA_SA_DIR])
		out->dir = *(const uint8_t *)mnl_attr_get_payload(tb[SAGATE_XFRMA_SA_DIR]);
}

static int algs_from(const struct nlattr **tb, struct xfrm_sa *out, struct diag_list *d)
{
	if (tb[XFRMA_ALG_AEAD] && (tb[XFRMA_ALG_CRYPT] || tb[XFRMA_ALG_AUTH] ||
				   tb[XFRMA_ALG_AUTH_TRUNC]))
		return xfrm_fail(d, "an AEAD together with a cipher or an integrity algorithm");
	if (out->proto == XFRM_PROTO_AH && (tb[XFRMA_ALG_AEAD] || tb[XFRMA_ALG_CRYPT]))
		return xfrm_fail(d, "an AH SA with an encryption algorithm");
	if (tb[XFRMA_ALG_AEAD])
		alg_from(tb[XFRMA_ALG_AEAD], sizeof(struct xfrm_algo_aead), XFRM_ALG_AEAD,
			 &out->aead);
	if (tb[XFRMA_ALG_CRYPT])
		alg_from(tb[XFRMA_ALG_CRYPT], sizeof(struct xfrm_algo), XFRM_ALG_CRYPT,
			 &out->crypt);
	/* the kernel reports an integrity algorithm twice: without and with
	 * its truncation; the two must agree, and the truncated one counts */
	if (tb[XFRMA_ALG_AUTH_TRUNC]) {
		alg_from(tb[XFRMA_ALG_AUTH_TRUNC], sizeof(struct xfrm_algo_auth),
			 XFRM_ALG_AUTH, &out->auth);
		if (tb[XFRMA_ALG_AUTH]) {
			struct xfrm_alg plain;

			alg_from(tb[XFRMA_ALG_AUTH], sizeof(struct xfrm_algo), XFRM_ALG_AUTH,
				 &plain);
			if (strcmp(plain.name, out->auth.name) != 0 ||
			    plain.key_bits != out->auth.key_bits)
				return xfrm_fail(d,
						 "XFRMA_ALG_AUTH (%s, %u bits) and XFRMA_ALG_AUTH_TRUNC (%s, %u bits) disagree",
						 plain.name, plain.key_bits, out->auth.name,
						 out->auth.key_bits);
		}
	} else if (tb[XFRMA_ALG_AUTH]) {
		alg_from(tb[XFRMA_ALG_AUTH], sizeof(struct xfrm_algo), XFRM_ALG_AUTH,
			 &out->auth);
		out->auth.icv_bits = auth_default_trunc(out->auth.name);
		out->auth.bit = xfrm_alg_bit(XFRM_ALG_AUTH, out->auth.name,
					     out->auth.key_bits, out->auth.icv_bits);
	}
	out->comp = tb[XFRMA_ALG_COMP] != NULL;
	return 0;
}

int xfrm_check_len(const struct nlmsghdr *nlh, size_t hdrlen, const char *what,
		   struct diag_list *d)
{
	if (!nlh)
		return xfrm_fail(d, "no message");
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN)
		return xfrm_fail(d, "message of %u bytes is shorter than a netlink header",
				 nlh->nlmsg_len);
	if (nlh->nlmsg_len - MNL_NLMSG_HDRLEN < hdrlen)
		return xfrm_fail(d, "%s: %u payload bytes, shorter than its %zu-byte header",
				 what, nlh->nlmsg_len - (unsigned)MNL_NLMSG_HDRLEN, hdrlen);
	return 0;
}

static const char *msg_name(uint16_t type)
{
	switch (type) {
	case XFRM_MSG_NEWSA:
		return "XFRM_MSG_NEWSA";
	case XFRM_MSG_UPDSA:
		return "XFRM_MSG_UPDSA";
	case XFRM_MSG_DELSA:
		return "XFRM_MSG_DELSA";
	case XFRM_MSG_EXPIRE:
		return "XFRM_MSG_EXPIRE";
	case XFRM_MSG_FLUSHSA:
		return "XFRM_MSG_FLUSHSA";
	}
	return "message";
}

/* A DELSA names its SA twice: by id in the header and in XFRMA_SA. */
static int delsa_consistent(const struct xfrm_usersa_id *id,
			    const struct xfrm_usersa_info *p, struct diag_list *d)
{
	if (id->spi != p->id.spi || id->proto != p->id.proto ||
	    id->family != p->family ||
	    memcmp(&id->daddr, &p->id.daddr, sizeof(id->daddr)) != 0)
		return xfrm_fail(d,
				 "XFRM_MSG_DELSA: its id (spi 0x%08x, proto %u) and XFRMA_SA (spi 0x%08x, proto %u) name different SAs",
				 ntohl(id->spi), id->proto, ntohl(p->id.spi), p->id.proto);
	return 0;
}

int xfrm_parse_sa(const struct nlmsghdr *nlh, struct xfrm_sa *out, struct diag_list *d)
{
	const struct nlattr *tb[SAGATE_XFRMA_KNOWN + 1];
	struct xfrm_usersa_info info;
	struct xfrm_usersa_id id;
	bool del;
	size_t hdrlen;

	memset(out, 0, sizeof(*out));
	if (xfrm_check_len(nlh, 0, "", d) < 0)
		return -1;
	if (nlh->nlmsg_type != XFRM_MSG_NEWSA && nlh->nlmsg_type != XFRM_MSG_UPDSA &&
	    nlh->nlmsg_type != XFRM_MSG_DELSA)
		return xfrm_fail(d, "message type %u is not an SA message",
				 nlh->nlmsg_type);
	del = nlh->nlmsg_type == XFRM_MSG_DELSA;
	hdrlen = del ? sizeof(id) : sizeof(info);
	if (xfrm_check_len(nlh, hdrlen, msg_name(nlh->nlmsg_type), d) < 0 ||
	    parse_attrs(nlh, hdrlen, tb, d) < 0)
		return -1;
	if (!del) {
		memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof(info));
	} else {
		memcpy(&id, mnl_nlmsg_get_payload(nlh), sizeof(id));
		if (!tb[XFRMA_SA]) {
			/* only the key: enough to delete */
			if (xfrm_family_from(id.family, &out->fam) < 0)
				return xfrm_fail(d, "SA family %u is neither AF_INET nor AF_INET6",
						 id.family);
			out->daddr = xfrm_addr_from(&id.daddr, out->fam);
			out->spi = ntohl(id.spi);
			out->proto = id.proto;
			out->key_only = true;
			key_attrs(tb, out);
			return 0;
		}
		memcpy(&info, mnl_attr_get_payload(tb[XFRMA_SA]), sizeof(info));
		if (delsa_consistent(&id, &info, d) < 0)
			return -1;
	}
	if (sa_from_info(&info, out, d) < 0 ||
	    algs_from(tb, out, d) < 0)
		return -1;
	key_attrs(tb, out);
	out->encap = tb[XFRMA_ENCAP] != NULL;
	if (tb[XFRMA_LTIME_VAL]) {
		struct xfrm_lifetime_cur cur;

		memcpy(&cur, mnl_attr_get_payload(tb[XFRMA_LTIME_VAL]), sizeof(cur));
		out->life.add_time = cur.add_time;
		out->life.use_time = cur.use_time;
		out->life.bytes = cur.bytes;
		out->life.packets = cur.packets;
	}
	return 0;
}

int xfrm_parse_expire(const struct nlmsghdr *nlh, struct xfrm_sa *out,
		      bool *hard, struct diag_list *d)
{
	const struct nlattr *tb[SAGATE_XFRMA_KNOWN + 1];
	struct xfrm_user_expire ue;

	memset(out, 0, sizeof(*out));
	*hard = false;
	if (xfrm_check_len(nlh, 0, "", d) < 0)
		return -1;
	if (nlh->nlmsg_type != XFRM_MSG_EXPIRE)
		return xfrm_fail(d, "message type %u is not XFRM_MSG_EXPIRE",
				 nlh->nlmsg_type);
	if (xfrm_check_len(nlh, sizeof(ue), "XFRM_MSG_EXPIRE", d) < 0 ||
	    parse_attrs(nlh, sizeof(ue), tb, d) < 0)
		return -1;
	memcpy(&ue, mnl_nlmsg_get_payload(nlh), sizeof(ue));
	if (ue.hard > 1)
		return xfrm_fail(d, "XFRM_MSG_EXPIRE: hard flag %u is neither 0 nor 1",
				 ue.hard);
	if (sa_from_info(&ue.state, out, d) < 0)
		return -1;
	key_attrs(tb, out);
	*hard = ue.hard;
	return 0;
}

int xfrm_parse_flush(const struct nlmsghdr *nlh, uint8_t *proto, struct diag_list *d)
{
	struct xfrm_usersa_flush f;

	if (xfrm_check_len(nlh, 0, "", d) < 0)
		return -1;
	if (nlh->nlmsg_type != XFRM_MSG_FLUSHSA)
		return xfrm_fail(d, "message type %u is not XFRM_MSG_FLUSHSA",
				 nlh->nlmsg_type);
	if (xfrm_check_len(nlh, sizeof(f), "XFRM_MSG_FLUSHSA", d) < 0)
		return -1;
	memcpy(&f, mnl_nlmsg_get_payload(nlh), sizeof(f));
	*proto = f.proto;
	return 0;
}

size_t xfrm_getsa_request(void *buf, size_t len, const struct xfrm_sa *key, uint32_t seq)
{
	struct nlmsghdr *nlh;
	struct xfrm_usersa_id id;
	struct xfrm_mark m = { key->mark_v, key->mark_m };
	size_t need = MNL_ALIGN(MNL_NLMSG_HDRLEN + sizeof(id)) + MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof(m));

	if (len < need)
		return 0;
	memset(buf, 0, need);
	memset(&id, 0, sizeof(id));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_GETSA;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	id.family = key->fam == AF6 ? AF_INET6 : AF_INET;
	if (key->fam == AF6) {
		for (int i = 0; i < 16; i++)
			((uint8_t *)&id.daddr)[i] = (uint8_t)(key->daddr >> (8 * (15 - i)));
	} else {
		uint32_t a = htonl((uint32_t)key->daddr);

		memcpy(&id.daddr, &a, sizeof(a));
	}
	id.spi = htonl(key->spi);
	id.proto = key->proto;
	memcpy(mnl_nlmsg_put_extra_header(nlh, sizeof(id)), &id, sizeof(id));
	/* the mark is part of the kernel's key: without it another SA of
	 * the same SPI and address could answer */
	if (key->mark_v || key->mark_m)
		mnl_attr_put(nlh, XFRMA_MARK, sizeof(m), &m);
	return nlh->nlmsg_len;
}
