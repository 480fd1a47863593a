// SPDX-License-Identifier: MIT
/*
 * The Redfish core's JSON writer: a response body as compact JSON, the
 * bytes json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) gives, in the same
 * order, with one difference: a real is printed in the fewest digits that
 * read back as the same double ("28.6", where jansson's 17 digits give
 * "28.600000000000001"). It is the hot path of every GET (a Sensors
 * collection with $expand is ~10 KB): one buffer, no callback per token,
 * no printf for integers.
 *
 * Also here: what the core does with bodies a handler shares with others
 * (rf_json_own()), and the bytes of those it keeps (rf_body_keep()),
 * written as they are: a collection's $expand of 20 kept sensors copies
 * 20 strings of bytes.
 *
 * Not here: parsing (jansson), the ETag's canonical form (redfish.c hashes
 * a sorted serialisation), anything but the core's bodies.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redfish_int.h"
#include "common/util.h"

#define JSON_DEPTH_MAX 256 /* deeper: left to json_dumps() */

struct out {
	char *p;
	size_t len;
	size_t cap;
};

static void out_grow(struct out *o, size_t n)
{
	size_t cap = o->cap ? o->cap : 4096;

	while (cap - o->len < n + 1)
		cap *= 2;
	o->p = xrealloc(o->p, cap);
	o->cap = cap;
}

