/* vici_msg: the wire format of strongSwan's vici control protocol (its
 * documented socket, /var/run/charon.vici): packets framed by a 32-bit
 * big-endian length, their type and name, and the message tree they
 * carry, decoded strictly and encoded for requests.
 *
 * Why our own: Debian 12 ships strongSwan's libvici only as a private
 * library (/usr/lib/ipsec/libvici.so.0 in strongswan-swanctl) with no
 * header, no pkg-config file and no -dev package, so nothing outside
 * strongSwan can build against it, and its ABI is not promised.  The
 * format is small; this module is written from strongSwan's protocol
 * description (the vici plugin's README), holds no socket (core layer),
 * and is fuzzed (fuzz/fuzz_vici.c).
 *
 * Strict: every length is checked against what is left, a packet is at
 * most VICI_PACKET_MAX bytes (charon's own limit), sections nest at most
 * VICI_DEPTH_MAX deep, a message has at most VICI_NODES_MAX elements and
 * a section at most VICI_CHILDREN_MAX children, names are non-empty
 * printable ASCII and unique within their section, lists hold only items
 * and do not nest, sections are balanced, and nothing follows the end.
 * Any violation refuses the whole packet, with the offset and what was
 * expected.
 */
#ifndef SAGATE_VICI_MSG_H
#define SAGATE_VICI_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Largest packet (type, name and message; without the length field). */
#define VICI_PACKET_MAX (512 * 1024)
/** Deepest nesting of sections below the root. */
#define VICI_DEPTH_MAX 16
/** Most elements (sections, keys, lists, items) in one message. */
#define VICI_NODES_MAX 65536
/** Most children (keys, lists, sections) of one section, or items of a list. */
#define VICI_CHILDREN_MAX 4096
/** Longest name (8-bit length) and value (16-bit length). */
#define VICI_NAME_MAX 255
#define VICI_VALUE_MAX 65535

/** Packet types (the first byte of a packet). */
enum vici_pkt {
	VICI_CMD_REQUEST = 0,		/**< named, with a message */
	VICI_CMD_RESPONSE = 1,		/**< with a message */
	VICI_CMD_UNKNOWN = 2,		/**< nothing else */
	VICI_EVENT_REGISTER = 3,	/**< named */
	VICI_EVENT_UNREGISTER = 4,	/**< named */
	VICI_EVENT_CONFIRM = 5,		/**< nothing else */
	VICI_EVENT_UNKNOWN = 6,		/**< nothing else */
	VICI_EVENT = 7,			/**< named, with a message */
};

/** Message element types. */
enum vici_elem {
	VICI_SECTION_START = 1,
	VICI_SECTION_END = 2,
	VICI_KEY_VALUE = 3,
	VICI_LIST_START = 4,
	VICI_LIST_ITEM = 5,
	VICI_LIST_END = 6,
};

/** What a node of a decoded message is. */
enum vici_kind {
	VICI_N_SECTION,	/**< the root, or a named section: children */
	VICI_N_KV,	/**< a named value */
	VICI_N_LIST,	/**< a named list: children are items */
	VICI_N_ITEM,	/**< a list item: a value, no name */
};

/** One node of a decoded message; the tree owns all of its strings. */
struct vici_node {
	enum vici_kind kind;
	char *name;		/**< NUL-terminated; NULL for the root and items */
	char *value;		/**< KV and ITEM: the bytes, NUL added; else NULL */
	size_t vlen;		/**< bytes in value, without the added NUL */
	struct vici_node *child;	/**< first child (SECTION, LIST) */
	struct vici_node *next;		/**< next sibling */
};

/** A decoded packet. */
struct vici_packet {
	enum vici_pkt type;
	char name[VICI_NAME_MAX + 1];	/**< named types; "" otherwise */
	struct vici_node *msg;		/**< types with a message: its root; else NULL */
};

/** Decode one packet (the bytes after the length field).  0, or -1 with
 *  what is wrong and where in err (nothing allocated then).  On 0 the
 *  caller frees p with vici_packet_fini. */
int vici_packet_parse(const uint8_t *buf, size_t len, struct vici_packet *p,
		      char *err, size_t errlen);
void vici_packet_fini(struct vici_packet *p);

/** Decode a message alone into a tree (root: a VICI_N_SECTION without
 *  name).  NULL with err set on a violation or no memory. */
struct vici_node *vici_msg_parse(const uint8_t *buf, size_t len, char *err, size_t errlen);
void vici_node_free(struct vici_node *n);

/** The child of section n named name, of kind kind; NULL if none. */
const struct vici_node *vici_get(const struct vici_node *n, const char *name, enum vici_kind kind);
/** The value of key name in section n as a string: NULL if there is no
 *  such key or its value holds a NUL byte. */
const char *vici_str(const struct vici_node *n, const char *name);

/** A packet being encoded.  Functions on a failed buffer do nothing; the
 *  first failure (no memory, a limit, an unbalanced end) sticks and
 *  vici_enc_end reports it. */
struct vici_enc {
	uint8_t *data;		/**< length field, then the packet */
	size_t len, cap;
	unsigned depth;		/**< open sections */
	bool in_list;
	bool failed;
};

/** Start a packet of type t (name: for named types, else NULL). */
void vici_enc_begin(struct vici_enc *e, enum vici_pkt t, const char *name);
void vici_enc_section(struct vici_enc *e, const char *name);
void vici_enc_section_end(struct vici_enc *e);
void vici_enc_kv(struct vici_enc *e, const char *name, const char *value);
void vici_enc_list(struct vici_enc *e, const char *name);
void vici_enc_item(struct vici_enc *e, const char *value);
void vici_enc_list_end(struct vici_enc *e);
/** Fill in the length.  0: e->data / e->len are the bytes to send; -1:
 *  something failed (nothing to send).  Free with vici_enc_fini either way. */
int vici_enc_end(struct vici_enc *e);
void vici_enc_fini(struct vici_enc *e);

#endif
