// SPDX-License-Identifier: MIT
/*
 * The event engine of the agent's Redfish service (rf_event.h): the
 * EventService settings and the subscriptions with their files, a bounded
 * queue per subscription, one delivery thread that POSTs events with
 * libcurl's multi interface (so a slow or dead destination holds up no
 * other), the retries and the policy once they are exhausted, the ring of
 * recent events SSE streams read, and the subscription filters.
 *
 * Not here: the resources and what they accept (rf_event.c), where events
 * come from (rf_event.c: the node log and SubmitTestEvent; rf_telemetry.c:
 * metric reports).
 *
 * Locking: ev->lock guards everything in memory; nothing waits for the
 * network or a file under it. File writes are serialised by save_lock
 * (taken before lock, never inside it): a write dumps the state as it is
 * then, so the newest write is always the newest state. Only the delivery
 * thread touches the curl multi handle (publishers wake it with
 * curl_multi_wakeup()).
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/rf_event.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define FILE_MAX (1024 * 1024)
#define CONNECT_TIMEOUT_MS 3000
#define POLL_MAX_MS 1000
#define ID_LEN 32

struct item {
	json_t *body; /* owned; an EventRecord, or a MetricReport */
	char *rtype;  /* owned; the origin's resource type, or NULL */
	bool report;  /* body is a MetricReport */
	uint64_t seq; /* unique in the engine: which item a POST sends */
	int64_t at_ms;
};

struct sub {
	uint64_t uid; /* never reused: a POST in flight finds its subscription by it */
	json_t *cfg;  /* owned; the subscription (rf_event.h) with Id and State */
	struct item q[RF_EVENTS_QUEUE_MAX]; /* q[0] the oldest */
	size_t n;
	int failures;     /* failed POSTs of q[0] */
	int64_t next_ms;  /* monotonic: no POST before then (a retry's wait) */
	bool busy;        /* a POST of q[0] is in flight */
	uint64_t dropped; /* events lost to a full queue since the last delivery */
};

/* One POST in flight; the delivery thread's alone. */
struct xfer {
	CURL *easy;
	uint64_t uid, seq;
	char *body; /* owned */
	struct curl_slist *headers;
	char err[CURL_ERROR_SIZE];
	struct xfer *next;
};

struct ring_ev {
	uint64_t id;
	char *text; /* owned; the Event body */
};

