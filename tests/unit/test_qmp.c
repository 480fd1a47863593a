// SPDX-License-Identifier: MIT
/*
 * The QMP client (src/agent/qmp.c), against a real QEMU and against a fake
 * server thread that misbehaves. Real QEMU: connect while it is still
 * starting, commands and their results, QEMU's errors with their class,
 * STOP/RESUME events, quit and a guest that powers itself off (with and
 * without -no-shutdown; the run states the qemu driver will see). Fake
 * server: garbage, a greeting that is not QMP, silence, an overlong line,
 * a reply cut off by a close, late replies, an event flood; each gives its
 * documented error, never a crash or a hang.
 *
 * Every QEMU child is killed and reaped and the temporary directory removed
 * in the teardown, also when a test fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/qmp.h"
#include "common/json.h"
#include "common/util.h"

#define QEMU "qemu-system-x86_64"
#define T_CMD 5000      /* ms for a command to real QEMU */
#define T_FAKE 5000     /* ms for the fake server or the client to wait for the other */
#define T_CONNECT 10000 /* ms for QEMU to start and greet (loaded CI machines) */

struct fake;
typedef void fake_script(struct fake *fk, int fd);

/* A QMP server in a thread of the test, running one script on one client.
 * It never asserts (cmocka is not thread-safe): it writes what went wrong
 * into note, which the test checks after the join. */
struct fake {
	int lfd;
	pthread_t thread;
	bool started;
	fake_script *script;
	const char *text; /* weak; what some scripts send */
	char note[160];
};

struct fixture {
	char dir[64];
	char sock[100]; /* fits a sockaddr_un */
	pid_t qemu;     /* 0 when none */
	struct qmp *q;
	struct fake fake;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_qmp.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/qmp.sock", f->dir);
	f->fake.lfd = -1;
	*state = f;
	return 0;
}

/* Waits up to timeout_ms for pid to exit; true with its status if it did. */
static bool wait_exit(pid_t pid, int timeout_ms, int *ret_status)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		if (waitpid(pid, ret_status, WNOHANG) == pid)
			return true;
		if (mono_ms() >= deadline)
			return false;
		usleep(10000);
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd;
	int status;

	f->q = qmp_close(f->q);
	if (f->fake.started)
		pthread_join(f->fake.thread, NULL);
	if (f->fake.lfd >= 0)
		close(f->fake.lfd);
	if (f->qemu > 0) {
		kill(f->qemu, SIGKILL);
		waitpid(f->qemu, &status, 0);
	}
	cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

/* Starts QEMU with a QMP socket at f->sock and the extra arguments (NULL
 * terminated), and connects to it right away: the socket does not exist yet,
 * so this also tests that qmp_connect() waits for QEMU to start. */
static void start_qemu(struct fixture *f, ...)
{
	char *qmp_arg = xasprintf("unix:%s,server=on,wait=off", f->sock);
	char *log = xasprintf("%s/qemu.log", f->dir);
	const char *argv[32] = { QEMU, "-nodefaults", "-display", "none", "-qmp", qmp_arg };
	size_t n = 6;
	const char *a;
	va_list ap;
	pid_t pid;

	va_start(ap, f);
	while ((a = va_arg(ap, const char *)) && n < ARRAY_SIZE(argv) - 1)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR), fd = open(log, O_WRONLY | O_CREAT, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(fd >= 0 ? fd : nul, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	f->qemu = pid;
	free(qmp_arg);
	free(log);
	assert_int_equal(qmp_connect(f->sock, T_CONNECT, &f->q), 0);
	assert_non_null(f->q);
	assert_true(qmp_fd(f->q) >= 0);
	assert_false(qmp_closed(f->q));
}

/* The next event, read if need be, within timeout_ms; NULL if none came. */
static json_t *next_event(struct qmp *q, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		json_t *ev = qmp_next_event(q);
		int64_t left = deadline - mono_ms();

		if (ev || left <= 0)
			return ev;
		if (qmp_read_events(q, (int)left) < 0)
			return qmp_next_event(q);
	}
}

/* Pops events until one named name (returned, owned) within timeout_ms,
 * appending the names of all popped to seen ("A,B,") if not NULL. */
