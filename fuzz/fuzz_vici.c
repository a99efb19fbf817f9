/* fuzz_vici: libFuzzer target for the vici wire format (vici_msg.c) and
 * the identity map fed from it (vici_ident.c).
 *
 * Input: one vici packet as it follows the length field on charon's
 * socket.  Checks: a packet is refused with a reason, or decoded; a
 * decoded message encodes back to exactly its bytes (the format has one
 * encoding per tree; values holding a NUL byte, which requests never
 * carry, are left out of that check); the message applied as each event
 * the map knows either changes it consistently (every SA it holds is
 * found by its SPI and reqid, with an identity) or is refused with a
 * reason. */
#include "config.h"

#include "vici_ident.h"
#include "vici_msg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_vici: %s\n", what);
	abort();
}

/* Encode the children of section n; false if a value holds a NUL. */
static bool encode(struct vici_enc *e, const struct vici_node *n)
{
	for (const struct vici_node *c = n->child; c; c = c->next) {
		switch (c->kind) {
		case VICI_N_SECTION:
			vici_enc_section(e, c->name);
			if (!encode(e, c))
				return false;
			vici_enc_section_end(e);
			break;
		case VICI_N_KV:
			if (strlen(c->value) != c->vlen)
				return false;
			vici_enc_kv(e, c->name, c->value);
			break;
		case VICI_N_LIST:
			vici_enc_list(e, c->name);
			for (const struct vici_node *i = c->child; i; i = i->next) {
				if (i->kind != VICI_N_ITEM)
					fail("a list holds something other than items");
				if (strlen(i->value) != i->vlen)
					return false;
				vici_enc_item(e, i->value);
			}
			vici_enc_list_end(e);
			break;
		case VICI_N_ITEM:
			fail("an item outside a list");
		}
	}
	return true;
}

static void check_map(const struct vici_idmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct vici_ident_sa *s = &m->sa[i];
		const struct sa_ident *id = vici_idmap_lookup(m, s->spi, s->reqid);

		if (!s->spi || !s->ident.id || !s->conn || !s->child)
			fail("an SA without SPI, identity or names");
		if (!id || !id->id)
			fail("an SA held is not found by its SPI and reqid");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const events[] = {
		"list-conn", "list-sa", "ike-updown", "ike-rekey", "child-updown", "child-rekey",
	};
	struct vici_packet p;
	struct vici_idmap m;
	char err[512] = "";

	if (vici_packet_parse(data, size, &p, err, sizeof err) < 0) {
		if (!err[0] || p.msg)
			fail("a refused packet without a reason, or with a message");
		return 0;
	}
	if (!p.msg)
		return 0;
	if (p.type == VICI_EVENT || p.type == VICI_CMD_REQUEST) {
		size_t off = 2 + strlen(p.name);
		struct vici_enc e;

		vici_enc_begin(&e, VICI_CMD_RESPONSE, NULL);
		if (encode(&e, p.msg)) {
			if (vici_enc_end(&e) < 0)
				fail("a decoded message does not encode");
			if (e.len - 5 != size - off || memcmp(e.data + 5, data + off, size - off))
				fail("a decoded message encodes to other bytes");
		}
		vici_enc_fini(&e);
	}
	vici_idmap_init(&m);
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		err[0] = 0;
		if (vici_idmap_event(&m, events[i], p.msg, err, sizeof err) < 0) {
			if (!err[0])
				fail("a refused event without a reason");
			vici_idmap_clear(&m);
		}
		check_map(&m);
	}
	vici_idmap_fini(&m);
	vici_packet_fini(&p);
	return 0;
}