struct rf_events {
	pthread_mutex_t lock;
	pthread_cond_t sse; /* a new event, or the end */
	pthread_mutex_t save_lock;
	char *subs_path, *settings_path; /* owned */
	struct rf_events_settings set;
	struct sub *subs[RF_EVENTS_SUBS_MAX]; /* owned, oldest first */
	size_t nsubs;
	uint64_t next_sub_id; /* the Id the next subscription gets (saved) */
	uint64_t next_uid, next_seq;
	uint64_t last_id; /* the newest EventId */
	int streams;      /* SSE streams open */
	struct ring_ev ring[RF_EVENTS_RING];
	size_t ring_head, ring_n;
	CURLM *multi;
	struct xfer *xfers; /* the thread's */
	pthread_t thread;
	bool started, stop;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void curl_global_once(void)
{
	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- filters ---- */

/* "Environmental" and "FanFailed" of "Environmental.1.4.0.FanFailed" (or
 * of "Environmental.FanFailed"). */
static void split_id(const char *mid, char *prefix, size_t plen, const char **ret_key)
{
	const char *dot = strchr(mid, '.'), *last = strrchr(mid, '.');
	size_t n = dot ? (size_t)(dot - mid) : strlen(mid);

	snprintf(prefix, plen, "%.*s", (int)n, mid);
	*ret_key = last ? last + 1 : "";
}

static bool list_has(const json_t *list, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		if (json_is_string(v) && s && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

/* Is a message of prefix and key in list ("Prefix.Key" or
 * "Prefix.M.m.u.Key", versions ignored)? */
static bool ids_have(const json_t *list, const char *prefix, const char *key)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		char p[64];
		const char *k;

		if (!json_is_string(v))
			continue;
		split_id(json_string_value(v), p, sizeof(p), &k);
		if (strcmp(p, prefix) == 0 && strcmp(k, key) == 0)
			return true;
	}
	return false;
}

static bool origin_wanted(const json_t *sub, const char *origin)
{
	const json_t *list = json_object_get(sub, "OriginResources");
	bool below = jbool(sub, "SubordinateResources", false);
	size_t i;
	json_t *v;

	if (json_array_size(list) == 0)
		return true;
	if (!origin)
		return false;
	json_array_foreach(list, i, v)
	{
		const char *o = jstr(v, "@odata.id");
		size_t n = o ? strlen(o) : 0;

		if (!o)
			continue;
		if (strcmp(o, origin) == 0)
			return true;
		if (below && strncmp(o, origin, n) == 0 && origin[n] == '/')
			return true;
	}
	return false;
}

bool rf_events_match(const json_t *sub, const json_t *record, const char *resource_type)
{
	const json_t *rp = json_object_get(sub, "RegistryPrefixes");
	const json_t *mi = json_object_get(sub, "MessageIds");
	const json_t *sev = json_object_get(sub, "Severities");
	const json_t *types = json_object_get(sub, "ResourceTypes");
	const char *mid = jstr(record, "MessageId") ?: "", *key;
	char prefix[64];

	split_id(mid, prefix, sizeof(prefix), &key);
	if (json_array_size(rp) || json_array_size(mi)) {
		if (!list_has(rp, prefix) && !ids_have(mi, prefix, key))
			return false;
	}
	if (list_has(json_object_get(sub, "ExcludeRegistryPrefixes"), prefix) ||
	    ids_have(json_object_get(sub, "ExcludeMessageIds"), prefix, key))
		return false;
	if (json_array_size(sev) && !list_has(sev, jstr(record, "MessageSeverity")))
		return false;
	if (json_array_size(types) && !list_has(types, resource_type))
		return false;
	return origin_wanted(sub, jstr(json_object_get(record, "OriginOfCondition"), "@odata.id"));
}

json_t *rf_event_body(const json_t *record, const char *context)
{
	json_t *body = json_pack("{s:s, s:s, s:s, s:[O], s:i}", "@odata.type", RF_EVENT_TYPE, "Id",
	                         jstr(record, "EventId") ?: "0", "Name", "Event Array", "Events",
	                         record, "Events@odata.count", 1);

	if (context)
		jset_str(body, "Context", context);
	return body;
}

/* ---- subscriptions in memory ---- */

static void item_clear(struct item *it)
{
	json_decref(it->body);
	free(it->rtype);
	memset(it, 0, sizeof(*it));
}

/* Drops q[i]. */
static void queue_drop(struct sub *s, size_t i)
{
	item_clear(&s->q[i]);
	memmove(&s->q[i], &s->q[i + 1], (s->n - i - 1) * sizeof(s->q[0]));
	s->n--;
	memset(&s->q[s->n], 0, sizeof(s->q[0]));
}

static void sub_free(struct sub *s)
{
	if (!s)
		return;
	while (s->n)
		queue_drop(s, s->n - 1);
	json_decref(s->cfg);
	free(s);
}

static struct sub *sub_new(struct rf_events *ev, json_t *cfg)
{
	struct sub *s = xcalloc(1, sizeof(*s));

	s->uid = ++ev->next_uid;
	s->cfg = cfg;
	return s;
}

static const char *sub_id(const struct sub *s)
{
	return jstr(s->cfg, "Id") ?: "";
}

static bool sub_enabled(const struct sub *s)
{
	return strcmp(jstr(s->cfg, "State") ?: "Enabled", "Enabled") == 0;
}

static size_t sub_index(struct rf_events *ev, const char *id)
{
	for (size_t i = 0; i < ev->nsubs; i++)
		if (strcmp(sub_id(ev->subs[i]), id) == 0)
			return i;
	return SIZE_MAX;
}

static struct sub *sub_by_uid(struct rf_events *ev, uint64_t uid)
{
	for (size_t i = 0; i < ev->nsubs; i++)
		if (ev->subs[i]->uid == uid)
			return ev->subs[i];
	return NULL;
}

static void sub_remove(struct rf_events *ev, size_t i)
{
	sub_free(ev->subs[i]);
	memmove(&ev->subs[i], &ev->subs[i + 1], (ev->nsubs - i - 1) * sizeof(ev->subs[0]));
	ev->subs[--ev->nsubs] = NULL;
}

/* Queues body for s (a new reference is taken); a full queue drops its
 * oldest event that is not being sent. Called with ev->lock. */
static void enqueue(struct rf_events *ev, struct sub *s, json_t *body, const char *rtype,
                    bool report)
{
	struct item *it;

	if (s->n == RF_EVENTS_QUEUE_MAX) {
		size_t victim = s->busy ? 1 : 0;

		/* One line when it starts, then one every 100 events lost. */
		if (s->dropped++ % 100 == 0)
			log_warn(
			    "redfish events: the queue of subscription %s is full (%d events): "
			    "dropping its oldest undelivered event %s (%llu dropped since its "
			    "last delivery)",
			    sub_id(s), RF_EVENTS_QUEUE_MAX,
			    jstr(s->q[victim].body, s->q[victim].report ? "Id" : "EventId") ?: "?",
			    (unsigned long long)s->dropped);
		queue_drop(s, victim);
		if (victim == 0)
			s->failures = 0;
	}
	it = &s->q[s->n++];
	it->body = json_incref(body);
	it->rtype = rtype ? xstrdup(rtype) : NULL;
	it->report = report;
	it->seq = ++ev->next_seq;
	it->at_ms = now_ms();
}

/* ---- files ---- */

static json_t *subs_doc_locked(struct rf_events *ev)
{
	json_t *list = json_array();

	for (size_t i = 0; i < ev->nsubs; i++)
		json_array_append_new(list, json_deep_copy(ev->subs[i]->cfg));
	return json_pack("{s:I, s:o}", "next_id", (json_int_t)ev->next_sub_id, "subscriptions",
	                 list);
}

static int write_doc(const char *path, const json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	int r;

	if (!text)
		return -ENOMEM;
	r = file_write_atomic(path, text, strlen(text), 0600);
	free(text);
	return r;
}

/* Writes the subscriptions as they are now. Called without ev->lock. */
static int save_subs(struct rf_events *ev)
{
	json_t *doc;
	int r;

	pthread_mutex_lock(&ev->save_lock);
	pthread_mutex_lock(&ev->lock);
	doc = subs_doc_locked(ev);
	pthread_mutex_unlock(&ev->lock);
	r = write_doc(ev->subs_path, doc);
	pthread_mutex_unlock(&ev->save_lock);
	json_decref(doc);
	if (r < 0)
		log_warn("redfish events: cannot write %s: %s", ev->subs_path, strerror(-r));
	return r;
}

/* Reads path into *ret (a JSON object); a file that is not one is set
 * aside. 0 (NULL when there is no file) or -errno. */
static int read_doc(const char *path, json_t **ret)
{
	char *text = NULL, *aside;
	size_t len = 0;
	json_t *doc;
	int r;

	*ret = NULL;
	r = file_read(path, FILE_MAX, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	doc = json_loadb(text, len, 0, NULL);
	free(text);
	if (json_is_object(doc)) {
		*ret = doc;
		return 0;
	}
	json_decref(doc);
	aside = xasprintf("%s.corrupt", path);
	log_warn("redfish events: %s is not valid: set aside as %s", path, aside);
	if (rename(path, aside) < 0)
		r = -errno;
	free(aside);
	return r;
}

static void load_settings(struct rf_events *ev, const json_t *doc)
{
	int64_t a = jint(doc, "DeliveryRetryAttempts", ev->set.retry_attempts);
	int64_t i = jint(doc, "DeliveryRetryIntervalSeconds", ev->set.retry_interval_s);

	ev->set.enabled = jbool(doc, "ServiceEnabled", ev->set.enabled);
	if (a >= 0 && a <= RF_EVENTS_RETRY_ATTEMPTS_MAX)
		ev->set.retry_attempts = (int)a;
	if (i >= 1 && i <= RF_EVENTS_RETRY_INTERVAL_MAX)
		ev->set.retry_interval_s = (int)i;
}

static void load_subs(struct rf_events *ev, const json_t *doc)
{
	const json_t *list = json_object_get(doc, "subscriptions");
	json_int_t next = jint(doc, "next_id", 1);
	size_t i;
	json_t *v;

	ev->next_sub_id = next > 0 ? (uint64_t)next : 1;
	json_array_foreach(list, i, v)
	{
		const char *id = jstr(v, "Id");

		if (!json_is_object(v) || !id || !jstr(v, "Destination") ||
		    ev->nsubs == RF_EVENTS_SUBS_MAX || sub_index(ev, id) != SIZE_MAX) {
			log_warn("redfish events: %s: subscription %zu is not valid: left out",
			         ev->subs_path, i);
			continue;
		}
		if (!jstr(v, "State"))
			jset_str(v, "State", "Enabled");
		ev->subs[ev->nsubs++] = sub_new(ev, json_deep_copy(v));
		if ((uint64_t)strtoull(id, NULL, 10) >= ev->next_sub_id)
			ev->next_sub_id = strtoull(id, NULL, 10) + 1;
	}
}

/* ---- delivery ---- */

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
	return size * n;
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	curl_slist_free_all(x->headers);
	if (x->easy)
		curl_easy_cleanup(x->easy);
	free(x->body);
	free(x);
}

/* Starts the POST of s->q[0]. Called by the thread with ev->lock. */
static void xfer_start(struct rf_events *ev, struct sub *s)
{
	const struct item *it = &s->q[0];
	const char *ctx = jstr(s->cfg, "Context");
	struct xfer *x = xcalloc(1, sizeof(*x));
	bool verify = jbool(s->cfg, "VerifyCertificate", true);
	json_t *body;

	if (it->report) {
		body = json_deep_copy(it->body);
		if (ctx)
			jset_str(body, "Context", ctx);
	} else {
		body = rf_event_body(it->body, ctx);
	}
	x->body = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	x->uid = s->uid;
	x->seq = it->seq;
	x->easy = curl_easy_init();
	if (!x->body || !x->easy) {
		xfer_free(x);
		s->next_ms = mono_ms() + POLL_MAX_MS; /* try again in a while */
		return;
	}
	x->headers = curl_slist_append(x->headers, "Content-Type: application/json; charset=utf-8");
	x->headers = curl_slist_append(x->headers, "OData-Version: 4.0");
	x->headers = curl_slist_append(x->headers, "Expect:"); /* no 100-continue wait */
	curl_easy_setopt(x->easy, CURLOPT_URL, jstr(s->cfg, "Destination"));
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "kumo-agent");
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)RF_EVENTS_POST_TIMEOUT_MS);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(ev->multi, x->easy) != CURLM_OK) {
		xfer_free(x);
		s->next_ms = mono_ms() + POLL_MAX_MS;
		return;
	}
	x->next = ev->xfers;
	ev->xfers = x;
	s->busy = true;
}

