// SPDX-License-Identifier: MIT
/*
 * `kumo image upload FILE`: creates an image record and uploads a local
 * file's bytes to it (POST /v1/images, then POST /v1/images/{id}/upload
 * streamed from the file). The format is guessed from the file when not
 * given, the sha256 is computed locally first and sent with the record, so
 * kumod checks the bytes that arrive against it. Progress goes to stderr
 * when it is a terminal. A failed upload leaves the record (uploading or
 * error) for the user to see, retry or delete; the command says how.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

#define HASH_BUF (1024 * 1024)
#define PROGRESS_EVERY_MS 200

struct progress {
	FILE *out; /* weak; NULL = quiet */
	const char *what;
	int64_t last_ms;
};

static void progress_show(struct progress *p, uint64_t done, uint64_t total, bool force)
{
	int64_t now = mono_ms();

	if (!p->out || (!force && now - p->last_ms < PROGRESS_EVERY_MS))
		return;
	p->last_ms = now;
	fprintf(p->out, "\r%s %3d%%  %.1f of %.1f MiB\033[K", p->what,
	        total ? (int)(done * 100 / total) : 100, (double)done / 1048576.0,
	        (double)total / 1048576.0);
	fflush(p->out);
}

static void progress_end(struct progress *p)
{
	if (p->out)
		fprintf(p->out, "\n");
}

static void upload_progress(void *cls, uint64_t sent, uint64_t total)
{
	progress_show(cls, sent, total, false);
}

/* The format from the first bytes: qcow2's magic, a tar archive (a kernel
 * image), else raw. */
const char *cli_image_guess_format(const unsigned char *head, size_t len)
{
	if (len >= 4 && memcmp(head, "QFI\xfb", 4) == 0)
		return "qcow2";
	if (len >= 262 && memcmp(head + 257, "ustar", 5) == 0)
		return "kernel";
	return "raw";
}

/* The file's name as an image name, when it is one. */
static char *default_name(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return name_valid(base) ? xstrdup(base) : NULL;
}

static int hash_file(int fd, uint64_t size, struct progress *p, char out[65])
{
	unsigned char md[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	unsigned char *buf = xmalloc(HASH_BUF);
	uint64_t done = 0;
	int r = 0;

	crypto_hash_sha256_init(&st);
	for (;;) {
		ssize_t n = read(fd, buf, HASH_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		crypto_hash_sha256_update(&st, buf, (size_t)n);
		done += (uint64_t)n;
		progress_show(p, done, size, false);
	}
	free(buf);
	if (r == 0 && done != size)
		r = -EIO; /* the file changed under us */
	if (r == 0) {
		crypto_hash_sha256_final(&st, md);
		sodium_bin2hex(out, 65, md, sizeof(md));
		progress_show(p, done, size, true);
	}
	progress_end(p);
	return r;
}

int cli_cmd_image_upload(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                         struct cli_args *a)
{
	const char *file = a->pos[0];
	bool tty = isatty(fileno(ctx->err));
	struct progress p = { tty ? ctx->err : NULL, "sha256", 0 };
	struct http_result res = { 0 };
	unsigned char head[512];
	json_t *body = NULL;
	char sha[65], msg[CLI_ERR_MAX], *path = NULL, *eid = NULL, *id = NULL;
	struct stat st;
	ssize_t hn;
	int fd, r;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(ctx->err, "error: cannot open %s: %s\n", file, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		fprintf(ctx->err, "error: %s is not a regular file with bytes in it\n", file);
		close(fd);
		return CLI_EXIT_USAGE;
	}
	body = a->body ? json_incref(a->body) : json_object();
	if (!jstr(body, "name")) {
		char *name = default_name(file);

		if (!name) {
			fprintf(ctx->err,
			        "error: the file's name is not an image name: give --name\n");
			r = CLI_EXIT_USAGE;
			goto out;
		}
		jset_str(body, "name", name);
		free(name);
	}
	hn = pread(fd, head, sizeof(head), 0);
	if (!jstr(body, "format"))
		jset_str(body, "format", cli_image_guess_format(head, hn > 0 ? (size_t)hn : 0));
	if (sodium_init() < 0 || hash_file(fd, (uint64_t)st.st_size, &p, sha) < 0) {
		fprintf(ctx->err, "error: cannot read %s\n", file);
		r = CLI_EXIT_USAGE;
		goto out;
	}
	jset_str(body, "sha256", sha);
	jset_int(body, "size", (int64_t)st.st_size);

	r = cli_call(ctx, "POST", "/v1/images", body, 0, &res);
	if (r)
		goto out;
	id = jstr(res.json, "id") ? xstrdup(jstr(res.json, "id")) : NULL;
	http_result_clear(&res);
	if (!id) {
		fprintf(ctx->err, "error: the image create answered no id\n");
		r = CLI_EXIT_API;
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		r = CLI_EXIT_USAGE;
		goto out;
	}
	eid = http_escape(id);
	path = xasprintf("/v1/images/%s/upload", eid);
	p.what = "upload";
	p.last_ms = 0;
	r = http_client_upload(cli_http(ctx), path, "application/octet-stream", fd,
	                       (uint64_t)st.st_size, upload_progress, &p, &res);
	if (p.out) {
		if (r == 0 && res.status == 200)
			progress_show(&p, (uint64_t)st.st_size, (uint64_t)st.st_size, true);
		progress_end(&p);
	}
	if (r < 0) {
		fprintf(ctx->err, "error: upload to %s failed: %s\n", ctx->url,
		        res.error[0] ? res.error : strerror(-r));
		r = CLI_EXIT_NET;
	} else if (res.status != 200) {
		cli_format_error(&res, msg, sizeof(msg));
		fprintf(ctx->err, "error: %s\n", msg);
		r = CLI_EXIT_API;
	} else {
		r = cli_print_answer(ctx, a, &res, "uploaded");
	}
	if (r != CLI_EXIT_OK) {
		cli_sanitize(id);
		fprintf(ctx->err,
		        "note: image %s was created without its bytes; see why with kumo image "
		        "get %s, remove it with kumo image delete %s\n",
		        id, id, id);
	}
	http_result_clear(&res);
out:
	close(fd);
	json_decref(body);
	free(path);
	free(eid);
	free(id);
	return r;
}
