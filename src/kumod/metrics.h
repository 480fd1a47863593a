/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: request counters kept in memory, resource gauges read
 * from the store at scrape time.
 */
#pragma once

#include <stdint.h>

#include "common/buf.h"
#include "common/http.h"

void metrics_on_done(const struct http_request *req, int status, int64_t usec);
/* Appends the text exposition format to b. */
void metrics_render(struct buf *b);