/* The retries of s are used up: its policy (s may be freed). Called with
 * ev->lock; the caller saves the subscriptions. */
static void exhausted(struct rf_events *ev, struct sub *s, const char *why)
{
	const char *policy = jstr(s->cfg, "DeliveryRetryPolicy") ?: "SuspendRetries";

	if (strcmp(policy, "TerminateAfterRetries") == 0) {
		log_warn("redfish events: subscription %s: %d POSTs to %s failed (%s): "
		         "terminated (TerminateAfterRetries)",
		         sub_id(s), s->failures, jstr(s->cfg, "Destination"), why);
		sub_remove(ev, sub_index(ev, sub_id(s)));
		return;
	}
	log_warn("redfish events: subscription %s: %d POSTs to %s failed (%s): suspended "
	         "(SuspendRetries; its events are kept, up to %d, until it is resumed)",
	         sub_id(s), s->failures, jstr(s->cfg, "Destination"), why, RF_EVENTS_QUEUE_MAX);
	jset_str(s->cfg, "State", "Disabled");
	s->failures = 0;
}

/* A POST has ended. Called with ev->lock; true when the subscriptions
 * changed (to be saved). */
static bool xfer_done(struct rf_events *ev, const struct xfer *x, CURLcode code, long status)
{
	struct sub *s = sub_by_uid(ev, x->uid);
	char why[CURL_ERROR_SIZE + 32];

	if (!s) /* deleted meanwhile */
		return false;
	s->busy = false;
	if (code == CURLE_OK && status >= 200 && status < 300) {
		if (s->n && s->q[0].seq == x->seq)
			queue_drop(s, 0);
		s->failures = 0;
		s->dropped = 0;
		s->next_ms = 0;
		return false;
	}
	if (code != CURLE_OK)
		snprintf(why, sizeof(why), "%s", x->err[0] ? x->err : curl_easy_strerror(code));
	else
		snprintf(why, sizeof(why), "HTTP status %ld", status);
	s->failures++;
	if (s->failures > ev->set.retry_attempts) {
		exhausted(ev, s, why);
		return true;
	}
	log_debug("redfish events: subscription %s: POST to %s failed (%s), try %d of %d",
	          sub_id(s), jstr(s->cfg, "Destination"), why, s->failures,
	          ev->set.retry_attempts + 1);
	s->next_ms = mono_ms() + (int64_t)ev->set.retry_interval_s * 1000;
	return false;
}

