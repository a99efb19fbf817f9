/* The parts of sagated that need no kernel: planning batch verdicts,
 * parsing --queue ranges, the counters file, the sd_notify datagram and
 * the log lines errors become. */
#include "config.h"

#include "engine.h"
#include "estats.h"
#include "qrange.h"
#include "sdnotify.h"
#include "vbatch.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ vbatch */

#define A true
#define D false

static size_t plan(struct vbatch_state *st, const struct vbatch_pkt *p, size_t n,
		   struct vbatch_msg *out)
{
	return vbatch_plan(st, p, n, out);
}

/* Replay the messages over the packets as the kernel would: each packet
 * waiting with an id at or before a message's id gets that verdict. */
static void replay(const struct vbatch_pkt *p, size_t n, const struct vbatch_msg *m, size_t nm,
		   int *got)
{
	for (size_t i = 0; i < n; i++)
		got[i] = -1;
	for (size_t k = 0; k < nm; k++)
		for (size_t i = 0; i < n; i++)
			if (got[i] < 0 && !vbatch_after(p[i].id, m[k].id))
				got[i] = m[k].accept;
}

Test(vbatch, runs_of_the_same_verdict_are_one_message)
{
	struct vbatch_state st = { 0 };
	struct vbatch_pkt p[] = { { 1, A }, { 2, A }, { 3, A }, { 4, D }, { 5, D }, { 6, A } };
	struct vbatch_msg m[12];
	size_t n = plan(&st, p, 6, m);

	cr_assert_eq(n, 3);
	cr_assert(m[0].id == 3 && m[0].accept);
	cr_assert(m[1].id == 5 && !m[1].accept);
	cr_assert(m[2].id == 6 && m[2].accept);
	cr_assert(st.have_last && st.last == 6);
}

Test(vbatch, every_packet_gets_its_own_verdict)
{
	struct vbatch_state st = { 0 };
	struct vbatch_pkt p[] = { { 10, D }, { 11, A }, { 12, D }, { 13, A }, { 14, A }, { 15, D } };
	struct vbatch_msg m[12];
	int got[6];
	size_t n = plan(&st, p, 6, m);

	replay(p, 6, m, n, got);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(got[i], p[i].accept, "packet %u", p[i].id);
}

Test(vbatch, a_gap_before_an_accept_is_dropped_first)
{
	/* 7 and 8 are missing (lost, or a message we could not read):
	 * anything still waiting there must not ride on 9's accept */
	struct vbatch_state st = { true, 5 };
	struct vbatch_pkt p[] = { { 6, A }, { 9, A } };
	struct vbatch_msg m[4];
	size_t n = plan(&st, p, 2, m);

	cr_assert_eq(n, 3);
	cr_assert(m[0].id == 6 && m[0].accept);
	cr_assert(m[1].id == 8 && !m[1].accept);
	cr_assert(m[2].id == 9 && m[2].accept);
}

Test(vbatch, a_gap_after_a_drop_extends_the_drop)
{
	struct vbatch_state st = { true, 5 };
	struct vbatch_pkt p[] = { { 6, D }, { 9, A } };
	struct vbatch_msg m[4];
	size_t n = plan(&st, p, 2, m);

	cr_assert_eq(n, 2);
	cr_assert(m[0].id == 8 && !m[0].accept);
	cr_assert(m[1].id == 9 && m[1].accept);
}

Test(vbatch, a_gap_between_bursts_is_dropped)
{
	struct vbatch_state st = { true, 100 };
	struct vbatch_pkt p[] = { { 103, A } };
	struct vbatch_msg m[2];
	size_t n = plan(&st, p, 1, m);

	cr_assert_eq(n, 2);
	cr_assert(m[0].id == 102 && !m[0].accept);
	cr_assert(m[1].id == 103 && m[1].accept);
}

Test(vbatch, the_first_packet_of_a_queue_numbered_from_1_needs_no_gap_drop)
{
	struct vbatch_state st = { 0 };
	struct vbatch_pkt p[] = { { 1, A }, { 2, A } };
	struct vbatch_msg m[4];

	cr_assert_eq(plan(&st, p, 2, m), 1);
	cr_assert(m[0].id == 2 && m[0].accept);
}