static inline void out_put(struct out *o, const void *p, size_t n)
{
	if (o->cap - o->len < n + 1)
		out_grow(o, n);
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static inline void out_char(struct out *o, char c)
{
	if (o->cap - o->len < 2)
		out_grow(o, 1);
	o->p[o->len++] = c;
}

/* The length of the valid UTF-8 sequence at p (at most n bytes), as
 * jansson accepts them (no overlongs, surrogates or code points past
 * U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Bytes a string cannot hold as they are: 1 for '"', '\\' and the control
 * characters, 2 for the first byte of a UTF-8 sequence (checked). */
static const unsigned char special[256] = {
	[0x00 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
	[0x80 ... 0xff] = 2,
};

/* A string as jansson writes it: '"' and '\\' escaped, control characters
 * as \b \f \n \r \t or \u00XX, the rest as is. false on bad UTF-8. */
static bool put_string(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	char *w;

	/* room for the worst case (every byte as \u00XX): no checks below */
	if (o->cap - o->len < 6 * n + 3)
		out_grow(o, 6 * n + 2);
	w = o->p + o->len;
	*w++ = '"';
	while (i < n) {
		unsigned char c = p[i];
		size_t len;

		if (!special[c]) {
			i++;
			continue;
		}
		if (special[c] == 2) {
			len = utf8_len(p + i, n - i);
			if (!len)
				return false;
			i += len;
			continue;
		}
		memcpy(w, s + run, i - run);
		w += i - run;
		*w++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*w++ = (char)c;
			break;
		case '\b':
			*w++ = 'b';
			break;
		case '\f':
			*w++ = 'f';
			break;
		case '\n':
			*w++ = 'n';
			break;
		case '\r':
			*w++ = 'r';
			break;
		case '\t':
			*w++ = 't';
			break;
		default:
			memcpy(w, "u00", 3);
			w[3] = hex[c >> 4];
			w[4] = hex[c & 0xf];
			w += 5;
			break;
		}
		run = ++i;
	}
	memcpy(w, s + run, n - run);
	w += n - run;
	*w++ = '"';
	o->len = (size_t)(w - o->p);
	return true;
}

static void put_integer(struct out *o, json_int_t v)
{
	char buf[24], *e = buf + sizeof(buf), *p = e;
	/* the magnitude as unsigned: -LLONG_MIN does not fit */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	out_put(o, p, (size_t)(e - p));
}

/* v as "I.F" when it is a decimal of at most 6 places (a reading rounded
 * to 0.01): what "%.15g" and the ".0" give, without printf. 0 otherwise.
 * Exact: the quotient of the two integers (both below 2^53) is correctly
 * rounded, so it equals v only if the decimal reads back as v. */
static size_t real_decimal(double v, char out[RF_JSON_REAL_LEN])
{
	static const double pow10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
	double a = fabs(v);
	char digits[24], *e = digits + sizeof(digits), *p;
	unsigned long long m = 0;
	size_t n = 0;
	int k;

	if (!(a >= 1e-4 && a < 1e9)) /* where %.15g has no exponent; 0 and -0 */
		return 0;
	for (k = 0; k < (int)ARRAY_SIZE(pow10); k++) {
		double r = nearbyint(a * pow10[k]);

		if (r / pow10[k] == a) {
			m = (unsigned long long)r;
			break;
		}
	}
	if (k == (int)ARRAY_SIZE(pow10))
		return 0;
	p = e;
	for (int i = 0; i < k; i++) { /* the places (the last is not 0: k is the least) */
		*--p = (char)('0' + m % 10);
		m /= 10;
	}
	if (k)
		*--p = '.';
	do { /* the whole part, "0" included */
		*--p = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	if (v < 0)
		out[n++] = '-';
	memcpy(out + n, p, (size_t)(e - p));
	n += (size_t)(e - p);
	if (!k) {
		memcpy(out + n, ".0", 2);
		n += 2;
	}
	out[n] = '\0';
	return n;
}

size_t rf_json_real(double v, char out[RF_JSON_REAL_LEN])
{
	size_t n = 0;
	char *e;

	if (!isfinite(v))
		return 0;
	n = real_decimal(v, out);
	if (n)
		return n;
	/* The fewest digits (15 are always exact enough for what was typed
	 * with 15) that read back as v. */
	for (int prec = 15; prec <= 17; prec++) {
		int r = snprintf(out, RF_JSON_REAL_LEN, "%.*g", prec, v);

		if (r <= 0 || r >= RF_JSON_REAL_LEN)
			return 0;
		n = (size_t)r;
		for (char *c = out; *c; c++)
			if (*c == ',') /* a locale's decimal comma */
				*c = '.';
		if (strtod(out, NULL) == v)
			break;
	}
	/* As jansson: a '.' or an 'e' so that it reads back as a real; no
	 * '+' or leading zeros in the exponent. */
	if (!strchr(out, '.') && !strchr(out, 'e')) {
		if (n + 3 > RF_JSON_REAL_LEN)
			return 0;
		memcpy(out + n, ".0", 3);
		n += 2;
	}
	e = strchr(out, 'e');
	if (e) {
		char *start = e + 1, *end;

		if (*start == '-')
			start++;
		end = start;
		while (*end == '+' || *end == '0')
			end++;
		if (end != start) {
			memmove(start, end, n - (size_t)(end - out) + 1);
			n -= (size_t)(end - start);
		}
	}
	return n;
}

/* ---- bodies handlers keep (rf_body_keep()) ----
 *
 * Each with its bytes, in a table of buckets by address. The table holds
 * a reference to each, so that no other value can take its address while
 * it is there; a kept body is shared by definition (the table's reference
 * and its keeper's), which is all the writer looks for before asking. */

#define KEPT_BUCKETS 256 /* a power of 2 */
#define KEPT_MAX 4096    /* kept at once; more are written as any value */

struct kept {
	struct kept *next;
	json_t *v; /* a reference */
	char *bytes;
	size_t len;
};

static struct {
	pthread_rwlock_t lock;
	size_t n;
	struct kept *bucket[KEPT_BUCKETS];
} kept = { .lock = PTHREAD_RWLOCK_INITIALIZER };

static size_t kept_bucket(const json_t *v)
{
	uintptr_t a = (uintptr_t)v;

	return (size_t)((a >> 4) ^ (a >> 12)) & (KEPT_BUCKETS - 1);
}

void rf_body_keep(json_t *body)
{
	struct kept *k;
	size_t len;
	char *bytes = rf_json_compact(body, &len);

	if (!bytes)
		return; /* written by json_dumps() each time */
	k = xmalloc(sizeof(*k));
	k->v = json_incref(body);
	k->bytes = bytes;
	k->len = len;
	pthread_rwlock_wrlock(&kept.lock);
	if (kept.n < KEPT_MAX) {
		k->next = kept.bucket[kept_bucket(body)];
		kept.bucket[kept_bucket(body)] = k;
		__atomic_add_fetch(&kept.n, 1, __ATOMIC_RELAXED); /* read unlocked below */
		k = NULL;
	}
	pthread_rwlock_unlock(&kept.lock);
	if (k) {
		json_decref(k->v);
		free(k->bytes);
		free(k);
	}
}

void rf_body_unkeep(json_t *body)
{
	struct kept **pp, *k = NULL;

	pthread_rwlock_wrlock(&kept.lock);
	for (pp = &kept.bucket[kept_bucket(body)]; *pp; pp = &(*pp)->next)
		if ((*pp)->v == body) {
			k = *pp;
			*pp = k->next;
			__atomic_sub_fetch(&kept.n, 1, __ATOMIC_RELAXED);
			break;
		}
	pthread_rwlock_unlock(&kept.lock);
	if (k) {
		json_decref(k->v);
		free(k->bytes);
		free(k);
	}
}

/* v's bytes when it is kept: written, true. */
static bool put_kept(struct out *o, const json_t *v)
{
	bool found = false;

	if (!rf_json_shared(v) || !__atomic_load_n(&kept.n, __ATOMIC_RELAXED))
		return false;
	pthread_rwlock_rdlock(&kept.lock);
	for (const struct kept *k = kept.bucket[kept_bucket(v)]; k; k = k->next)
		if (k->v == v) {
			out_put(o, k->bytes, k->len);
			found = true;
			break;
		}
	pthread_rwlock_unlock(&kept.lock);
	return found;
}

static bool put_value(struct out *o, const json_t *v, int depth)
{
	char real[RF_JSON_REAL_LEN];
	size_t n;

	if (depth > JSON_DEPTH_MAX)
		return false;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		bool first = true;

		if (put_kept(o, v))
			return true;
		out_char(o, '{');
		for (void *it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it)) {
			if (!first)
				out_char(o, ',');
			first = false;
			if (!put_string(o, json_object_iter_key(it), json_object_iter_key_len(it)))
				return false;
			out_char(o, ':');
			if (!put_value(o, json_object_iter_value(it), depth + 1))
				return false;
		}
		out_char(o, '}');
		return true;
	}
	case JSON_ARRAY:
		out_char(o, '[');
		n = json_array_size(v);
		for (size_t i = 0; i < n; i++) {
			if (i)
				out_char(o, ',');
			if (!put_value(o, json_array_get(v, i), depth + 1))
				return false;
		}
		out_char(o, ']');
		return true;
	case JSON_STRING:
		return put_string(o, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		put_integer(o, json_integer_value(v));
		return true;
	case JSON_REAL:
		n = rf_json_real(json_real_value(v), real);
		if (!n)
			return false;
		out_put(o, real, n);
		return true;
	case JSON_TRUE:
		out_put(o, "true", 4);
		return true;
	case JSON_FALSE:
		out_put(o, "false", 5);
		return true;
	case JSON_NULL:
		out_put(o, "null", 4);
		return true;
	}
	return false;
}

char *rf_json_compact(const json_t *v, size_t *ret_len)
{
	struct out o = { 0 };

	if (!v || !put_value(&o, v, 0)) {
		free(o.p);
		return NULL;
	}
	if (!o.p)
		out_grow(&o, 0);
	o.p[o.len] = '\0';
	*ret_len = o.len;
	return o.p;
}

bool rf_json_shared(const json_t *v)
{
	return v && __atomic_load_n(&v->refcount, __ATOMIC_ACQUIRE) > 1;
}

json_t *rf_json_own(json_t *v)
{
	json_t *copy;

	if (!rf_json_shared(v))
		return v;
	copy = json_copy(v);
	json_decref(v);
	return copy;
}

json_t *rf_json_own_deep(json_t *v)
{
	json_t *copy;

	if (!rf_json_shared(v))
		return v;
	copy = json_deep_copy(v);
	json_decref(v);
	return copy;
}
