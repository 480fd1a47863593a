/* SPDX-License-Identifier: MIT */
/*
 * A small blocking HTTP client on libcurl for the agent and the CLI.
 * One struct http_client per thread (it holds a curl easy handle, so
 * connections are kept alive between calls).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct http_client;

struct http_client *http_client_new(const char *base_url);
struct http_client *http_client_free(struct http_client *c);
/* Sets "Authorization: Bearer <token>" for later requests (copied; NULL clears). */
void http_client_set_token(struct http_client *c, const char *token);
/* Default per-request timeout in seconds (0 = none). Default 30. */
void http_client_set_timeout(struct http_client *c, long seconds);
/* Extra header for the next request only ("Idempotency-Key: x"). */
void http_client_add_header(struct http_client *c, const char *header);
/* Requests in progress (and later ones) end with -ECANCELED once
 * cancelled(cls) returns nonzero; it is polled about once a second while a
 * request runs, so a stopping thread can leave a long-poll or a stream.
 * NULL clears. cancelled runs in the calling thread. */
void http_client_set_cancel(struct http_client *c, int (*cancelled)(void *cls), void *cls);

struct http_result {
	long status; /* HTTP status; 0 when no response came */
	char *body;  /* owned, NUL-terminated ("" when empty) */
	size_t body_len;
	json_t *json;    /* owned; parsed body when it is JSON, else NULL */
	char *location;  /* owned; Location header or NULL */
	char error[256]; /* transport error text when status == 0 */
};

/* method + path (appended to base_url, may include a query) + optional JSON
 * body. Returns 0 when a response came (any status), -errno on transport
 * failure (-ECONNREFUSED, -ETIMEDOUT, ...). timeout_s overrides the default
 * when > 0. res is filled either way; free with http_result_clear(). */
int http_client_request(struct http_client *c, const char *method, const char *path,
                        const json_t *body, long timeout_s, struct http_result *res);
/* Same with a raw body and content type. */
int http_client_request_raw(struct http_client *c, const char *method, const char *path,
                            const char *content_type, const void *data, size_t len, long timeout_s,
                            struct http_result *res);
/* Streams a GET (SSE, follow=1): calls on_data for each chunk until it
 * returns nonzero or the stream ends. */
int http_client_stream(struct http_client *c, const char *path,
                       int (*on_data)(void *cls, const char *data, size_t len), void *cls);
/* POSTs len bytes of the open file fd (from its current offset) as the body,
 * read as they are sent, never whole; Content-Type content_type (NULL:
 * application/octet-stream). Sends "Expect: 100-continue", so a server
 * that refuses at once is not sent the bytes. No overall timeout: 120 s
 * without progress fails (-ETIMEDOUT). progress (may be NULL) is called
 * often, in the calling thread, with the bytes sent so far. Returns like
 * http_client_request (-errno of a failed read of fd too). */
int http_client_upload(struct http_client *c, const char *path, const char *content_type, int fd,
                       uint64_t len, void (*progress)(void *cls, uint64_t sent, uint64_t total),
                       void *cls, struct http_result *res);
void http_result_clear(struct http_result *res);
/* URL-escapes s into a malloc'd string. */
char *http_escape(const char *s);
