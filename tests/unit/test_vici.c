/* vici: the wire format of strongSwan's control protocol (vici_msg.c)
 * decoded strictly and encoded, and the identity map kept from charon's
 * events (vici_ident.c). */
#include "config.h"

#include "vici_ident.h"
#include "vici_msg.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The example of strongSwan's vici README:
 *   key1 = value1
 *   section1 = { sub-section = { key2 = value2 } list1 = [ item1, item2 ] } */
static const uint8_t example[] = {
	3, 4, 'k', 'e', 'y', '1', 0, 6, 'v', 'a', 'l', 'u', 'e', '1',
	1, 8, 's', 'e', 'c', 't', 'i', 'o', 'n', '1',
	1, 11, 's', 'u', 'b', '-', 's', 'e', 'c', 't', 'i', 'o', 'n',
	3, 4, 'k', 'e', 'y', '2', 0, 6, 'v', 'a', 'l', 'u', 'e', '2',
	2,
	4, 5, 'l', 'i', 's', 't', '1',
	5, 0, 5, 'i', 't', 'e', 'm', '1',
	5, 0, 5, 'i', 't', 'e', 'm', '2',
	6,
	2,
};

static char err[512];

static struct vici_node *parse(const void *b, size_t n)
{
	err[0] = 0;
	return vici_msg_parse(b, n, err, sizeof err);
}

static void refused(const void *b, size_t n, const char *why)
{
	struct vici_node *m = parse(b, n);

	cr_assert_null(m, "accepted, expected: %s", why);
	cr_assert(strstr(err, why), "error '%s' does not say '%s'", err, why);
}

Test(vici_msg, readme_example_decodes)
{
	struct vici_node *m = parse(example, sizeof example);
	const struct vici_node *s1, *sub, *l;

	cr_assert_not_null(m, "%s", err);
	cr_assert_str_eq(vici_str(m, "key1"), "value1");
	s1 = vici_get(m, "section1", VICI_N_SECTION);
	cr_assert_not_null(s1);
	sub = vici_get(s1, "sub-section", VICI_N_SECTION);
	cr_assert_str_eq(vici_str(sub, "key2"), "value2");
	cr_assert_null(vici_str(s1, "key2"), "a key of a sub-section is not its parent's");
	l = vici_get(s1, "list1", VICI_N_LIST);
	cr_assert_not_null(l);
	cr_assert_eq(l->child->kind, VICI_N_ITEM);
	cr_assert_str_eq(l->child->value, "item1");
	cr_assert_str_eq(l->child->next->value, "item2");
	cr_assert_null(l->child->next->next);
	cr_assert_null(vici_get(m, "section1", VICI_N_KV), "kinds are told apart");
	vici_node_free(m);
}

Test(vici_msg, encoder_writes_the_readme_example)
{
	struct vici_enc e;

	vici_enc_begin(&e, VICI_CMD_RESPONSE, NULL);
	vici_enc_kv(&e, "key1", "value1");
	vici_enc_section(&e, "section1");
	vici_enc_section(&e, "sub-section");
	vici_enc_kv(&e, "key2", "value2");
	vici_enc_section_end(&e);
	vici_enc_list(&e, "list1");
	vici_enc_item(&e, "item1");
	vici_enc_item(&e, "item2");
	vici_enc_list_end(&e);
	vici_enc_section_end(&e);
	cr_assert_eq(vici_enc_end(&e), 0);
	cr_assert_eq(e.len, 5 + sizeof example);
	cr_assert_eq(e.data[0], 0);
	cr_assert_eq(e.data[3], 1 + sizeof example, "length counts type and message");
	cr_assert_eq(e.data[4], VICI_CMD_RESPONSE);
	cr_assert_eq(memcmp(e.data + 5, example, sizeof example), 0);
	vici_enc_fini(&e);
}