/* Takes the finished POSTs; true when one finished. */
static bool reap(struct rf_events *ev, bool *ret_save)
{
	bool any = false;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(ev->multi, &left))) {
		struct xfer *x = NULL, **pp;
		CURL *easy = m->easy_handle;
		CURLcode code = m->data.result;
		long status = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		pthread_mutex_lock(&ev->lock);
		*ret_save |= xfer_done(ev, x, code, status);
		pthread_mutex_unlock(&ev->lock);
		curl_multi_remove_handle(ev->multi, easy);
		for (pp = &ev->xfers; *pp; pp = &(*pp)->next)
			if (*pp == x) {
				*pp = x->next;
				break;
			}
		xfer_free(x);
		any = true;
	}
	return any;
}

static void *deliver_main(void *arg)
{
	struct rf_events *ev = arg;

	pthread_mutex_lock(&ev->lock);
	while (!ev->stop) {
		int64_t now = mono_ms(), wait = POLL_MAX_MS;
		bool save = false, done;
		int running;

		for (size_t i = 0; i < ev->nsubs && ev->set.enabled; i++) {
			struct sub *s = ev->subs[i];

			if (s->busy || !s->n || !sub_enabled(s))
				continue;
			if (now < s->next_ms) {
				if (s->next_ms - now < wait)
					wait = s->next_ms - now;
				continue;
			}
			xfer_start(ev, s);
		}
		pthread_mutex_unlock(&ev->lock);
		curl_multi_perform(ev->multi, &running);
		done = reap(ev, &save);
		if (save)
			save_subs(ev);
		if (!done)
			curl_multi_poll(ev->multi, NULL, 0, (int)wait, NULL);
		pthread_mutex_lock(&ev->lock);
	}
	pthread_mutex_unlock(&ev->lock);
	while (ev->xfers) {
		struct xfer *x = ev->xfers;

		ev->xfers = x->next;
		curl_multi_remove_handle(ev->multi, x->easy);
		xfer_free(x);
	}
	return NULL;
}

