// SPDX-License-Identifier: MIT
/*
 * The blocking HTTP client (see http_client.h) on one libcurl easy handle
 * per struct http_client. The handle is reset, not recreated, between
 * requests, so its connection stays open (keep-alive) and a long-poll loop
 * or a heartbeat costs no new TCP connection.
 *
 * What it does: JSON request bodies, bearer tokens, one-shot extra headers,
 * per-request timeouts, response bodies bounded to HTTP_CLIENT_BODY_MAX,
 * JSON parsing of responses that are JSON, the Location header, transport
 * errors as negative errno, streaming GETs, uploads streamed from a file
 * (never read whole into memory), and a cancel hook so a thread
 * that is stopping can leave a request it is blocked in. Bodies nested more
 * than HTTP_CLIENT_JSON_DEPTH_MAX levels are not parsed (json stays NULL):
 * the parser recurses, and the agent's threads have small stacks.
 *
 * What it does not do: retries, backoff or logging above debug. Callers
 * decide what a failure means and log it once.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define HTTP_CLIENT_BODY_MAX ((size_t)64 * 1024 * 1024)
#define HTTP_CLIENT_ERRBODY_MAX ((size_t)64 * 1024) /* error bodies of streams */
#define HTTP_CLIENT_CONNECT_TIMEOUT_S 10L
#define HTTP_CLIENT_HEADER_MAX 4096
#define HTTP_CLIENT_USER_AGENT "kumo/0.1.0"
#define HTTP_CLIENT_UPLOAD_STALL_S 120L /* an upload that moves nothing this long fails */
/* jansson parses recursively; the agent's threads have small stacks. No
 * API answer nests anywhere near this deep. */
#define HTTP_CLIENT_JSON_DEPTH_MAX 64

struct http_client {
	CURL *curl;              /* owned */
	char *base_url;          /* owned, without a trailing '/' */
	char *auth_header;       /* owned; "Authorization: Bearer ..." or NULL */
	struct curl_slist *once; /* owned; headers for the next request only */
	long timeout_s;
	int (*cancelled)(void *cls);
	void *cancel_cls; /* weak */
	char errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer, shared by the curl callbacks. */
struct transfer {
	struct http_client *c; /* weak */
	struct buf body;
	char *location;     /* owned */
	char *content_type; /* owned */
	bool too_big;
	/* streaming */
	int (*on_data)(void *cls, const char *data, size_t len);
	void *on_data_cls;
	bool stopped;   /* on_data asked to stop */
	bool cancelled; /* the cancel hook fired */
	/* uploads from a file */
	bool expect_100; /* send "Expect: 100-continue": refusals come before the body */
	int up_fd;
	uint64_t up_left;
	int up_err; /* -errno of a failed read */
	void (*up_progress)(void *cls, uint64_t sent, uint64_t total);
	void *up_cls;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void curl_global_once(void)
{
	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct http_client *http_client_new(const char *base_url)
{
	struct http_client *c;
	size_t n;

	pthread_once(&curl_once, curl_global_once);
	if (curl_init_code != CURLE_OK)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return NULL;
	}
	c->base_url = xstrdup(base_url);
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	c->timeout_s = 30;
	return c;
}

struct http_client *http_client_free(struct http_client *c)
{
	if (!c)
		return NULL;
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->once);
	free(c->base_url);
	free(c->auth_header);
	free(c);
	return NULL;
}

void http_client_set_token(struct http_client *c, const char *token)
{
	free(c->auth_header);
	c->auth_header = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
}

void http_client_set_timeout(struct http_client *c, long seconds)
{
	c->timeout_s = seconds < 0 ? 0 : seconds;
}

void http_client_add_header(struct http_client *c, const char *header)
{
	struct curl_slist *l = curl_slist_append(c->once, header);

	if (l)
		c->once = l;
}

void http_client_set_cancel(struct http_client *c, int (*cancelled)(void *cls), void *cls)
{
	c->cancelled = cancelled;
	c->cancel_cls = cancelled ? cls : NULL;
}

void http_result_clear(struct http_result *res)
{
	if (!res)
		return;
	free(res->body);
	json_decref(res->json);
	free(res->location);
	res->body = NULL;
	res->body_len = 0;
	res->json = NULL;
	res->location = NULL;
	res->status = 0;
	res->error[0] = '\0';
}

char *http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(n * 3 + 1), *p = out;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = '\0';
	return out;
}