Test(vici_msg, every_truncation_is_refused)
{
	/* a prefix is a valid message only when empty or just "key1 = value1" */
	for (size_t n = 0; n < sizeof example; n++) {
		struct vici_node *m = parse(example, n);

		if (n == 0 || n == 14) {
			cr_assert_not_null(m, "prefix %zu: %s", n, err);
			vici_node_free(m);
		} else
			cr_assert_null(m, "prefix %zu of the example accepted", n);
	}
}

Test(vici_msg, a_trailing_element_or_byte_is_refused)
{
	uint8_t b[sizeof example + 1];

	memcpy(b, example, sizeof example);
	b[sizeof example] = 2;
	refused(b, sizeof b, "section end without an open section");
	b[sizeof example] = 6;
	refused(b, sizeof b, "list end without an open list");
	b[sizeof example] = 5;
	refused(b, sizeof b, "list item outside a list");
	b[sizeof example] = 0;
	refused(b, sizeof b, "unknown element type 0");
	b[sizeof example] = 7;
	refused(b, sizeof b, "unknown element type 7");
}

Test(vici_msg, lists_hold_only_items)
{
	static const uint8_t kv_in_list[] = { 4, 1, 'l', 3, 1, 'k', 0, 0, 6 };
	static const uint8_t nested[] = { 4, 1, 'l', 4, 1, 'm', 6, 6 };
	static const uint8_t sec_in_list[] = { 4, 1, 'l', 1, 1, 's', 2, 6 };
	static const uint8_t sec_end_in_list[] = { 1, 1, 's', 4, 1, 'l', 2, 6 };
	static const uint8_t open_list[] = { 4, 1, 'l', 5, 0, 0 };
	static const uint8_t empty_list[] = { 4, 1, 'l', 6 };
	struct vici_node *m;

	refused(kv_in_list, sizeof kv_in_list, "inside list 'l'");
	refused(nested, sizeof nested, "inside list 'l'");
	refused(sec_in_list, sizeof sec_in_list, "inside list 'l'");
	refused(sec_end_in_list, sizeof sec_end_in_list, "inside list 'l'");
	refused(open_list, sizeof open_list, "message ends inside list 'l'");
	m = parse(empty_list, sizeof empty_list);
	cr_assert_not_null(m, "an empty list is allowed: %s", err);
	vici_node_free(m);
}

Test(vici_msg, lengths_past_the_end_are_refused)
{
	static const uint8_t name[] = { 3, 5, 'k', 'e', 'y' };
	static const uint8_t value[] = { 3, 1, 'k', 0, 9, 'v' };
	static const uint8_t value_len[] = { 3, 1, 'k', 0 };
	static const uint8_t no_name[] = { 1 };
	static const uint8_t item[] = { 4, 1, 'l', 5, 1, 0 };

	refused(name, sizeof name, "key name of 5 bytes, only 3 left");
	refused(value, sizeof value, "key value of 9 bytes, only 1 left");
	refused(value_len, sizeof value_len, "key value length expected");
	refused(no_name, sizeof no_name, "section name length expected");
	refused(item, sizeof item, "list item value of 256 bytes");
}

Test(vici_msg, names_are_printable_ascii_and_not_empty)
{
	static const uint8_t empty[] = { 3, 0, 0, 0 };
	static const uint8_t ctl[] = { 3, 1, '\n', 0, 0 };
	static const uint8_t high[] = { 1, 1, 0xc3, 2 };
	static const uint8_t nul[] = { 4, 2, 'a', 0, 6 };

	refused(empty, sizeof empty, "printable ASCII");
	refused(ctl, sizeof ctl, "printable ASCII");
	refused(high, sizeof high, "printable ASCII");
	refused(nul, sizeof nul, "printable ASCII");
}