/* The delivery thread, started with the first subscription (a
 * simulated host with none costs no thread). */
static int start_thread(struct rf_events *ev)
{
	int r;

	if (ev->started)
		return 0;
	r = pthread_create(&ev->thread, NULL, deliver_main, ev);
	if (r)
		return -r;
	ev->started = true;
	return 0;
}

static void wake(struct rf_events *ev)
{
	if (ev->multi)
		curl_multi_wakeup(ev->multi);
}

/* ---- the engine ---- */

int rf_events_new(const char *dir, struct rf_events **ret)
{
	struct rf_events *ev = xcalloc(1, sizeof(*ev));
	pthread_condattr_t ca;
	json_t *doc = NULL;
	int r;

	pthread_once(&curl_once, curl_global_once);
	if (curl_init_code != CURLE_OK) {
		free(ev);
		return -EIO;
	}
	pthread_mutex_init(&ev->lock, NULL);
	pthread_mutex_init(&ev->save_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->sse, &ca);
	pthread_condattr_destroy(&ca);
	ev->subs_path = xasprintf("%s/%s", dir, RF_EVENTS_SUBS_FILE);
	ev->settings_path = xasprintf("%s/%s", dir, RF_EVENTS_SETTINGS_FILE);
	ev->set = (struct rf_events_settings){ .enabled = true,
		                               .retry_attempts = 3,
		                               .retry_interval_s = 30 };
	ev->next_sub_id = 1;
	/* EventIds grow across restarts: they start at the clock (ms). */
	ev->last_id = (uint64_t)now_ms();
	r = read_doc(ev->settings_path, &doc);
	if (r < 0)
		log_warn("redfish events: cannot read %s: %s", ev->settings_path, strerror(-r));
	load_settings(ev, doc);
	json_decref(doc);
	r = read_doc(ev->subs_path, &doc);
	if (r < 0)
		log_warn("redfish events: cannot read %s: %s", ev->subs_path, strerror(-r));
	load_subs(ev, doc);
	json_decref(doc);
	ev->multi = curl_multi_init();
	if (!ev->multi) {
		rf_events_free(ev);
		return -ENOMEM;
	}
	if (ev->nsubs) {
		r = start_thread(ev);
		if (r < 0) {
			rf_events_free(ev);
			return r;
		}
	}
	*ret = ev;
	return 0;
}