Test(vbatch, a_gap_before_the_first_packet_of_a_queue_is_dropped)
{
	/* packets 1-999 of a fresh queue were never given to us (their
	 * messages could not be read): 1000's accept must not cover them */
	struct vbatch_state st = { 0 };
	struct vbatch_pkt p[] = { { 1000, A } };
	struct vbatch_msg m[2];
	int got[1];

	cr_assert_eq(plan(&st, p, 1, m), 2);
	cr_assert(m[0].id == 999 && !m[0].accept);
	cr_assert(m[1].id == 1000 && m[1].accept);
	replay(p, 1, m, 2, got);
	cr_assert_eq(got[0], 1);
}

Test(vbatch, ids_wrap_around)
{
	struct vbatch_state st = { true, 0xfffffffeu };
	struct vbatch_pkt p[] = { { 0xffffffffu, A }, { 0, A }, { 1, D } };
	struct vbatch_msg m[6];
	size_t n = plan(&st, p, 3, m);

	cr_assert_eq(n, 2);
	cr_assert(m[0].id == 0 && m[0].accept);
	cr_assert(m[1].id == 1 && !m[1].accept);
	cr_assert(vbatch_after(0, 0xffffffffu));
	cr_assert(!vbatch_after(0xffffffffu, 0));
}

Test(vbatch, an_id_already_covered_gets_no_second_verdict)
{
	struct vbatch_state st = { true, 50 };
	struct vbatch_pkt p[] = { { 49, A }, { 50, A }, { 51, A } };
	struct vbatch_msg m[6];
	size_t n = plan(&st, p, 3, m);

	cr_assert_eq(n, 1);
	cr_assert(m[0].id == 51 && m[0].accept);
}

Test(vbatch, nothing_to_send)
{
	struct vbatch_state st = { 0 };
	struct vbatch_msg m[1];

	cr_assert_eq(plan(&st, NULL, 0, m), 0);
	cr_assert(!st.have_last);
}

/* ------------------------------------------------------------------ qrange */

Test(qrange, single_and_ranges)
{
	uint16_t f;
	unsigned n;

	cr_assert_eq(qrange_parse("0", &f, &n), 0);
	cr_assert(f == 0 && n == 1);
	cr_assert_eq(qrange_parse("65535", &f, &n), 0);
	cr_assert(f == 65535 && n == 1);
	cr_assert_eq(qrange_parse("4-7", &f, &n), 0);
	cr_assert(f == 4 && n == 4);
	cr_assert_eq(qrange_parse("9-9", &f, &n), 0);
	cr_assert(f == 9 && n == 1);
	cr_assert_eq(qrange_parse("65472-65535", &f, &n), 0);
	cr_assert(f == 65472 && n == QRANGE_MAX);
}

Test(qrange, refused)
{
	static const char *const bad[] = {
		"", "-", "-1", "+1", " 1", "1 ", "1-", "-3", "7-4", "65536", "0-65536",
		"1-2-3", "0x10", "1,2", "0-64", "99999999999999999999", "1--2",
	};
	uint16_t f = 77;
	unsigned n = 77;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(qrange_parse(bad[i], &f, &n), -1, "'%s' accepted", bad[i]);
	cr_assert(f == 77 && n == 77, "outputs written on failure");
	cr_assert_eq(qrange_parse(NULL, &f, &n), -1);
}

/* ------------------------------------------------------------------ estats */

Test(estats, reason_names)
{
	cr_assert_str_eq(estats_reason_name(DECIDE_ACCEPT_OK), "accept");
	cr_assert_str_eq(estats_reason_name(DECIDE_DROP_SA_PEER), "drop-sa-peer");
	cr_assert_str_eq(estats_reason_name(ESTATS_DROP_RESYNC), "drop-xfrm-resync");
	cr_assert_str_eq(estats_reason_name(ESTATS_DROP_NO_PAYLOAD), "drop-no-payload");
	cr_assert_str_eq(estats_reason_name(ESTATS_REASONS), "drop-unknown-reason");
	for (unsigned r = 0; r < ESTATS_REASONS; r++)
		cr_assert(estats_reason_name(r) != NULL);
}