static json_t *wait_event(struct qmp *q, const char *name, int timeout_ms, char *seen,
                          size_t seenlen)
{
	int64_t deadline = mono_ms() + timeout_ms;
	json_t *ev;

	while ((ev = next_event(q, (int)(deadline - mono_ms())))) {
		if (seen)
			snprintf(seen + strlen(seen), seenlen - strlen(seen), "%s,",
			         jstr(ev, "event"));
		if (!strcmp(jstr(ev, "event"), name))
			return ev;
		json_decref(ev);
		if (mono_ms() >= deadline)
			break;
	}
	return NULL;
}

static void assert_status(struct qmp *q, const char *want)
{
	char status[QMP_STATUS_MAX];

	assert_int_equal(qmp_query_status(q, T_CMD, status, sizeof(status)), 0);
	assert_string_equal(status, want);
}

/* query-status, query-version, a command with arguments; the handle stays
 * healthy. */
static void test_qemu_commands(void **state)
{
	struct fixture *f = *state;
	json_t *res = NULL;
	char err[256], tiny[4] = "abc";

	start_qemu(f, "-machine", "none", NULL);
	assert_status(f->q, "running");
	assert_int_equal(qmp_query_status(f->q, T_CMD, tiny, sizeof(tiny)), -ENOBUFS);
	assert_string_equal(tiny, "abc"); /* untouched on failure */

	assert_int_equal(qmp_execute(f->q, "query-version", NULL, T_CMD, &res, err, sizeof(err)),
	                 0);
	assert_string_equal(err, "");
	assert_true(json_is_object(json_object_get(res, "qemu")));
	assert_true(jint(json_object_get(res, "qemu"), "major", 0) >= 7);
	json_decref(res);

	res = NULL;
	assert_int_equal(qmp_execute(f->q, "human-monitor-command",
	                             json_pack("{s:s}", "command-line", "info version"), T_CMD,
	                             &res, err, sizeof(err)),
	                 0);
	assert_true(json_is_string(res));
	assert_non_null(strstr(json_string_value(res), "7."));
	json_decref(res);

	assert_int_equal(qmp_simple(f->q, "query-status", T_CMD, NULL, 0), 0);
	assert_false(qmp_closed(f->q));
	assert_int_equal(qmp_events_lost(f->q), 0);
}

/* QEMU's errors come back as -EREMOTEIO with "Class: desc"; the handle
 * stays usable and results are untouched. */
static void test_qemu_errors(void **state)
{
	struct fixture *f = *state;
	json_t *sentinel = json_null(), *res = sentinel;
	char err[256];

	start_qemu(f, "-machine", "none", NULL);
	assert_int_equal(qmp_execute(f->q, "no-such-command", NULL, T_CMD, &res, err, sizeof(err)),
	                 -EREMOTEIO);
	assert_ptr_equal(res, sentinel);
	assert_true(str_startswith(err, "CommandNotFound: "));
	assert_non_null(strstr(err, "no-such-command"));

	assert_int_equal(qmp_execute(f->q, "query-status", json_pack("{s:i}", "bogus", 1), T_CMD,
	                             &res, err, sizeof(err)),
	                 -EREMOTEIO);
	assert_true(str_startswith(err, "GenericError: "));
	assert_non_null(strstr(err, "bogus"));

	assert_int_equal(qmp_simple(f->q, "cont", T_CMD, err, sizeof(err)), 0); /* running: no-op */
	assert_status(f->q, "running");
	assert_false(qmp_closed(f->q));
}

/* stop and cont: the run state follows and STOP/RESUME come out of the event
 * API. QEMU sends STOP before the reply to stop, so it is queued by
 * qmp_execute() itself and qmp_read_events() returns at once. */
static void test_qemu_stop_cont_events(void **state)
{
	struct fixture *f = *state;
	json_t *ev;
	int64_t t0;

	start_qemu(f, "-machine", "none", NULL);
	assert_null(qmp_next_event(f->q));
	assert_int_equal(qmp_read_events(f->q, 0), 0);

	assert_int_equal(qmp_simple(f->q, "stop", T_CMD, NULL, 0), 0);
	t0 = mono_ms();
	assert_int_equal(qmp_read_events(f->q, 5000), 1);
	assert_true(mono_ms() - t0 < 2500); /* did not wait: it was queued */
	ev = qmp_next_event(f->q);
	assert_non_null(ev);
	assert_string_equal(jstr(ev, "event"), "STOP");
	assert_true(json_is_object(json_object_get(ev, "timestamp")));
	assert_true(jint(json_object_get(ev, "timestamp"), "seconds", 0) > 0);
	json_decref(ev);
	assert_null(qmp_next_event(f->q));
	assert_status(f->q, "paused");

	assert_int_equal(qmp_simple(f->q, "cont", T_CMD, NULL, 0), 0);
	ev = wait_event(f->q, "RESUME", 5000, NULL, 0);
	assert_non_null(ev);
	json_decref(ev);
	assert_status(f->q, "running");
	assert_int_equal(qmp_events_lost(f->q), 0);
}

