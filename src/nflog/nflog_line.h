/* nflog_line: a log record as the line an admin reads (core layer): a
 * JSON object for JSON lines, a short text, and the systemd journal's
 * native datagram with one structured field per key (SAGATE_RULE=...).
 */
#ifndef SAGATE_NFLOG_LINE_H
#define SAGATE_NFLOG_LINE_H

#include "nflog_msg.h"

#include <jansson.h>

/** The record as a JSON object: "rule" (the policy rule, or "default"),
 *  "default", "action", "direction", "family" ("ipv4" / "ipv6"),
 *  "protocol", "src", "dst", "sport" and "dport" (protocols with ports),
 *  "icmp_type" and "icmp_code" (ICMP), "in" / "out" (interface names,
 *  when known), "length", "group"; "prefix" when it is not sagate's.
 *  in / out may be NULL.  NULL on OOM; the caller owns it. */
json_t *nflog_line_json(const struct nflog_rec *r, const char *in, const char *out);

/** One line of text: "RULE ACTION DIR: PROTO SRC[:PORT] -> DST[:PORT]
 *  [in IF] [out IF]", into buf (always terminated). */
void nflog_line_text(char *buf, size_t len, const struct nflog_rec *r, const char *in,
		     const char *out);

/** The journal's native datagram for j (nflog_line_json's object) with
 *  message msg: MESSAGE, PRIORITY (5 for a block, else 6),
 *  SYSLOG_IDENTIFIER=sagate and SAGATE_<KEY> for each key; a value with a
 *  newline in the protocol's length-prefixed form.  Returns a malloc'ed
 *  buffer (its length in *len), NULL on OOM. */
char *nflog_line_journal(const json_t *j, const char *msg, size_t *len);

#endif