Test(estats, sum_and_json)
{
	struct estats a = { 0 }, b = { 0 }, sum = { 0 };
	struct estats_info info = { .pid = 42, .started = 1000, .now = 1010, .queue_first = 3,
				    .queue_count = 2, .policy = "/p.json", .sas = 5, .x_enobufs = 1 };
	json_t *j, *d;

	ESTATS_ADD(a.by_reason[DECIDE_ACCEPT_OK], 7);
	ESTATS_INC(a.by_reason[DECIDE_DROP_SA_PEER]);
	ESTATS_ADD(b.by_reason[DECIDE_ACCEPT_OK], 3);
	ESTATS_ADD(b.by_reason[ESTATS_DROP_RESYNC], 2);
	ESTATS_INC(b.q_enobufs);
	ESTATS_ADD(b.verdict_msgs, 4);
	estats_sum(&sum, &a);
	estats_sum(&sum, &b);
	j = estats_json(&sum, &info);
	cr_assert_not_null(j);
	cr_assert_eq(json_integer_value(json_object_get(j, "accepted")), 10);
	cr_assert_eq(json_integer_value(json_object_get(j, "dropped")), 3);
	cr_assert_eq(json_integer_value(json_object_get(j, "packets")), 13);
	cr_assert_eq(json_integer_value(json_object_get(j, "queue_enobufs")), 1);
	cr_assert_eq(json_integer_value(json_object_get(j, "xfrm_enobufs")), 1);
	cr_assert_eq(json_integer_value(json_object_get(j, "verdict_messages")), 4);
	cr_assert_eq(json_integer_value(json_object_get(j, "sas")), 5);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "running");
	cr_assert(json_is_false(json_object_get(j, "fail_open")));
	cr_assert(json_is_null(json_object_get(j, "sha256")));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "queues"), "count")), 2);
	d = json_object_get(j, "drops");
	cr_assert_eq(json_integer_value(json_object_get(d, "drop-sa-peer")), 1);
	cr_assert_eq(json_integer_value(json_object_get(d, "drop-xfrm-resync")), 2);
	cr_assert_eq(json_integer_value(json_object_get(d, "drop-sa-expired")), 0);
	cr_assert_null(json_object_get(d, "accept"));
	json_decref(j);
}

Test(estats, written_atomically_and_read_back)
{
	char dir[] = "/tmp/sagate-estats-XXXXXX", sub[64], path[128], tmp[128];
	struct estats s = { 0 };
	struct estats_info info = { .pid = 1, .stopped = true };
	json_error_t err;
	json_t *j, *back;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sub, sizeof sub, "%s/run", dir);	/* created on demand */
	snprintf(path, sizeof path, "%s/sagated.json", sub);
	snprintf(tmp, sizeof tmp, "%s/.sagated.json.tmp", sub);
	setenv("SAGATE_RUN_DIR", sub, 1);
	cr_assert_str_eq(estats_run_dir(), sub);
	unsetenv("SAGATE_RUN_DIR");
	cr_assert_str_eq(estats_run_dir(), "/run/sagate");
	ESTATS_ADD(s.by_reason[DECIDE_ACCEPT_OK], 2);
	j = estats_json(&s, &info);
	cr_assert_eq(estats_write(sub, "sagated.json", j), 0);
	cr_assert_eq(estats_write(sub, "sagated.json", j), 0);	/* over the old one */
	back = json_load_file(path, 0, &err);
	cr_assert_not_null(back, "%s", err.text);
	cr_assert(json_equal(j, back));
	cr_assert_str_eq(json_string_value(json_object_get(back, "state")), "stopped");
	cr_assert_neq(access(tmp, F_OK), 0, "temporary file left behind");
	json_decref(back);
	json_decref(j);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

Test(estats, unwritable_dir_is_an_error)
{
	json_t *j = json_object();

	cr_assert_eq(estats_write("/proc/no-such-dir/x", "sagated.json", j), -1);
	json_decref(j);
}

/* ------------------------------------------------------------------ sdnotify */