Test(vici_msg, duplicate_names_in_one_section_are_refused)
{
	static const uint8_t dup_kv[] = { 3, 1, 'k', 0, 0, 3, 1, 'k', 0, 0 };
	static const uint8_t dup_mixed[] = { 3, 1, 'k', 0, 0, 1, 1, 'k', 2 };
	static const uint8_t apart[] = { 3, 1, 'k', 0, 0, 1, 1, 's', 3, 1, 'k', 0, 0, 2 };
	struct vici_node *m;

	refused(dup_kv, sizeof dup_kv, "duplicate name 'k'");
	refused(dup_mixed, sizeof dup_mixed, "duplicate name 'k'");
	m = parse(apart, sizeof apart);
	cr_assert_not_null(m, "the same name in two sections: %s", err);
	vici_node_free(m);
}

/* depth sections nested, each named "s" */
static struct vici_node *nest(unsigned depth)
{
	uint8_t b[4 * 40];
	size_t n = 0;

	for (unsigned i = 0; i < depth; i++) {
		b[n++] = 1;
		b[n++] = 1;
		b[n++] = 's';
	}
	for (unsigned i = 0; i < depth; i++)
		b[n++] = 2;
	return parse(b, n);
}

Test(vici_msg, depth_is_limited)
{
	struct vici_node *m = nest(VICI_DEPTH_MAX);

	cr_assert_not_null(m, "%d levels: %s", VICI_DEPTH_MAX, err);
	vici_node_free(m);
	cr_assert_null(nest(VICI_DEPTH_MAX + 1));
	cr_assert(strstr(err, "nested deeper than 16"), "%s", err);
}

/* A list of n empty items, lists times over (names l0, l1, ...). */
static uint8_t *items(unsigned lists, unsigned n, size_t *len)
{
	uint8_t *b = malloc((size_t)lists * (4 + 3 * n + 1) + 1);
	size_t o = 0;

	cr_assert_not_null(b);
	for (unsigned l = 0; l < lists; l++) {
		b[o++] = 4;
		b[o++] = 2;
		b[o++] = 'a' + l / 26;
		b[o++] = 'a' + l % 26;
		for (unsigned i = 0; i < n; i++) {
			b[o++] = 5;
			b[o++] = 0;
			b[o++] = 0;
		}
		b[o++] = 6;
	}
	*len = o;
	return b;
}

Test(vici_msg, children_and_elements_are_limited)
{
	struct vici_node *m;
	uint8_t *b;
	size_t n;

	b = items(1, VICI_CHILDREN_MAX, &n);
	m = parse(b, n);
	cr_assert_not_null(m, "%s", err);
	vici_node_free(m);
	free(b);
	b = items(1, VICI_CHILDREN_MAX + 1, &n);
	refused(b, n, "more than 4096 elements in one list");
	free(b);
	/* 17 lists of 4000 items: more elements than a message may hold */
	b = items(17, 4000, &n);
	refused(b, n, "more than 65536 elements in one message");
	free(b);
}

Test(vici_msg, values_are_blobs_strings_have_no_nul)
{
	static const uint8_t b[] = { 3, 1, 'k', 0, 3, 'a', 0, 'b', 3, 1, 'e', 0, 0 };
	struct vici_node *m = parse(b, sizeof b);

	cr_assert_not_null(m, "%s", err);
	cr_assert_null(vici_str(m, "k"), "a value with a NUL is no string");
	cr_assert_eq(vici_get(m, "k", VICI_N_KV)->vlen, 3);
	cr_assert_str_eq(vici_str(m, "e"), "");
	vici_node_free(m);
}