/* --- curl callbacks ---------------------------------------------------- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t n = size * nmemb;
	long status = 0;

	if (t->on_data) {
		curl_easy_getinfo(t->c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status < 400) {
			if (t->on_data(t->on_data_cls, ptr, n) != 0) {
				t->stopped = true;
				return 0;
			}
			return n;
		}
		/* An error answer to a stream: keep (a bounded part of) it. */
		if (t->body.len + n > HTTP_CLIENT_ERRBODY_MAX)
			return n;
	}
	if (buf_append(&t->body, ptr, n) < 0) {
		t->too_big = true;
		return 0;
	}
	return n;
}

/* Copies the value of "Name: value\r\n" when the name matches. */
static bool header_value(const char *line, size_t len, const char *name, char **ret)
{
	size_t nlen = strlen(name);

	if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
		return false;
	line += nlen + 1;
	len -= nlen + 1;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	free(*ret);
	*ret = strndup(line, len);
	if (!*ret)
		abort();
	return true;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t n = size * nmemb;

	if (n > HTTP_CLIENT_HEADER_MAX)
		return n; /* not one we want; curl has its own limit */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		/* A new response (after "100 Continue"): forget the last one's headers. */
		free(t->location);
		free(t->content_type);
		t->location = NULL;
		t->content_type = NULL;
		return n;
	}
	if (!header_value(ptr, n, "Location", &t->location))
		header_value(ptr, n, "Content-Type", &t->content_type);
	return n;
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct transfer *t = clientp;

	if (t->c->cancelled && t->c->cancelled(t->c->cancel_cls)) {
		t->cancelled = true;
		return 1;
	}
	return 0;
}

/* --- requests ------------------------------------------------------------ */

static int curl_errno(CURLcode cc, const struct transfer *t)
{
	if (t->cancelled)
		return -ECANCELED;
	if (t->up_err)
		return t->up_err;
	if (t->too_big)
		return -EMSGSIZE;
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

static bool looks_json(const char *content_type, const char *body)
{
	if (content_type && strcasestr(content_type, "json"))
		return true;
	while (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')
		body++;
	return *body == '{' || *body == '[';
}

/* Whether the JSON text nests at most max levels (strings skipped). */
static bool json_depth_ok(const char *s, size_t n, int max)
{
	bool in_string = false;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > max)
				return false;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return true;
}

static void transfer_init(struct transfer *t, struct http_client *c, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->c = c;
	buf_init(&t->body, max);
}

static void transfer_clear(struct transfer *t)
{
	buf_free(&t->body);
	free(t->location);
	free(t->content_type);
}

/* Sets the options every request shares. headers: the list to send (owned by
 * the caller until the request is over). */
static int setup(struct http_client *c, struct transfer *t, const char *path, long timeout_s,
                 struct curl_slist **headers)
{
	CURL *h = c->curl;
	char *url;
	int r = 0;

	curl_easy_reset(h);
	c->errbuf[0] = '\0';
	url = xasprintf("%s%s%s", c->base_url, path[0] == '/' ? "" : "/", path);
	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK)
		r = -EINVAL;
	free(url); /* curl copies the URL */
	if (r < 0)
		return r;
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, HTTP_CLIENT_CONNECT_TIMEOUT_S);
	if (timeout_s > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_USERAGENT, HTTP_CLIENT_USER_AGENT);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_CLIENT_BODY_MAX);
	if (c->cancelled) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
	}

	/* No "Expect: 100-continue" round trip on larger bodies, but on uploads,
	 * where a refusal before the body saves sending it. */
	*headers = curl_slist_append(*headers, t->expect_100 ? "Expect: 100-continue" : "Expect:");
	if (c->auth_header)
		*headers = curl_slist_append(*headers, c->auth_header);
	for (struct curl_slist *l = c->once; l; l = l->next)
		*headers = curl_slist_append(*headers, l->data);
	if (!*headers)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
	return 0;
}