static int listener(struct sockaddr_un *sun, socklen_t *alen, bool abstract, char *name)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (abstract) {
		snprintf(name, 64, "@sagate-notify-test-%d", (int)getpid());
		memcpy(sun->sun_path + 1, name + 1, strlen(name) - 1);
		*alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	} else {
		snprintf(name, 64, "/tmp/sagate-notify-test-%d", (int)getpid());
		unlink(name);
		strcpy(sun->sun_path, name);
		*alen = sizeof *sun;
	}
	cr_assert_eq(bind(fd, (struct sockaddr *)sun, *alen), 0);
	return fd;
}

static void notify_roundtrip(bool abstract)
{
	struct sockaddr_un sun;
	socklen_t alen;
	char name[64], got[128];
	int fd = listener(&sun, &alen, abstract, name);
	ssize_t n;

	setenv("NOTIFY_SOCKET", name, 1);
	cr_assert_eq(sd_notify_send("READY=1"), 1);
	n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT);
	cr_assert_eq(n, 7);
	got[n] = 0;
	cr_assert_str_eq(got, "READY=1");
	cr_assert_eq(sd_notify_reloading(), 1);
	n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT);
	cr_assert_gt(n, 0);
	got[n] = 0;
	cr_assert(strncmp(got, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0, "%s", got);
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	if (!abstract)
		unlink(name);
}

Test(sdnotify, path_socket)
{
	notify_roundtrip(false);
}

Test(sdnotify, abstract_socket)
{
	notify_roundtrip(true);
}

Test(sdnotify, no_socket_is_no_error)
{
	unsetenv("NOTIFY_SOCKET");
	cr_assert_eq(sd_notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	cr_assert_eq(sd_notify_send("READY=1"), -1);
	unsetenv("NOTIFY_SOCKET");
}

/* ------------------------------------------------------------------ log */

static void redirect_both(void)
{
	cr_redirect_stdout();
	cr_redirect_stderr();
}

/* The event names are the log's format: tests/vm and operators grep them. */
Test(engine_log, a_finding_is_an_event_of_its_place_and_severity, .init = redirect_both)
{
	static const char *const want[] = {
		"\"event\":\"error\",\"message\":\"no applied policy in /x\"}",
		"\"event\":\"warning\",\"message\":\"cannot write /run/x\"}",
		"\"event\":\"xfrm-warning\",\"message\":\"message 16 ignored: why\"}",
		"\"event\":\"xfrm-error\",\"message\":\"recv: boom\"}",
		"\"event\":\"queue-error\",\"message\":\"queue 3: recv: boom\"}",
		"\"event\":\"policy-error\",\"message\":\"p.json: rules[0]: error: bad\"}",
	};
	struct diag_list d;
	char line[512];
	FILE *out;
	size_t n = 0;

	diag_list_init(&d);
	diag_add(&d, DIAG_ERROR, "", "", NULL, "no applied policy in %s", "/x");
	diag_add(&d, DIAG_WARNING, "", "", NULL, "cannot write /run/x");
	diag_add(&d, DIAG_WARNING, "xfrm", "", NULL, "message %u ignored: why", 16u);
	diag_add(&d, DIAG_ERROR, "xfrm", "", NULL, "recv: boom");
	diag_add(&d, DIAG_ERROR, "queue", "", NULL, "queue 3: recv: boom");
	diag_add(&d, DIAG_ERROR, "policy", "", NULL, "p.json: rules[0]: error: bad");
	engine_log_diags(&d);
	cr_assert_eq(d.count, 0, "the list is emptied");
	cr_assert_eq(d.errors, 0);
	fflush(stdout);
	out = cr_get_redirected_stdout();
	while (fgets(line, sizeof(line), out)) {
		cr_assert_lt(n, sizeof(want) / sizeof(want[0]), "extra line %s", line);
		cr_assert(strncmp(line, "{\"time\":\"", 9) == 0, "%s", line);
		cr_assert_not_null(strstr(line, want[n]), "line %zu: %s", n, line);
		n++;
	}
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
	fflush(stderr);
	cr_assert_stderr_eq_str("sagated: error: no applied policy in /x\n"
				"sagated: warning: cannot write /run/x\n"
				"sagated: xfrm-warning: message 16 ignored: why\n"
				"sagated: xfrm-error: recv: boom\n"
				"sagated: queue-error: queue 3: recv: boom\n"
				"sagated: policy-error: p.json: rules[0]: error: bad\n");
}
