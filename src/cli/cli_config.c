// SPDX-License-Identifier: MIT
/*
 * kumo's saved session: where the credentials file lives, reading and
 * writing it (JSON, mode 0600 in a 0700 directory), and reading passwords
 * from a file, the environment or the terminal without echo. Passwords and
 * tokens never pass through argv of anything this program starts, and are
 * wiped from the buffers that held them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"
#include "common/util.h"

#define CREDS_FILE "credentials"
#define CREDS_MAX (64 * 1024)
#define PASSWORD_MAX 4096

char *cli_config_dir(void)
{
	const char *s = getenv("KUMO_CONFIG_DIR");
	struct passwd *pw;

	if (!str_empty(s))
		return xstrdup(s);
	s = getenv("XDG_CONFIG_HOME");
	if (!str_empty(s) && s[0] == '/')
		return xasprintf("%s/kumo", s);
	s = getenv("HOME");
	if (str_empty(s)) {
		pw = getpwuid(getuid());
		s = pw ? pw->pw_dir : NULL;
	}
	if (str_empty(s))
		return NULL;
	return xasprintf("%s/.config/kumo", s);
}

static char *dup_or_null(const json_t *o, const char *key)
{
	const char *s = jstr(o, key);

	return s ? xstrdup(s) : NULL;
}

int cli_creds_load(const char *dir, struct cli_creds *c)
{
	struct stat st;
	char *path, *data = NULL;
	size_t len = 0;
	json_t *o;
	int r;

	memset(c, 0, sizeof(*c));
	if (!dir)
		return 0;
	path = xasprintf("%s/%s", dir, CREDS_FILE);
	r = file_read(path, CREDS_MAX, &data, &len);
	if (r == 0 && stat(path, &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, "warning: %s can be read by others: chmod 600 it\n", path);
	free(path);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	o = jparse(data, len, NULL, 0);
	explicit_bzero(data, len);
	free(data);
	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	c->url = dup_or_null(o, "url");
	c->token = dup_or_null(o, "token");
	c->account = dup_or_null(o, "account");
	c->user = dup_or_null(o, "user");
	c->expires_at = dup_or_null(o, "expires_at");
	json_decref(o);
	return 0;
}

int cli_creds_save(const char *dir, const struct cli_creds *c)
{
	char *path = NULL, *data = NULL;
	json_t *o;
	int r;

	if (!dir)
		return -ENOENT;
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	o = json_object();
	if (c->url)
		jset_str(o, "url", c->url);
	if (c->token)
		jset_str(o, "token", c->token);
	if (c->account)
		jset_str(o, "account", c->account);
	if (c->user)
		jset_str(o, "user", c->user);
	if (c->expires_at)
		jset_str(o, "expires_at", c->expires_at);
	data = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (!data)
		return -ENOMEM;
	data = xrealloc(data, strlen(data) + 2);
	strcat(data, "\n");
	path = xasprintf("%s/%s", dir, CREDS_FILE);
	/* file_write_atomic creates the file 0600 before a byte is written */
	r = file_write_atomic(path, data, strlen(data), 0600);
	explicit_bzero(data, strlen(data));
	free(data);
	free(path);
	return r;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void cli_creds_clear(struct cli_creds *c)
{
	free(c->url);
	wipe_free(c->token);
	free(c->account);
	free(c->user);
	free(c->expires_at);
	memset(c, 0, sizeof(*c));
}

char *cli_url_normalize(const char *url)
{
	char *s = xstrdup(url);
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* The terminal state to restore if a signal comes while echo is off. */
static int tty_fd = -1;
static struct termios tty_saved;

static void tty_restore_on_signal(int sig)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Prompts on fd and reads one line without echo into a malloc'd string. */
static int tty_read_line(int fd, const char *prompt, char **ret_line)
{
	struct termios t;
	struct sigaction sa = { .sa_handler = tty_restore_on_signal }, old_int, old_term;
	char *line = xmalloc(PASSWORD_MAX + 1);
	size_t len = 0;
	bool echo_off = false;
	int r = 0;

	if (write(fd, prompt, strlen(prompt)) < 0) {
		r = -errno;
		goto out;
	}
	if (tcgetattr(fd, &t) == 0) {
		tty_saved = t;
		tty_fd = fd;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		t.c_lflag &= ~(tcflag_t)ECHO;
		t.c_lflag |= ECHONL;
		echo_off = tcsetattr(fd, TCSAFLUSH, &t) == 0;
	}
	for (;;) {
		char ch;
		ssize_t n = read(fd, &ch, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0 || ch == '\n')
			break;
		if (len < PASSWORD_MAX)
			line[len++] = ch;
	}
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (tty_fd >= 0) {
		if (echo_off)
			tcsetattr(fd, TCSAFLUSH, &tty_saved);
		tty_fd = -1;
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
out:
	if (r < 0) {
		wipe_free(line);
		return r;
	}
	*ret_line = line;
	return 0;
}

int cli_read_password(const char *file, const char *env, const char *prompt, bool confirm,
                      char **ret_password)
{
	char *pw = NULL, *again = NULL;
	const char *s;
	size_t len = 0;
	int fd, r;

	if (file) {
		r = file_read(file, PASSWORD_MAX, &pw, &len);
		if (r < 0) {
			fprintf(stderr, "error: cannot read password file %s: %s\n", file,
			        r == -EFBIG ? "too large" : strerror(-r));
			return CLI_EXIT_USAGE;
		}
		pw[strcspn(pw, "\r\n")] = '\0';
		if (*pw == '\0') {
			fprintf(stderr, "error: password file %s is empty\n", file);
			wipe_free(pw);
			return CLI_EXIT_USAGE;
		}
		*ret_password = pw;
		return 0;
	}
	s = env ? getenv(env) : NULL;
	if (!str_empty(s)) {
		*ret_password = xstrdup(s);
		return 0;
	}
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr,
		        "error: no password: use --password-file FILE%s%s, or run on a terminal\n",
		        env ? " or $" : "", env ? env : "");
		return CLI_EXIT_USAGE;
	}
	r = tty_read_line(fd, prompt, &pw);
	if (r == 0 && confirm)
		r = tty_read_line(fd, "Repeat: ", &again);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "error: cannot read the password: %s\n", strerror(-r));
		wipe_free(pw);
		return CLI_EXIT_USAGE;
	}
	if (*pw == '\0' || (confirm && strcmp(pw, again) != 0)) {
		fprintf(stderr, "error: %s\n", *pw ? "the passwords differ" : "empty password");
		wipe_free(pw);
		wipe_free(again);
		return CLI_EXIT_USAGE;
	}
	wipe_free(again);
	*ret_password = pw;
	return 0;
}