/* quit: the reply, a SHUTDOWN event, then the end: -EPIPE from then on,
 * qmp_closed(), no descriptor; QEMU exits 0. */
static void test_qemu_quit(void **state)
{
	struct fixture *f = *state;
	char err[256];
	json_t *ev;
	int status;

	start_qemu(f, "-machine", "none", NULL);
	assert_int_equal(qmp_simple(f->q, "quit", T_CMD, err, sizeof(err)), 0);
	ev = wait_event(f->q, "SHUTDOWN", 5000, NULL, 0);
	assert_non_null(ev);
	assert_string_equal(jstr(json_object_get(ev, "data"), "reason"), "host-qmp-quit");
	assert_false(jbool(json_object_get(ev, "data"), "guest", true));
	json_decref(ev);

	assert_int_equal(qmp_simple(f->q, "query-status", T_CMD, err, sizeof(err)), -EPIPE);
	assert_non_null(strstr(err, "closed"));
	assert_true(qmp_closed(f->q));
	assert_int_equal(qmp_fd(f->q), -1);
	assert_int_equal(qmp_read_events(f->q, 100), -EPIPE);
	assert_int_equal(qmp_simple(f->q, "cont", T_CMD, NULL, 0), -EPIPE);

	assert_true(wait_exit(f->qemu, 5000, &status));
	f->qemu = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A boot sector that enables the ACPI power button (PIIX4 PM at 0x600, as
 * SeaBIOS sets it up), waits for it and powers off:
 *   mov dx,0x602; mov ax,0x100; out dx,ax
 *   1: mov dx,0x600; in ax,dx; test ax,0x100; jz 1b
 *   mov dx,0x604; mov ax,0x2000; out dx,ax; 2: hlt; jmp 2b */
static const unsigned char poweroff_code[] = {
	0xba, 0x02, 0x06, 0xb8, 0x00, 0x01, 0xef, 0xba, 0x00, 0x06, 0xed, 0xa9, 0x00,
	0x01, 0x74, 0xf7, 0xba, 0x04, 0x06, 0xb8, 0x00, 0x20, 0xef, 0xf4, 0xeb, 0xfd,
};

/* Starts a pc guest that powers off on the ACPI button; extra: NULL or
 * "-no-shutdown". */
static void start_poweroff_guest(struct fixture *f, const char *extra)
{
	unsigned char sector[512] = { 0 };
	char *img = xasprintf("%s/boot.img", f->dir);
	char *drive = xasprintf("file=%s,format=raw,if=ide", img);

	memcpy(sector, poweroff_code, sizeof(poweroff_code));
	sector[510] = 0x55;
	sector[511] = 0xaa;
	assert_int_equal(file_write_atomic(img, sector, sizeof(sector), 0600), 0);
	start_qemu(f, "-machine", "pc", "-accel", "tcg", "-m", "32", "-drive", drive, extra, NULL);
	free(drive);
	free(img);
}

/* Presses the power button until the guest shuts down (it ignores presses
 * until its code runs); the SHUTDOWN event, owned. */
static json_t *power_off(struct fixture *f, char *seen, size_t seenlen)
{
	int64_t deadline = mono_ms() + 10000;
	json_t *ev = NULL;

	while (!ev && mono_ms() < deadline) {
		assert_int_equal(qmp_simple(f->q, "system_powerdown", T_CMD, NULL, 0), 0);
		ev = wait_event(f->q, "SHUTDOWN", 200, seen, seenlen);
	}
	assert_non_null(ev);
	assert_true(jbool(json_object_get(ev, "data"), "guest", false));
	assert_string_equal(jstr(json_object_get(ev, "data"), "reason"), "guest-shutdown");
	return ev;
}

/* -no-shutdown: the guest's power-off leaves QEMU in "shutdown" (SHUTDOWN
 * then STOP); cont is refused until system_reset, which gives "prelaunch". */
static void test_qemu_guest_poweroff_no_shutdown(void **state)
{
	struct fixture *f = *state;
	char err[256], seen[512] = "";
	json_t *ev;

	start_poweroff_guest(f, "-no-shutdown");
	json_decref(power_off(f, seen, sizeof(seen)));
	assert_true(str_startswith(seen, "POWERDOWN,"));
	ev = wait_event(f->q, "STOP", 5000, NULL, 0);
	assert_non_null(ev);
	json_decref(ev);
	assert_status(f->q, "shutdown");

	assert_int_equal(qmp_simple(f->q, "cont", T_CMD, err, sizeof(err)), -EREMOTEIO);
	assert_string_equal(err, "GenericError: Resetting the Virtual Machine is required");
	assert_int_equal(qmp_simple(f->q, "system_reset", T_CMD, NULL, 0), 0);
	ev = wait_event(f->q, "RESET", 5000, NULL, 0);
	assert_non_null(ev);
	json_decref(ev);
	assert_status(f->q, "prelaunch");
	assert_int_equal(qmp_simple(f->q, "cont", T_CMD, NULL, 0), 0);
	assert_status(f->q, "running");
}

/* Without -no-shutdown QEMU exits after SHUTDOWN: the connection ends
 * (-EPIPE) and the process exits 0. */
static void test_qemu_guest_poweroff_exits(void **state)
{
	struct fixture *f = *state;
	char status_str[QMP_STATUS_MAX];
	int status;

	start_poweroff_guest(f, NULL);
	json_decref(power_off(f, NULL, 0));
	assert_true(wait_exit(f->qemu, 5000, &status));
	f->qemu = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(qmp_query_status(f->q, T_CMD, status_str, sizeof(status_str)), -EPIPE);
	assert_true(qmp_closed(f->q));
}

/* A path that never appears times out within the timeout; a socket nobody
 * listens on is refused; a path too long for sockaddr_un is refused. */
static void test_connect_failures(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp *q = NULL;
	char longpath[200];
	int64_t t0, took;
	int fd;

	t0 = mono_ms();
	assert_int_equal(qmp_connect(f->sock, 300, &q), -ETIMEDOUT);
	took = mono_ms() - t0;
	assert_true(took >= 290 && took < 2500);
	assert_null(q);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0); /* no listen() */
	t0 = mono_ms();
	assert_int_equal(qmp_connect(f->sock, 100, &q), -ECONNREFUSED);
	assert_true(mono_ms() - t0 < 2500);
	assert_null(q);
	close(fd);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(qmp_connect(longpath, 100, &q), -ENAMETOOLONG);
	assert_null(q);
	assert_null(qmp_close(NULL));
}