/* Runs the transfer and fills res. */
static int perform(struct http_client *c, struct transfer *t, struct http_result *res)
{
	CURLcode cc;
	int r = 0;

	memset(res, 0, sizeof(*res));
	if (c->cancelled && c->cancelled(c->cancel_cls)) {
		t->cancelled = true;
		cc = CURLE_ABORTED_BY_CALLBACK;
	} else {
		cc = curl_easy_perform(c->curl);
	}
	if (cc != CURLE_OK && !(t->stopped && cc == CURLE_WRITE_ERROR)) {
		r = curl_errno(cc, t);
		if (t->too_big)
			snprintf(res->error, sizeof(res->error), "response body over %zu bytes",
			         HTTP_CLIENT_BODY_MAX);
		else if (t->cancelled)
			snprintf(res->error, sizeof(res->error), "request cancelled");
		else
			snprintf(res->error, sizeof(res->error), "%s",
			         c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
		res->body = xstrdup("");
		log_debug("http client: %s", res->error);
		return r;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
	res->body_len = t->body.len;
	res->body = buf_steal(&t->body);
	if (!res->body)
		abort();
	res->location = t->location;
	t->location = NULL;
	if (res->body_len > 0 && looks_json(t->content_type, res->body) &&
	    json_depth_ok(res->body, res->body_len, HTTP_CLIENT_JSON_DEPTH_MAX))
		res->json = jparse(res->body, res->body_len, NULL, 0);
	return 0;
}

static int request(struct http_client *c, const char *method, const char *path,
                   const char *content_type, const void *data, size_t len, long timeout_s,
                   struct http_result *res)
{
	struct curl_slist *headers = NULL;
	struct transfer t;
	CURL *h = c->curl;
	char *ct = NULL;
	int r;

	transfer_init(&t, c, HTTP_CLIENT_BODY_MAX);
	headers = curl_slist_append(headers, "Accept: application/json");
	if (data) {
		ct =
		    xasprintf("Content-Type: %s", content_type ? content_type : "application/json");
		headers = curl_slist_append(headers, ct);
	}
	r = setup(c, &t, path, timeout_s > 0 ? timeout_s : c->timeout_s, &headers);
	if (r < 0) {
		memset(res, 0, sizeof(*res));
		res->body = xstrdup("");
		snprintf(res->error, sizeof(res->error), "bad request URL");
		goto out;
	}
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(method, "POST") == 0 || data) {
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)(data ? len : 0));
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, data ? data : "");
		}
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	r = perform(c, &t, res);
out:
	curl_slist_free_all(c->once);
	c->once = NULL;
	curl_slist_free_all(headers);
	free(ct);
	transfer_clear(&t);
	return r;
}

int http_client_request(struct http_client *c, const char *method, const char *path,
                        const json_t *body, long timeout_s, struct http_result *res)
{
	char *data = NULL;
	int r;

	if (body)
		data = jdump(body);
	r = request(c, method, path, "application/json", data, data ? strlen(data) : 0, timeout_s,
	            res);
	free(data);
	return r;
}

int http_client_request_raw(struct http_client *c, const char *method, const char *path,
                            const char *content_type, const void *data, size_t len, long timeout_s,
                            struct http_result *res)
{
	return request(c, method, path, content_type, data, len, timeout_s, res);
}