Test(vici_packet, types_names_and_messages)
{
	static const uint8_t confirm[] = { VICI_EVENT_CONFIRM };
	static const uint8_t confirm_more[] = { VICI_EVENT_CONFIRM, 0 };
	static const uint8_t reg[] = { VICI_EVENT_REGISTER, 7, 'l', 'i', 's', 't', '-', 's', 'a' };
	static const uint8_t reg_more[] = { VICI_EVENT_REGISTER, 1, 'x', 2 };
	static const uint8_t reg_short[] = { VICI_EVENT_REGISTER, 4, 'x' };
	static const uint8_t reg_noname[] = { VICI_EVENT_REGISTER };
	static const uint8_t reg_empty[] = { VICI_EVENT_REGISTER, 0 };
	static const uint8_t ev[] = { VICI_EVENT, 1, 'e', 3, 1, 'k', 0, 1, 'v' };
	static const uint8_t ev_bad[] = { VICI_EVENT, 1, 'e', 3, 1, 'k', 0, 2, 'v' };
	static const uint8_t resp[] = { VICI_CMD_RESPONSE };
	static const uint8_t unknown[] = { 8 };
	struct vici_packet p;

	cr_assert_eq(vici_packet_parse(confirm, sizeof confirm, &p, err, sizeof err), 0, "%s", err);
	cr_assert_eq(p.type, VICI_EVENT_CONFIRM);
	cr_assert_null(p.msg);
	cr_assert_eq(vici_packet_parse(confirm_more, sizeof confirm_more, &p, err, sizeof err), -1);
	cr_assert(strstr(err, "carries no message, 1 bytes follow"), "%s", err);
	cr_assert_eq(vici_packet_parse(reg, sizeof reg, &p, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(p.name, "list-sa");
	cr_assert_eq(vici_packet_parse(reg_more, sizeof reg_more, &p, err, sizeof err), -1);
	cr_assert_eq(vici_packet_parse(reg_short, sizeof reg_short, &p, err, sizeof err), -1);
	cr_assert(strstr(err, "name of 4 bytes, only 1 left"), "%s", err);
	cr_assert_eq(vici_packet_parse(reg_noname, sizeof reg_noname, &p, err, sizeof err), -1);
	cr_assert_eq(vici_packet_parse(reg_empty, sizeof reg_empty, &p, err, sizeof err), -1);
	cr_assert_eq(vici_packet_parse(ev, sizeof ev, &p, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(p.name, "e");
	cr_assert_str_eq(vici_str(p.msg, "k"), "v");
	vici_packet_fini(&p);
	cr_assert_null(p.msg);
	cr_assert_eq(vici_packet_parse(ev_bad, sizeof ev_bad, &p, err, sizeof err), -1);
	cr_assert(strstr(err, "packet type 7 e: message at byte 3: offset 3: key value of 2 bytes"), "%s", err);
	cr_assert_eq(vici_packet_parse(resp, sizeof resp, &p, err, sizeof err), 0, "%s", err);
	cr_assert_not_null(p.msg, "an empty response is an empty message");
	vici_packet_fini(&p);
	cr_assert_eq(vici_packet_parse(unknown, sizeof unknown, &p, err, sizeof err), -1);
	cr_assert(strstr(err, "unknown packet type 8"), "%s", err);
	cr_assert_eq(vici_packet_parse(unknown, 0, &p, err, sizeof err), -1);
	cr_assert_eq(vici_packet_parse(unknown, VICI_PACKET_MAX + 1, &p, err, sizeof err), -1);
	cr_assert(strstr(err, "at most 524288"), "%s", err);
}

Test(vici_enc, misuse_fails_the_packet)
{
	struct vici_enc e;
	char big[VICI_VALUE_MAX + 2];

	vici_enc_begin(&e, VICI_CMD_REQUEST, "list-sas");
	vici_enc_section(&e, "s");
	cr_assert_eq(vici_enc_end(&e), -1, "an open section");
	vici_enc_fini(&e);

	vici_enc_begin(&e, VICI_CMD_REQUEST, "x");
	vici_enc_section_end(&e);
	cr_assert_eq(vici_enc_end(&e), -1, "a section end at the root");
	vici_enc_fini(&e);

	vici_enc_begin(&e, VICI_CMD_REQUEST, "x");
	vici_enc_item(&e, "i");
	cr_assert_eq(vici_enc_end(&e), -1, "an item outside a list");
	vici_enc_fini(&e);

	vici_enc_begin(&e, VICI_CMD_REQUEST, "x");
	vici_enc_list(&e, "l");
	vici_enc_kv(&e, "k", "v");
	vici_enc_list_end(&e);
	cr_assert_eq(vici_enc_end(&e), -1, "a key inside a list");
	vici_enc_fini(&e);

	vici_enc_begin(&e, VICI_CMD_REQUEST, NULL);
	cr_assert_eq(vici_enc_end(&e), -1, "a request needs a name");
	vici_enc_fini(&e);

	vici_enc_begin(&e, VICI_EVENT_CONFIRM, "x");
	cr_assert_eq(vici_enc_end(&e), -1, "a confirmation has no name");
	vici_enc_fini(&e);

	memset(big, 'v', sizeof big);
	big[VICI_VALUE_MAX + 1] = 0;
	vici_enc_begin(&e, VICI_CMD_REQUEST, "x");
	vici_enc_kv(&e, "k", big);
	cr_assert_eq(vici_enc_end(&e), -1, "a value of 65536 bytes");
	vici_enc_fini(&e);
	big[VICI_VALUE_MAX] = 0;
	vici_enc_begin(&e, VICI_CMD_REQUEST, "x");
	vici_enc_kv(&e, "k", big);
	cr_assert_eq(vici_enc_end(&e), 0, "a value of 65535 bytes");
	vici_enc_fini(&e);
	big[VICI_NAME_MAX + 1] = 0;
	vici_enc_begin(&e, VICI_CMD_REQUEST, "x");
	vici_enc_section(&e, big);
	vici_enc_section_end(&e);
	cr_assert_eq(vici_enc_end(&e), -1, "a name of 256 bytes");
	vici_enc_fini(&e);
}

/* ------------------------------------------------------------ identity map */

static struct vici_enc E;

static void ike_begin(const char *conn, const char *uid, const char *state, const char *rid)
{
	vici_enc_section(&E, conn);
	vici_enc_kv(&E, "uniqueid", uid);
	vici_enc_kv(&E, "version", "2");
	vici_enc_kv(&E, "state", state);
	if (rid)
		vici_enc_kv(&E, "remote-id", rid);
	vici_enc_kv(&E, "remote-host", "192.0.2.1");
}

static void child(const char *sec, const char *uid, const char *reqid, const char *state,
		  const char *spi)
{
	vici_enc_section(&E, sec);
	vici_enc_kv(&E, "name", "pg");
	vici_enc_kv(&E, "uniqueid", uid);
	vici_enc_kv(&E, "reqid", reqid);
	vici_enc_kv(&E, "state", state);
	vici_enc_kv(&E, "mode", "TRANSPORT");
	vici_enc_kv(&E, "protocol", "ESP");
	vici_enc_kv(&E, "spi-in", spi);
	vici_enc_kv(&E, "spi-out", "c0ffee01");
	vici_enc_list(&E, "local-ts");
	vici_enc_item(&E, "192.0.2.2/32");
	vici_enc_list_end(&E);
	vici_enc_section_end(&E);
}

/* Finish E as an event packet, decode it and apply it to m. */
static int apply(struct vici_idmap *m)
{
	struct vici_packet p;
	int r;

	cr_assert_eq(vici_enc_end(&E), 0, "test message not encodable");
	cr_assert_eq(vici_packet_parse(E.data + 4, E.len - 4, &p, err, sizeof err), 0, "%s", err);
	err[0] = 0;
	r = vici_idmap_event(m, p.name, p.msg, err, sizeof err);
	vici_packet_fini(&p);
	vici_enc_fini(&E);
	return r;
}

/* list-sa of IKE_SA app (uid 1, CN=app1) with CHILD_SAs 10 (installed,
 * SPI c1000001, reqid 5) and 11 (still CREATED, c1000002). */
static void list_app(struct vici_idmap *m, const char *ike_state)
{
	vici_enc_begin(&E, VICI_EVENT, "list-sa");
	ike_begin("app", "1", ike_state, "C=CH, O=sagate, CN=app1");
	vici_enc_section(&E, "child-sas");
	child("pg-10", "10", "5", "INSTALLED", "c1000001");
	child("pg-11", "11", "6", "CREATED", "c1000002");
	vici_enc_section_end(&E);
	vici_enc_section_end(&E);
	cr_assert_geq(apply(m), 0, "%s", err);
}

Test(vici_ident, list_sa_maps_installed_children_to_the_remote_id)
{
	struct vici_idmap m;
	const struct sa_ident *id;

	vici_idmap_init(&m);
	list_app(&m, "ESTABLISHED");
	id = vici_idmap_lookup(&m, 0xc1000001, 5);
	cr_assert_not_null(id);
	cr_assert_str_eq(id->id, "C=CH, O=sagate, CN=app1");
	cr_assert_null(id->auth, "no list-conn seen: auth unknown");
	cr_assert_null(id->sans);
	cr_assert_null(id->cert_subject);
	cr_assert_eq(vici_idmap_lookup(&m, 0xc1000001, 0), id, "reqid 0: any");
	cr_assert_null(vici_idmap_lookup(&m, 0xc1000001, 6), "another reqid");
	cr_assert_null(vici_idmap_lookup(&m, 0x010000c1, 5), "the SPI is in host order");
	cr_assert_null(vici_idmap_lookup(&m, 0xc1000002, 6), "a CHILD_SA not installed");
	cr_assert_eq(m.n, 1);
	cr_assert_str_eq(m.sa[0].conn, "app");
	cr_assert_str_eq(m.sa[0].child, "pg");
	cr_assert_eq(vici_idmap_lookup_fn(&m, 0xc1000001, 5), id);
	vici_idmap_fini(&m);
}

Test(vici_ident, an_ike_sa_not_established_gives_no_identity)
{
	struct vici_idmap m;

	vici_idmap_init(&m);
	list_app(&m, "CONNECTING");
	cr_assert_null(vici_idmap_lookup(&m, 0xc1000001, 5));
	list_app(&m, "ESTABLISHED");
	cr_assert_not_null(vici_idmap_lookup(&m, 0xc1000001, 5));
	list_app(&m, "DELETING");
	cr_assert_null(vici_idmap_lookup(&m, 0xc1000001, 5), "a listing replaces what it lists");
	vici_idmap_fini(&m);
}

static void child_updown(struct vici_idmap *m, bool up, const char *uid, const char *spi)
{
	vici_enc_begin(&E, VICI_EVENT, "child-updown");
	if (up)
		vici_enc_kv(&E, "up", "yes");
	ike_begin("app", "1", "ESTABLISHED", "C=CH, O=sagate, CN=app1");
	vici_enc_section(&E, "child-sas");
	child("pg-x", uid, "5", up ? "INSTALLED" : "DELETING", spi);
	vici_enc_section_end(&E);
	vici_enc_section_end(&E);
	cr_assert_eq(apply(m), 1, "%s", err);
}

Test(vici_ident, child_updown_adds_and_removes)
{
	struct vici_idmap m;

	vici_idmap_init(&m);
	child_updown(&m, true, "20", "c2000001");
	cr_assert_str_eq(vici_idmap_lookup(&m, 0xc2000001, 5)->id, "C=CH, O=sagate, CN=app1");
	child_updown(&m, true, "21", "C2000002");
	cr_assert_not_null(vici_idmap_lookup(&m, 0xc2000002, 5), "upper-case hex");
	child_updown(&m, false, "20", "c2000001");
	cr_assert_null(vici_idmap_lookup(&m, 0xc2000001, 5));
	cr_assert_not_null(vici_idmap_lookup(&m, 0xc2000002, 5));
	vici_idmap_fini(&m);
}

static void child_rekey(struct vici_idmap *m, const char *old_state)
{
	vici_enc_begin(&E, VICI_EVENT, "child-rekey");
	ike_begin("app", "1", "ESTABLISHED", "C=CH, O=sagate, CN=app1");
	vici_enc_section(&E, "child-sas");
	vici_enc_section(&E, "pg");
	vici_enc_section(&E, "old");
	vici_enc_kv(&E, "name", "pg");
	vici_enc_kv(&E, "uniqueid", "10");
	vici_enc_kv(&E, "reqid", "5");
	vici_enc_kv(&E, "state", old_state);
	vici_enc_kv(&E, "spi-in", "c1000001");
	vici_enc_section_end(&E);
	child("new", "12", "5", "INSTALLED", "c1000003");
	vici_enc_section_end(&E);
	vici_enc_section_end(&E);
	vici_enc_section_end(&E);
	cr_assert_eq(apply(m), 1, "%s", err);
}

Test(vici_ident, child_rekey_adds_the_new_sa_and_drops_a_dead_old_one)
{
	struct vici_idmap m;

	vici_idmap_init(&m);
	list_app(&m, "ESTABLISHED");
	child_rekey(&m, "REKEYED");
	cr_assert_not_null(vici_idmap_lookup(&m, 0xc1000003, 5));
	cr_assert_not_null(vici_idmap_lookup(&m, 0xc1000001, 5), "the old SA still carries packets in flight");
	child_rekey(&m, "DELETED");
	cr_assert_null(vici_idmap_lookup(&m, 0xc1000001, 5));
	cr_assert_not_null(vici_idmap_lookup(&m, 0xc1000003, 5));
	cr_assert_eq(m.n, 1, "the new SA once, not twice");
	vici_idmap_fini(&m);
}

static void ike_down(struct vici_idmap *m, const char *uid)
{
	vici_enc_begin(&E, VICI_EVENT, "ike-updown");
	ike_begin("app", uid, "DELETING", "C=CH, O=sagate, CN=app1");
	vici_enc_section_end(&E);
	apply(m);
}

Test(vici_ident, ike_down_removes_its_children_ike_rekey_moves_them)
{
	struct vici_idmap m;

	vici_idmap_init(&m);
	list_app(&m, "ESTABLISHED");
	vici_enc_begin(&E, VICI_EVENT, "ike-rekey");
	vici_enc_section(&E, "app");
	vici_enc_section(&E, "old");
	vici_enc_kv(&E, "uniqueid", "1");
	vici_enc_kv(&E, "state", "REKEYED");
	vici_enc_kv(&E, "remote-id", "C=CH, O=sagate, CN=app1");
	vici_enc_section_end(&E);
	vici_enc_section(&E, "new");
	vici_enc_kv(&E, "uniqueid", "2");
	vici_enc_kv(&E, "state", "ESTABLISHED");
	vici_enc_kv(&E, "remote-id", "C=CH, O=sagate, CN=app1");
	vici_enc_section_end(&E);
	vici_enc_section_end(&E);
	cr_assert_eq(apply(&m), 1, "%s", err);
	ike_down(&m, "1");
	cr_assert_not_null(vici_idmap_lookup(&m, 0xc1000001, 5), "the rekeyed IKE_SA's end keeps its children");
	ike_down(&m, "2");
	cr_assert_null(vici_idmap_lookup(&m, 0xc1000001, 5));
	cr_assert_eq(m.n, 0);
	vici_idmap_fini(&m);
}

static int list_conn(struct vici_idmap *m, const char *cls)
{
	vici_enc_begin(&E, VICI_EVENT, "list-conn");
	vici_enc_section(&E, "app");
	vici_enc_kv(&E, "version", "IKEv2");
	vici_enc_section(&E, "local-1");
	vici_enc_kv(&E, "class", "pre-shared key");
	vici_enc_section_end(&E);
	vici_enc_section(&E, "remote-1");
	vici_enc_kv(&E, "class", cls);
	vici_enc_section_end(&E);
	vici_enc_section_end(&E);
	return apply(m);
}

Test(vici_ident, auth_comes_from_the_connections_first_remote_round)
{
	struct vici_idmap m;

	vici_idmap_init(&m);
	list_app(&m, "ESTABLISHED");
	cr_assert_eq(list_conn(&m, "public key"), 1, "%s", err);
	cr_assert_str_eq(vici_idmap_lookup(&m, 0xc1000001, 5)->auth, "pubkey", "SAs listed before");
	child_updown(&m, true, "30", "c3000001");
	cr_assert_str_eq(vici_idmap_lookup(&m, 0xc3000001, 5)->auth, "pubkey", "SAs that come after");
	cr_assert_geq(list_conn(&m, "pre-shared key"), 0, "%s", err);
	cr_assert_str_eq(vici_idmap_lookup(&m, 0xc1000001, 5)->auth, "psk");
	cr_assert_geq(list_conn(&m, "EAP"), 0, "%s", err);
	cr_assert_str_eq(vici_idmap_lookup(&m, 0xc1000001, 5)->auth, "eap");
	cr_assert_geq(list_conn(&m, "XAuth"), 0, "%s", err);
	cr_assert_str_eq(vici_idmap_lookup(&m, 0xc1000001, 5)->auth, "xauth");
	cr_assert_geq(list_conn(&m, "any"), 0, "%s", err);
	cr_assert_null(vici_idmap_lookup(&m, 0xc1000001, 5)->auth, "any proves nothing");
	cr_assert_eq(list_conn(&m, "magic"), -1);
	cr_assert(strstr(err, "unknown auth class 'magic'"), "%s", err);
	cr_assert_eq(m.nconns, 1);
	vici_idmap_fini(&m);
}

/* One CHILD_SA listed with one field replaced. */
static int list_bad(const char *uid, const char *reqid, const char *spi, const char *rid)
{
	struct vici_idmap m;
	int r;

	vici_idmap_init(&m);
	vici_enc_begin(&E, VICI_EVENT, "list-sa");
	ike_begin("app", uid, "ESTABLISHED", rid);
	vici_enc_section(&E, "child-sas");
	child("pg-10", "10", reqid, "INSTALLED", spi);
	vici_enc_section_end(&E);
	vici_enc_section_end(&E);
	r = apply(&m);
	vici_idmap_fini(&m);
	return r;
}

Test(vici_ident, what_charon_never_sends_is_refused)
{
	cr_assert_eq(list_bad("1", "5", "c1000001", "CN=x"), 1, "%s", err);
	cr_assert_eq(list_bad("1", "5", "xyz", "CN=x"), -1);
	cr_assert(strstr(err, "spi-in is not 1-8 hex digits"), "%s", err);
	cr_assert_eq(list_bad("1", "5", "1c1000001", "CN=x"), -1, "9 hex digits");
	cr_assert_eq(list_bad("1", "5", "", "CN=x"), -1);
	cr_assert_eq(list_bad("1", "5", " c100000", "CN=x"), -1);
	cr_assert_eq(list_bad("1", "-5", "c1000001", "CN=x"), -1);
	cr_assert(strstr(err, "no decimal reqid"), "%s", err);
	cr_assert_eq(list_bad("1", "4294967296", "c1000001", "CN=x"), -1, "reqid past 32 bits");
	cr_assert_eq(list_bad("+1", "5", "c1000001", "CN=x"), -1);
	cr_assert(strstr(err, "no decimal uniqueid"), "%s", err);
	cr_assert_eq(list_bad("1", "5", "c1000001", NULL), -1);
	cr_assert(strstr(err, "IKE_SA 'app': no remote-id"), "%s", err);
}

Test(vici_ident, other_events_change_nothing)
{
	struct vici_idmap m;

	vici_idmap_init(&m);
	vici_enc_begin(&E, VICI_EVENT, "log");
	vici_enc_kv(&E, "msg", "hello");
	cr_assert_eq(apply(&m), 0);
	vici_idmap_clear(&m);
	list_app(&m, "ESTABLISHED");
	vici_idmap_clear(&m);
	cr_assert_null(vici_idmap_lookup(&m, 0xc1000001, 5), "cleared");
	vici_idmap_fini(&m);
}