/* The fake server's pieces. */

static void note(struct fake *fk, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct fake *fk, const char *fmt, ...)
{
	va_list ap;

	if (fk->note[0])
		return;
	va_start(ap, fmt);
	vsnprintf(fk->note, sizeof(fk->note), fmt, ap);
	va_end(ap);
}

/* Sends all of s; false once the client has gone. */
static bool fk_send(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		s += n;
		len -= (size_t)n;
	}
	return true;
}

static bool fk_puts(int fd, const char *s)
{
	return fk_send(fd, s, strlen(s));
}

/* Reads one command line (up to T_FAKE); its id, or -1 on EOF, timeout or
 * nonsense. The name goes to name (may be NULL). */
static json_int_t fk_cmd(int fd, char *name, size_t namelen)
{
	char line[4096];
	size_t len = 0;
	json_int_t id;
	json_t *cmd;

	while (len < sizeof(line) - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, T_FAKE) <= 0 || read(fd, line + len, 1) != 1)
			return -1;
		if (line[len] == '\n')
			break;
		len++;
	}
	cmd = json_loadb(line, len, 0, NULL);
	id = json_is_integer(json_object_get(cmd, "id"))
	         ? json_integer_value(json_object_get(cmd, "id"))
	         : -1;
	if (name)
		snprintf(name, namelen, "%s", jstr(cmd, "execute") ? jstr(cmd, "execute") : "");
	json_decref(cmd);
	return id;
}