struct rf_events *rf_events_free(struct rf_events *ev)
{
	if (!ev)
		return NULL;
	pthread_mutex_lock(&ev->lock);
	ev->stop = true;
	pthread_cond_broadcast(&ev->sse);
	pthread_mutex_unlock(&ev->lock);
	if (ev->started) {
		wake(ev);
		pthread_join(ev->thread, NULL);
	}
	if (ev->multi)
		curl_multi_cleanup(ev->multi);
	for (size_t i = 0; i < ev->nsubs; i++)
		sub_free(ev->subs[i]);
	for (size_t i = 0; i < ev->ring_n; i++)
		free(ev->ring[(ev->ring_head + i) % RF_EVENTS_RING].text);
	pthread_cond_destroy(&ev->sse);
	pthread_mutex_destroy(&ev->save_lock);
	pthread_mutex_destroy(&ev->lock);
	free(ev->subs_path);
	free(ev->settings_path);
	free(ev);
	return NULL;
}

void rf_events_settings(struct rf_events *ev, struct rf_events_settings *ret)
{
	pthread_mutex_lock(&ev->lock);
	*ret = ev->set;
	pthread_mutex_unlock(&ev->lock);
}

int rf_events_set_settings(struct rf_events *ev, const struct rf_events_settings *s)
{
	json_t *doc =
	    json_pack("{s:b, s:i, s:i}", "ServiceEnabled", s->enabled, "DeliveryRetryAttempts",
	              s->retry_attempts, "DeliveryRetryIntervalSeconds", s->retry_interval_s);
	int r;

	pthread_mutex_lock(&ev->save_lock);
	r = write_doc(ev->settings_path, doc);
	if (r == 0) {
		pthread_mutex_lock(&ev->lock);
		ev->set = *s;
		pthread_cond_broadcast(&ev->sse); /* streams end when it is disabled */
		pthread_mutex_unlock(&ev->lock);
	}
	pthread_mutex_unlock(&ev->save_lock);
	json_decref(doc);
	wake(ev);
	return r;
}

/* Changes to the subscriptions: the file is written as it will be first
 * (under save_lock, so that no other write comes between), and only when
 * that worked is the change made in memory. */
int rf_events_sub_add(struct rf_events *ev, json_t *sub, char ret_id[ID_LEN])
{
	json_t *doc;
	char id[ID_LEN];
	int r;

	pthread_mutex_lock(&ev->save_lock);
	pthread_mutex_lock(&ev->lock);
	if (ev->nsubs == RF_EVENTS_SUBS_MAX) {
		pthread_mutex_unlock(&ev->lock);
		pthread_mutex_unlock(&ev->save_lock);
		json_decref(sub);
		return -ENOSPC;
	}
	snprintf(id, sizeof(id), "%llu", (unsigned long long)ev->next_sub_id);
	jset_str(sub, "Id", id);
	jset_str(sub, "State", "Enabled");
	ev->next_sub_id++;
	doc = subs_doc_locked(ev);
	pthread_mutex_unlock(&ev->lock);
	json_array_append(json_object_get(doc, "subscriptions"), sub);
	r = write_doc(ev->subs_path, doc);
	json_decref(doc);
	pthread_mutex_lock(&ev->lock);
	if (r == 0)
		r = start_thread(ev);
	if (r == 0 && ev->nsubs < RF_EVENTS_SUBS_MAX) {
		ev->subs[ev->nsubs++] = sub_new(ev, sub);
		sub = NULL;
		snprintf(ret_id, ID_LEN, "%s", id);
	} else if (r == 0) {
		r = -ENOSPC;
	}
	pthread_mutex_unlock(&ev->lock);
	pthread_mutex_unlock(&ev->save_lock);
	json_decref(sub);
	return r;
}

