/* fake_sagated: the control socket's fake server (fake_sagated.h). */
#include "config.h"

#include "fake_sagated.h"
#include "handover.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void sock_path(struct sockaddr_un *sa, const char *run_dir)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", run_dir, HANDOVER_SOCKET);
}

/* One request: logged, then answered or not. */
static void serve_one(int c, enum fake_sagated_mode mode, const char *log)
{
	char buf[HANDOVER_MAX_LINE + 1], *reply;
	struct handover_req req;
	struct handover_reply rep;
	struct diag_list d;
	size_t len = 0;
	ssize_t n;
	FILE *f;

	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len) &&
	       (n = read(c, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	diag_list_init(&d);
	if (handover_req_decode(buf, len, &req, &d) < 0) {
		diag_list_fini(&d);
		close(c);
		return;
	}
	diag_list_fini(&d);
	if ((f = fopen(log, "a"))) {
		fprintf(f, "%s %u %u\n", req.op == HANDOVER_LOAD ? "load" : "live", req.generation,
			(unsigned)req.queue);
		fclose(f);
	}
	if (mode == FAKE_SILENT || (mode == FAKE_SILENT_LIVE && req.op == HANDOVER_LIVE)) {
		handover_req_fini(&req);
		return;		/* the connection stays open, unanswered */
	}
	if (mode == FAKE_CLOSE_LIVE && req.op == HANDOVER_LIVE) {
		handover_req_fini(&req);
		close(c);
		return;
	}
	rep = (struct handover_reply){ true, NULL, req.generation, req.queue };
	reply = handover_reply_encode(&rep);
	if (reply && write(c, reply, strlen(reply)) < 0)
		perror("fake sagated: write");
	free(reply);
	handover_req_fini(&req);
	close(c);
}

pid_t fake_sagated_start(const char *run_dir, enum fake_sagated_mode mode, const char *log)
{
	struct sockaddr_un sa;
	pid_t pid;
	int fd;

	mkdir(run_dir, 0700);
	sock_path(&sa, run_dir);
	unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s", sa.sun_path);
	cr_assert_eq(listen(fd, 8), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* a failed test leaves none behind */
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c >= 0)
				serve_one(c, mode, log);
		}
	}
	close(fd);
	return pid;
}

void fake_sagated_stop(pid_t pid, const char *run_dir)
{
	struct sockaddr_un sa;
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	sock_path(&sa, run_dir);
	unlink(sa.sun_path);
}