/* Waits (up to T_FAKE) for the client to close. */
static void fk_wait_eof(int fd)
{
	char b[4096];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, T_FAKE) <= 0 || read(fd, b, sizeof(b)) <= 0)
			return;
	}
}

static bool fk_reply(int fd, json_int_t id, const char *ret_json)
{
	char *s = xasprintf("{\"return\": %s, \"id\": %" JSON_INTEGER_FORMAT "}\r\n", ret_json, id);
	bool ok = fk_puts(fd, s);

	free(s);
	return ok;
}

/* Greeting and qmp_capabilities, like QEMU. */
static bool fk_negotiate(struct fake *fk, int fd)
{
	char name[64];
	json_int_t id;

	fk_puts(fd,
	        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
	        "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n");
	id = fk_cmd(fd, name, sizeof(name));
	if (id < 0 || strcmp(name, "qmp_capabilities")) {
		note(fk, "expected qmp_capabilities with an id, got \"%s\" id %d", name, (int)id);
		return false;
	}
	return fk_reply(fd, id, "{}");
}

static void *fake_main(void *arg)
{
	struct fake *fk = arg;
	struct pollfd pfd = { .fd = fk->lfd, .events = POLLIN };
	int fd;

	if (poll(&pfd, 1, T_FAKE) <= 0) {
		note(fk, "no client came");
		return NULL;
	}
	fd = accept4(fk->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		note(fk, "accept: %s", strerror(errno));
		return NULL;
	}
	fk->script(fk, fd);
	close(fd);
	return NULL;
}

static void start_fake(struct fixture *f, fake_script *script, const char *text)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake *fk = &f->fake;

	fk->script = script;
	fk->text = text;
	fk->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fk->lfd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	assert_int_equal(bind(fk->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fk->lfd, 4), 0);
	assert_int_equal(pthread_create(&fk->thread, NULL, fake_main, fk), 0);
	fk->started = true;
}

/* Closes the client, joins the server, checks it saw nothing wrong. */
static void end_fake(struct fixture *f)
{
	f->q = qmp_close(f->q);
	pthread_join(f->fake.thread, NULL);
	f->fake.started = false;
	close(f->fake.lfd);
	f->fake.lfd = -1;
	unlink(f->sock);
	assert_string_equal(f->fake.note, "");
}

/* Scripts. */

static void script_send_text(struct fake *fk, int fd)
{
	fk_puts(fd, fk->text);
	fk_wait_eof(fd);
}

static void script_close(struct fake *fk, int fd)
{
}