static int status_errno(long status)
{
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 413:
		return -EMSGSIZE;
	case 429:
		return -EAGAIN;
	case 503:
		return -ENOTCONN;
	default:
		return -EIO;
	}
}

/* The stream has no overall timeout (it lasts as long as the caller wants);
 * connecting is bounded, and the cancel hook ends it from outside. Returns 0
 * when the server ended the stream or on_data returned nonzero, -errno on a
 * transport failure, or the errno of an HTTP error status (401 -EACCES, 403
 * -EPERM, 404 -ENOENT, ... else -EIO); on_data sees only 2xx/3xx bodies. */
int http_client_stream(struct http_client *c, const char *path,
                       int (*on_data)(void *cls, const char *data, size_t len), void *cls)
{
	struct curl_slist *headers = NULL;
	struct http_result res;
	struct transfer t;
	int r;

	transfer_init(&t, c, HTTP_CLIENT_ERRBODY_MAX);
	t.on_data = on_data;
	t.on_data_cls = cls;
	headers = curl_slist_append(headers, "Accept: text/event-stream, application/json");
	r = setup(c, &t, path, 0, &headers);
	if (r < 0)
		goto out;
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
	r = perform(c, &t, &res);
	if (r == 0 && res.status >= 400) {
		log_debug("http client: stream %s: HTTP %ld: %s", path, res.status, res.body);
		r = status_errno(res.status);
	}
	http_result_clear(&res);
out:
	curl_slist_free_all(c->once);
	c->once = NULL;
	curl_slist_free_all(headers);
	transfer_clear(&t);
	return r;
}

/* --- uploads from a file -------------------------------------------------- */

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct transfer *t = userdata;
	size_t want = size * nitems;
	ssize_t n;

	if (t->up_left == 0)
		return 0;
	if (want > t->up_left)
		want = (size_t)t->up_left;
	do
		n = read(t->up_fd, buf, want);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		t->up_err = n < 0 ? -errno : -EIO; /* an error, or the file shrank */
		return CURL_READFUNC_ABORT;
	}
	t->up_left -= (uint64_t)n;
	return (size_t)n;
}

static int on_upload_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                              curl_off_t ultotal, curl_off_t ulnow)
{
	struct transfer *t = clientp;

	if (t->c->cancelled && t->c->cancelled(t->c->cancel_cls)) {
		t->cancelled = true;
		return 1;
	}
	if (t->up_progress)
		t->up_progress(t->up_cls, (uint64_t)ulnow, (uint64_t)ultotal);
	return 0;
}

int http_client_upload(struct http_client *c, const char *path, const char *content_type, int fd,
                       uint64_t len, void (*progress)(void *cls, uint64_t sent, uint64_t total),
                       void *cls, struct http_result *res)
{
	struct curl_slist *headers = NULL;
	struct transfer t;
	CURL *h = c->curl;
	char *ct;
	int r;

	transfer_init(&t, c, HTTP_CLIENT_BODY_MAX);
	t.expect_100 = true;
	t.up_fd = fd;
	t.up_left = len;
	t.up_progress = progress;
	t.up_cls = cls;
	ct =
	    xasprintf("Content-Type: %s", content_type ? content_type : "application/octet-stream");
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, ct);
	r = setup(c, &t, path, 0, &headers);
	if (r < 0) {
		memset(res, 0, sizeof(*res));
		res->body = xstrdup("");
		snprintf(res->error, sizeof(res->error), "bad request URL");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &t);
	/* No overall timeout; a transfer that stalls fails. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, HTTP_CLIENT_UPLOAD_STALL_S);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_upload_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
	r = perform(c, &t, res);
	if (r < 0 && t.up_err)
		snprintf(res->error, sizeof(res->error), "cannot read the file: %s",
		         strerror(-t.up_err));
out:
	curl_slist_free_all(c->once);
	c->once = NULL;
	curl_slist_free_all(headers);
	free(ct);
	transfer_clear(&t);
	return r;
}
