/* diag: problems found in a policy, each with the place it came from.
 *
 * Code below main() never prints: it appends a diagnostic and returns -1.
 * The CLI decides how to show them (text or JSON).
 */
#ifndef SAGATE_DIAG_H
#define SAGATE_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/** How bad a finding is. */
enum diag_severity {
	DIAG_WARNING,	/**< policy is usable, but probably not what was meant */
	DIAG_ERROR,	/**< policy is rejected; nothing is applied */
};

/** One finding.  Every string is owned by the diag. */
struct diag {
	enum diag_severity severity;
	char *file;	/**< file the problem is in, as the user named it */
	char *path;	/**< JSON path inside it, e.g. "rules[3].ports[1]"; "" for the whole file */
	char *rule;	/**< name of the rule it concerns, or NULL */
	char *message;	/**< what is wrong and what was expected */
	const char *kind;	/**< a finding's kind (static text, "shadowed"), or NULL */
	bool acknowledged;	/**< a warning its rule's "accept-findings" lists */
};

/** User text a finding repeats is cut, so that a 1 MB rule name cannot
 *  make a 1 MB error: a quoted value ("...") in the message, the rule name
 *  and each name in the JSON path to DIAG_QUOTE_MAX characters, any other
 *  run without a space in the message (a file name) to DIAG_WORD_MAX,
 *  each then followed by "...".  Characters, not bytes: a cut never
 *  splits UTF-8. */
#define DIAG_QUOTE_MAX 64
#define DIAG_WORD_MAX 256

/** Findings of one kind (and acknowledgement) that a capped list counts:
 *  the first `kept` are items, the `omitted` after them were never
 *  worded. */
struct diag_tally {
	const char *kind;	/**< static text, as struct diag's kind */
	bool acknowledged;
	enum diag_severity severity;	/**< of the first of them */
	char *file;		/**< of the first of them; owned */
	size_t kept;
	size_t omitted;
};

/** An ordered, growable list of findings. */
struct diag_list {
	struct diag *items;
	size_t count;
	size_t cap;
	size_t errors;	/**< how many items have DIAG_ERROR, and omitted findings too */
	bool capped;	/**< findings past per_kind of a kind are counted, not kept */
	size_t per_kind;
	struct diag_tally *tallies;	/**< when capped: one per kind and acknowledgement seen */
	size_t ntallies;
};

/** An empty list that keeps every finding. */
void diag_list_init(struct diag_list *l);
void diag_list_fini(struct diag_list *l);

/** Keep at most per_kind findings of each kind (and acknowledgement) in
 *  l; SIZE_MAX keeps all (the default).  A 100,000-rule policy may have
 *  tens of thousands of findings of one kind: past the cap they are
 *  counted in l->tallies, never formatted. */
void diag_list_cap(struct diag_list *l, size_t per_kind);

/** Is a finding of kind (and acknowledged) about file to be kept, i.e.
 *  worded and added?  True while l holds fewer than its cap of them (the
 *  caller then adds it); false when it was counted instead (in l->errors
 *  too for DIAG_ERROR).  Call once per finding, before formatting it. */
bool diag_admit(struct diag_list *l, enum diag_severity sev, const char *file,
		const char *kind, bool acknowledged);

/** How many findings of severity sev (acknowledged or not) l counted
 *  without keeping them. */
size_t diag_omitted(const struct diag_list *l, enum diag_severity sev, bool acknowledged);

/** Append a finding; message is printf-style, user text in it cut as
 *  above.  Never fails: on OOM the message is replaced by a fixed text so
 *  the error is still counted. */
void diag_add(struct diag_list *l, enum diag_severity sev, const char *file,
	      const char *path, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/** diag_add with the arguments in a va_list: for a caller that takes a
 *  format of its own, so that the message is formatted once. */
void diag_vadd(struct diag_list *l, enum diag_severity sev, const char *file,
	       const char *path, const char *rule, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

/** The message of the last finding in l ("out of memory" when it could
 *  not be stored), "" when l has none: for a caller that words a callee's
 *  finding its own way ("an SA was skipped: ..."). */
const char *diag_last(const struct diag_list *l);

/** Format one finding as "file: path (rule "x"): error: message", a
 *  finding of a kind as "...: warning: message [kind]" ("acknowledged"
 *  for "warning" when its rule accepts it).  Caller frees. */
char *diag_format(const struct diag *d);

#endif