static void script_greet_only(struct fake *fk, int fd)
{
	fk_puts(fd, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
	fk_wait_eof(fd);
}

/* Negotiates, reads one command, answers with text, then closes. */
static void script_answer_text_close(struct fake *fk, int fd)
{
	if (!fk_negotiate(fk, fd))
		return;
	if (fk_cmd(fd, NULL, 0) < 0)
		note(fk, "no command");
	fk_puts(fd, fk->text);
}

/* The same, but waits for the client to close. */
static void script_answer_text(struct fake *fk, int fd)
{
	script_answer_text_close(fk, fd);
	fk_wait_eof(fd);
}

static void script_overlong(struct fake *fk, int fd)
{
	char chunk[65536];

	if (!fk_negotiate(fk, fd))
		return;
	if (fk_cmd(fd, NULL, 0) < 0)
		note(fk, "no command");
	memset(chunk, 'x', sizeof(chunk));
	/* 2 MiB without a newline: the client gives up and closes, and then
	 * sending fails; never more than that. */
	for (int i = 0; i < 32; i++)
		if (!fk_send(fd, chunk, sizeof(chunk)))
			return;
	fk_puts(fd, "\n");
	fk_wait_eof(fd);
}

#define BIG_LEN 1000000
static void script_big_reply(struct fake *fk, int fd)
{
	json_int_t id;
	char *s;

	if (!fk_negotiate(fk, fd))
		return;
	id = fk_cmd(fd, NULL, 0);
	s = xmalloc(BIG_LEN + 64);
	memset(s, 'y', BIG_LEN + 64);
	memcpy(s, "{\"return\": \"", 12);
	snprintf(s + 12 + BIG_LEN, 52, "\", \"id\": %" JSON_INTEGER_FORMAT "}\n", id);
	fk_puts(fd, s);
	free(s);
	fk_wait_eof(fd);
}

static void script_late_reply(struct fake *fk, int fd)
{
	json_int_t id1, id2;

	if (!fk_negotiate(fk, fd))
		return;
	id1 = fk_cmd(fd, NULL, 0); /* not answered in time */
	id2 = fk_cmd(fd, NULL, 0);
	if (id1 < 0 || id2 < 0 || id1 == id2)
		note(fk, "ids %d and %d", (int)id1, (int)id2);
	fk_reply(fd, id1, "\"first\"");
	fk_puts(fd, "{\"event\": \"BETWEEN\", \"data\": {}, \"timestamp\": {\"seconds\": 1, "
	            "\"microseconds\": 2}}\n");
	fk_reply(fd, id2, "\"second\"");
	fk_wait_eof(fd);
}

#define FLOOD 1100
static void script_flood(struct fake *fk, int fd)
{
	json_int_t id;
	char ev[128];

	if (!fk_negotiate(fk, fd))
		return;
	id = fk_cmd(fd, NULL, 0);
	for (int i = 0; i < FLOOD; i++) {
		snprintf(
		    ev, sizeof(ev),
		    "{\"event\": \"E\", \"data\": {\"n\": %d}, \"timestamp\": {\"seconds\": 1, "
		    "\"microseconds\": 0}}\n",
		    i);
		if (!fk_puts(fd, ev))
			return;
	}
	fk_reply(fd, id, "{}");
	fk_wait_eof(fd);
}

/* A greeting that is garbage, JSON of the wrong kind, or no QMP greeting. */
static void test_fake_bad_greetings(void **state)
{
	static const char *const greetings[] = {
		"hello, I am not QEMU\n",
		"{\"QMP\": {\"version\": \n", /* broken JSON */
		"[1, 2, 3]\n",
		"{\"return\": {}}\n", /* an object, but not a greeting */
		"\x01\x02\xff\xfe\n",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(greetings); i++) {
		start_fake(f, script_send_text, greetings[i]);
		assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), -EPROTO);
		assert_null(f->q);
		end_fake(f);
	}
}

/* Silence times out within the timeout; a close before the greeting is
 * -EPIPE; a rejected qmp_capabilities is -EPROTO. */
static void test_fake_connect_ends(void **state)
{
	struct fixture *f = *state;
	int64_t t0, took;

	start_fake(f, script_send_text, "");
	t0 = mono_ms();
	assert_int_equal(qmp_connect(f->sock, 300, &f->q), -ETIMEDOUT);
	took = mono_ms() - t0;
	assert_true(took >= 290 && took < 2500);
	end_fake(f);

	start_fake(f, script_close, NULL);
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), -EPIPE);
	end_fake(f);

	start_fake(f, script_greet_only, NULL); /* reads qmp_capabilities, never answers */
	assert_int_equal(qmp_connect(f->sock, 300, &f->q), -ETIMEDOUT);
	end_fake(f);
}

/* Garbage where a reply should be ends the connection with -EPROTO, for
 * this call and every later one. */
static void test_fake_garbage_reply(void **state)
{
	struct fixture *f = *state;
	json_t *res = NULL;
	char err[256];

	start_fake(f, script_answer_text, "this is not json\n");
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), 0);
	assert_int_equal(qmp_simple(f->q, "query-status", T_FAKE, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "not JSON"));
	assert_true(qmp_closed(f->q));
	assert_int_equal(qmp_fd(f->q), -1);
	assert_int_equal(qmp_simple(f->q, "query-status", T_FAKE, NULL, 0), -EPROTO);
	assert_int_equal(qmp_read_events(f->q, 0), -EPROTO);
	end_fake(f);

	/* The reply, then garbage: the reply counts, the garbage ends it. */
	start_fake(f, script_answer_text, "{\"return\": {\"ok\": true}}\nnot json\n");
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), 0);
	assert_int_equal(qmp_execute(f->q, "query-ok", NULL, T_FAKE, &res, err, sizeof(err)), 0);
	assert_true(jbool(res, "ok", false));
	json_decref(res);
	assert_int_equal(qmp_simple(f->q, "query-status", T_FAKE, NULL, 0), -EPROTO);
	assert_true(qmp_closed(f->q));
	end_fake(f);
}

/* A line over QMP_LINE_MAX is refused (-EPROTO), without waiting for its
 * end or keeping it; one just under the limit is fine. */
