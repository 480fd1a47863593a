// SPDX-License-Identifier: MIT
/*
 * A service's TLS certificate and key in a directory: reused when they
 * are there and valid, else generated with GnuTLS's X.509 API (an ECDSA
 * P-256 key, a self-signed version 3 certificate for TLS servers, SHA-256
 * signature). Clients trust it by its file (curl --cacert, requests'
 * verify=) or its fingerprint. Not here: serving TLS (libmicrohttpd does,
 * from the PEM texts).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/tls_cert.h"
#include "common/util.h"

#define PEM_MAX (64 * 1024)
#define VALID_DAYS 3650
#define SAN_MAX 64

/* Is the PEM certificate parseable and valid from now on for a day at
 * least, and the key parseable? */
static bool pair_usable(const char *cert_pem, const char *key_pem)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	gnutls_datum_t d;
	bool ok = false;
	time_t exp;

	if (gnutls_x509_crt_init(&crt) < 0)
		return false;
	d.data = (unsigned char *)cert_pem;
	d.size = (unsigned)strlen(cert_pem);
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0)
		goto out;
	exp = gnutls_x509_crt_get_expiration_time(crt);
	if (exp != (time_t)-1 && exp < time(NULL) + 86400)
		goto out;
	if (gnutls_x509_privkey_init(&key) < 0)
		goto out;
	d.data = (unsigned char *)key_pem;
	d.size = (unsigned)strlen(key_pem);
	ok = gnutls_x509_privkey_import(key, &d, GNUTLS_X509_FMT_PEM) >= 0;
out:
	if (key)
		gnutls_x509_privkey_deinit(key);
	gnutls_x509_crt_deinit(crt);
	return ok;
}

static int add_dns(gnutls_x509_crt_t crt, const char *name)
{
	return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
	                                            (unsigned)strlen(name), GNUTLS_FSAN_APPEND);
}

static int add_ip(gnutls_x509_crt_t crt, const void *addr, unsigned len)
{
	return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, len,
	                                            GNUTLS_FSAN_APPEND);
}

/* Subject alternative names: hostname, localhost, the loopback addresses
 * and the addresses of the host's interfaces (IPv6 link-local ones left
 * out: they need a zone). At most SAN_MAX addresses. */
static int add_names(gnutls_x509_crt_t crt, const char *hostname)
{
	static const unsigned char lo6[16] = { [15] = 1 };
	const unsigned char lo4[4] = { 127, 0, 0, 1 };
	struct ifaddrs *ifa = NULL;
	int n = 0, r;

	r = add_dns(crt, hostname);
	if (r >= 0 && strcmp(hostname, "localhost") != 0)
		r = add_dns(crt, "localhost");
	if (r >= 0)
		r = add_ip(crt, lo4, sizeof(lo4));
	if (r >= 0)
		r = add_ip(crt, lo6, sizeof(lo6));
	if (r < 0)
		return r;
	if (getifaddrs(&ifa) < 0)
		return 0; /* the names above are enough */
	for (struct ifaddrs *i = ifa; i && n < SAN_MAX && r >= 0; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct in_addr *a =
			    &((const struct sockaddr_in *)i->ifa_addr)->sin_addr;

			if (memcmp(a, lo4, 4) == 0)
				continue;
			r = add_ip(crt, a, 4);
			n++;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a =
			    &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_LOOPBACK(a))
				continue;
			r = add_ip(crt, a, 16);
			n++;
		}
	}
	freeifaddrs(ifa);
	return r;
}

/* Sets the certificate's fields and signs it with key. GnuTLS codes. */
static int fill_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *hostname)
{
	unsigned char serial[16], keyid[64];
	size_t keyid_len = sizeof(keyid);
	time_t now = time(NULL);
	int r;

	if (getrandom(serial, sizeof(serial), 0) != (ssize_t)sizeof(serial))
		return GNUTLS_E_RANDOM_FAILED;
	serial[0] &= 0x7f; /* a positive number */
	serial[0] |= 0x01; /* without a leading zero byte */
	if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (r = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
	    (r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)VALID_DAYS * 86400)) < 0 ||
	    (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, hostname,
	                                       (unsigned)strlen(hostname))) < 0 ||
	    (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "Kumo",
	                                       4)) < 0 ||
	    (r = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (r = add_names(crt, hostname)) < 0)
		return r;
	r = gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_len);
	if (r >= 0)
		r = gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len);
	if (r < 0)
		return r;
	return gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
}

static char *datum_str(gnutls_datum_t *d)
{
	char *s = xmalloc(d->size + 1);

	memcpy(s, d->data, d->size);
	s[d->size] = '\0';
	gnutls_free(d->data);
	d->data = NULL;
	return s;
}

/* A new self-signed pair as PEM texts. 0 or -EIO. */
static int generate(const char *hostname, char **ret_cert, char **ret_key)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { NULL, 0 };
	char *cert_pem = NULL;
	int r;

	r = gnutls_x509_privkey_init(&key);
	if (r < 0)
		return -EIO;
	r = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	                                 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (r >= 0)
		r = gnutls_x509_crt_init(&crt);
	if (r >= 0)
		r = fill_cert(crt, key, hostname);
	if (r >= 0)
		r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
	if (r >= 0) {
		cert_pem = datum_str(&d);
		r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
		                                      GNUTLS_PKCS_PLAIN, &d);
	}
	if (r >= 0) {
		*ret_cert = cert_pem;
		*ret_key = datum_str(&d);
		cert_pem = NULL;
	}
	free(cert_pem);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return r < 0 ? -EIO : 0;
}

int tls_cert_load_or_create(const char *dir, const char *hostname, char **ret_cert_pem,
                            char **ret_key_pem)
{
	char *cpath = xasprintf("%s/%s", dir, TLS_CERT_FILE);
	char *kpath = xasprintf("%s/%s", dir, TLS_KEY_FILE);
	char *cert = NULL, *key = NULL;
	int r;

	if (str_empty(hostname))
		hostname = "localhost";
	if (file_read(cpath, PEM_MAX, &cert, NULL) == 0 &&
	    file_read(kpath, PEM_MAX, &key, NULL) == 0 && pair_usable(cert, key))
		goto done;
	free(cert);
	free(key);
	cert = key = NULL;
	r = mkdir_p(dir, 0700);
	if (r == 0)
		r = generate(hostname, &cert, &key);
	/* The key first: a certificate without its key is never left. */
	if (r == 0)
		r = file_write_atomic(kpath, key, strlen(key), 0600);
	if (r == 0)
		r = file_write_atomic(cpath, cert, strlen(cert), 0644);
	if (r < 0) {
		free(cert);
		free(key);
		goto out;
	}
done:
	*ret_cert_pem = cert;
	*ret_key_pem = key;
	r = 0;
out:
	free(cpath);
	free(kpath);
	return r;
}

int tls_cert_fingerprint(const char *cert_pem, char out[TLS_FINGERPRINT_LEN])
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d;
	unsigned char fp[32];
	size_t n = sizeof(fp);
	int r;

	if (!cert_pem || gnutls_x509_crt_init(&crt) < 0)
		return -EINVAL;
	d.data = (unsigned char *)cert_pem;
	d.size = (unsigned)strlen(cert_pem);
	r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
	if (r >= 0)
		r = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &n);
	gnutls_x509_crt_deinit(crt);
	if (r < 0 || n != sizeof(fp))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		snprintf(out + 3 * i, 4, "%02X%s", fp[i], i + 1 < n ? ":" : "");
	return 0;
}
