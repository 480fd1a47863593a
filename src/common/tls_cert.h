/* SPDX-License-Identifier: MIT */
/*
 * A service's own TLS certificate: loaded from a directory, or generated
 * there at first start (self-signed, ECDSA P-256, with GnuTLS) for a
 * service that has no certificate from a CA. An operator may put a
 * certificate and key of their own in the same files.
 */
#pragma once

#include <stddef.h>

#define TLS_CERT_FILE "tls-cert.pem"
#define TLS_KEY_FILE "tls-key.pem" /* mode 0600 */
#define TLS_FINGERPRINT_LEN 96     /* "AB:CD:..." of a SHA-256, with the NUL */

/* Reads DIR/tls-cert.pem and DIR/tls-key.pem; when either is missing,
 * unreadable or the certificate has expired, makes a new self-signed pair
 * valid for ten years, with the common name hostname and subject
 * alternative names hostname, "localhost" and every address of this host's
 * interfaces (and 127.0.0.1, ::1), and writes them (key 0600). The PEM
 * texts are malloc'd. 0 or a negative errno (-EIO for a GnuTLS failure). */
int tls_cert_load_or_create(const char *dir, const char *hostname, char **ret_cert_pem,
                            char **ret_key_pem);

/* The SHA-256 fingerprint of a PEM certificate, "AB:CD:...". 0 or -EINVAL. */
int tls_cert_fingerprint(const char *cert_pem, char out[TLS_FINGERPRINT_LEN]);