static void test_fake_overlong_line(void **state)
{
	struct fixture *f = *state;
	json_t *res = NULL;

	start_fake(f, script_overlong, NULL);
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), 0);
	assert_int_equal(qmp_execute(f->q, "query-status", NULL, T_FAKE, &res, NULL, 0), -EPROTO);
	assert_null(res);
	assert_true(qmp_closed(f->q));
	end_fake(f);

	start_fake(f, script_big_reply, NULL);
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), 0);
	assert_int_equal(qmp_execute(f->q, "query-big", NULL, T_FAKE, &res, NULL, 0), 0);
	assert_true(json_is_string(res));
	assert_int_equal(json_string_length(res), BIG_LEN);
	json_decref(res);
	assert_false(qmp_closed(f->q));
	end_fake(f);
}

/* A close in the middle of a reply is -EPIPE; the event sent before it is
 * still there; an error reply without a desc is still an error. */
static void test_fake_close_mid_reply(void **state)
{
	struct fixture *f = *state;
	char err[256];
	json_t *ev;

	start_fake(f, script_answer_text_close,
	           "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\n"
	           "{\"return\": {\"status\": \"runn");
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), 0);
	assert_int_equal(qmp_simple(f->q, "query-status", T_FAKE, err, sizeof(err)), -EPIPE);
	assert_true(qmp_closed(f->q));
	assert_int_equal(qmp_read_events(f->q, 0), -EPIPE);
	ev = qmp_next_event(f->q);
	assert_non_null(ev);
	assert_string_equal(jstr(ev, "event"), "STOP");
	json_decref(ev);
	assert_null(qmp_next_event(f->q));
	end_fake(f);

	start_fake(f, script_answer_text, "{\"error\": {\"class\": \"DeviceNotFound\"}}\n");
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), 0);
	assert_int_equal(qmp_simple(f->q, "device_del", T_FAKE, err, sizeof(err)), -EREMOTEIO);
	assert_true(str_startswith(err, "DeviceNotFound: "));
	assert_false(qmp_closed(f->q));
	end_fake(f);
}

/* A command that timed out leaves the handle usable: its late reply is
 * recognised by id and dropped, the next command gets its own reply, and
 * the event between them is queued. */
static void test_fake_late_reply(void **state)
{
	struct fixture *f = *state;
	json_t *res = NULL, *ev;
	char err[256];
	int64_t t0;

	start_fake(f, script_late_reply, NULL);
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), 0);
	t0 = mono_ms();
	assert_int_equal(qmp_execute(f->q, "slow", NULL, 200, &res, err, sizeof(err)), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 2500);
	assert_non_null(strstr(err, "slow"));
	assert_null(res);
	assert_false(qmp_closed(f->q));
	assert_int_equal(qmp_execute(f->q, "fast", NULL, T_FAKE, &res, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(res), "second");
	json_decref(res);
	ev = qmp_next_event(f->q);
	assert_non_null(ev);
	assert_string_equal(jstr(ev, "event"), "BETWEEN");
	json_decref(ev);
	end_fake(f);
}

/* More than QMP_EVENTS_MAX events while waiting: the oldest are dropped and
 * counted, the newest QMP_EVENTS_MAX kept in order, the reply still found. */
static void test_fake_event_flood(void **state)
{
	struct fixture *f = *state;
	json_t *ev;
	int n = 0;

	start_fake(f, script_flood, NULL);
	assert_int_equal(qmp_connect(f->sock, T_FAKE, &f->q), 0);
	assert_int_equal(qmp_simple(f->q, "flood", T_FAKE, NULL, 0), 0);
	assert_int_equal(qmp_events_lost(f->q), FLOOD - QMP_EVENTS_MAX);
	assert_int_equal(qmp_read_events(f->q, 0), QMP_EVENTS_MAX);
	while ((ev = qmp_next_event(f->q))) {
		assert_int_equal(jint(json_object_get(ev, "data"), "n", -1),
		                 FLOOD - QMP_EVENTS_MAX + n);
		json_decref(ev);
		n++;
	}
	assert_int_equal(n, QMP_EVENTS_MAX);
	end_fake(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_qemu_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_stop_cont_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_guest_poweroff_no_shutdown, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_qemu_guest_poweroff_exits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_bad_greetings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_connect_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_garbage_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_overlong_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_close_mid_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_late_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_event_flood, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