json_t *rf_events_sub_get(struct rf_events *ev, const char *id)
{
	json_t *copy = NULL;
	size_t i;

	pthread_mutex_lock(&ev->lock);
	i = sub_index(ev, id);
	if (i != SIZE_MAX) {
		copy = json_deep_copy(ev->subs[i]->cfg);
		jset_int(copy, "Queued", (int64_t)ev->subs[i]->n);
	}
	pthread_mutex_unlock(&ev->lock);
	return copy;
}

json_t *rf_events_sub_ids(struct rf_events *ev)
{
	json_t *ids = json_array();

	pthread_mutex_lock(&ev->lock);
	for (size_t i = 0; i < ev->nsubs; i++)
		json_array_append_new(ids, json_string(sub_id(ev->subs[i])));
	pthread_mutex_unlock(&ev->lock);
	return ids;
}

/* changes applied to cfg (null removes a member). */
static void apply_changes(json_t *cfg, const json_t *changes)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)changes, key, v)
	{
		if (json_is_null(v))
			json_object_del(cfg, key);
		else
			json_object_set_new(cfg, key, json_deep_copy(v));
	}
}

int rf_events_sub_update(struct rf_events *ev, const char *id, const json_t *changes,
                         int64_t max_age_ms)
{
	bool resume = strcmp(jstr(changes, "State") ?: "", "Enabled") == 0;
	json_t *doc, *v;
	size_t i;
	int r;

	pthread_mutex_lock(&ev->save_lock);
	pthread_mutex_lock(&ev->lock);
	if (sub_index(ev, id) == SIZE_MAX) {
		pthread_mutex_unlock(&ev->lock);
		pthread_mutex_unlock(&ev->save_lock);
		return -ENOENT;
	}
	doc = subs_doc_locked(ev);
	pthread_mutex_unlock(&ev->lock);
	json_array_foreach(json_object_get(doc, "subscriptions"), i, v)
	{
		if (strcmp(jstr(v, "Id") ?: "", id) == 0)
			apply_changes(v, changes);
	}
	r = write_doc(ev->subs_path, doc);
	json_decref(doc);
	pthread_mutex_lock(&ev->lock);
	i = sub_index(ev, id);
	if (r == 0 && i != SIZE_MAX) {
		struct sub *s = ev->subs[i];

		apply_changes(s->cfg, changes);
		if (resume) {
			int64_t now = now_ms();

			s->failures = 0;
			s->next_ms = 0;
			for (size_t k = s->n; max_age_ms >= 0 && k-- > 0;)
				if (!(s->busy && k == 0) && now - s->q[k].at_ms > max_age_ms)
					queue_drop(s, k);
		}
	} else if (r == 0) {
		r = -ENOENT;
	}
	pthread_mutex_unlock(&ev->lock);
	pthread_mutex_unlock(&ev->save_lock);
	wake(ev);
	return r;
}

int rf_events_sub_delete(struct rf_events *ev, const char *id)
{
	json_t *doc, *list, *v;
	size_t i;
	int r;

	pthread_mutex_lock(&ev->save_lock);
	pthread_mutex_lock(&ev->lock);
	if (sub_index(ev, id) == SIZE_MAX) {
		pthread_mutex_unlock(&ev->lock);
		pthread_mutex_unlock(&ev->save_lock);
		return -ENOENT;
	}
	doc = subs_doc_locked(ev);
	pthread_mutex_unlock(&ev->lock);
	list = json_object_get(doc, "subscriptions");
	json_array_foreach(list, i, v)
	{
		if (strcmp(jstr(v, "Id") ?: "", id) == 0) {
			json_array_remove(list, i);
			break;
		}
	}
	r = write_doc(ev->subs_path, doc);
	json_decref(doc);
	pthread_mutex_lock(&ev->lock);
	i = sub_index(ev, id);
	if (r == 0 && i != SIZE_MAX)
		sub_remove(ev, i);
	pthread_mutex_unlock(&ev->lock);
	pthread_mutex_unlock(&ev->save_lock);
	return r;
}

/* ---- publishing ---- */

static void ring_push(struct rf_events *ev, uint64_t id, char *text)
{
	struct ring_ev *slot;

	if (ev->ring_n == RF_EVENTS_RING) {
		slot = &ev->ring[ev->ring_head];
		free(slot->text);
		ev->ring_head = (ev->ring_head + 1) % RF_EVENTS_RING;
		ev->ring_n--;
	}
	slot = &ev->ring[(ev->ring_head + ev->ring_n) % RF_EVENTS_RING];
	slot->id = id;
	slot->text = text;
	ev->ring_n++;
}

uint64_t rf_events_publish(struct rf_events *ev, json_t *record, const char *resource_type)
{
	char idbuf[ID_LEN], ts[TIME_LEN];
	json_t *body;
	uint64_t id;

	if (!jstr(record, "EventTimestamp")) {
		time_format(now_ms(), ts);
		jset_str(record, "EventTimestamp", ts);
	}
	if (!jstr(record, "EventType"))
		jset_str(record, "EventType", "Other");
	jset_str(record, "MemberId", "0");
	pthread_mutex_lock(&ev->lock);
	if (!ev->set.enabled || ev->stop) {
		pthread_mutex_unlock(&ev->lock);
		json_decref(record);
		return 0;
	}
	id = ++ev->last_id;
	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)id);
	jset_str(record, "EventId", idbuf);
	body = rf_event_body(record, NULL);
	ring_push(ev, id, json_dumps(body, JSON_COMPACT) ?: xstrdup("{}"));
	json_decref(body);
	for (size_t i = 0; i < ev->nsubs; i++) {
		struct sub *s = ev->subs[i];

		if (strcmp(jstr(s->cfg, "EventFormatType") ?: "Event", "Event") == 0 &&
		    rf_events_match(s->cfg, record, resource_type))
			enqueue(ev, s, record, resource_type, false);
	}
	pthread_cond_broadcast(&ev->sse);
	pthread_mutex_unlock(&ev->lock);
	json_decref(record);
	wake(ev);
	return id;
}

static bool report_wanted(const json_t *sub, const char *definition)
{
	const json_t *list = json_object_get(sub, "MetricReportDefinitions");
	size_t i;
	json_t *v;

	if (strcmp(jstr(sub, "EventFormatType") ?: "Event", "MetricReport") != 0)
		return false;
	if (json_array_size(list) == 0)
		return true;
	json_array_foreach(list, i, v)
	{
		if (strcmp(jstr(v, "@odata.id") ?: "", definition) == 0)
			return true;
	}
	return false;
}

void rf_events_publish_report(struct rf_events *ev, const char *definition, const json_t *report)
{
	json_t *copy = NULL;
	bool any = false;

	pthread_mutex_lock(&ev->lock);
	for (size_t i = 0; i < ev->nsubs && ev->set.enabled && !ev->stop; i++) {
		if (!report_wanted(ev->subs[i]->cfg, definition))
			continue;
		if (!copy)
			copy = json_deep_copy(report);
		enqueue(ev, ev->subs[i], copy, NULL, true);
		any = true;
	}
	pthread_mutex_unlock(&ev->lock);
	json_decref(copy);
	if (any)
		wake(ev);
}

int rf_events_next(struct rf_events *ev, uint64_t after, int timeout_ms, uint64_t *ret_id,
                   char **ret_text)
{
	struct timespec ts;
	int r = 0;

	deadline_mono(&ts, timeout_ms);
	pthread_mutex_lock(&ev->lock);
	for (;;) {
		if (ev->stop || !ev->set.enabled) {
			r = -ESHUTDOWN;
			break;
		}
		for (size_t i = 0; i < ev->ring_n; i++) {
			const struct ring_ev *e = &ev->ring[(ev->ring_head + i) % RF_EVENTS_RING];

			if (e->id > after) {
				*ret_id = e->id;
				*ret_text = xstrdup(e->text);
				r = 1;
				break;
			}
		}
		if (r || pthread_cond_timedwait(&ev->sse, &ev->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&ev->lock);
	return r;
}

uint64_t rf_events_last_id(struct rf_events *ev)
{
	uint64_t id;

	pthread_mutex_lock(&ev->lock);
	id = ev->last_id;
	pthread_mutex_unlock(&ev->lock);
	return id;
}

bool rf_events_stream_open(struct rf_events *ev)
{
	bool ok;

	pthread_mutex_lock(&ev->lock);
	ok = ev->streams < RF_EVENTS_STREAMS_MAX;
	if (ok)
		ev->streams++;
	pthread_mutex_unlock(&ev->lock);
	return ok;
}

void rf_events_stream_close(struct rf_events *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->streams--;
	pthread_mutex_unlock(&ev->lock);
}
