/*
 * tls: what a TLS listener serves, on OpenSSL 3. One eddy_tls_context holds
 * one or more certificate/key pairs (PEM; a certificate file may carry its
 * chain after the leaf), chosen per connection by SNI against each
 * certificate's names (subjectAltName DNS names, else the subject CN; "*.x"
 * matches one label); the first pair is the default for a name that matches
 * none and for clients sending no SNI.
 *
 * What every context does, as an operator expects of a public HTTPS server:
 * TLS 1.2 and 1.3 only; Mozilla's "intermediate" ciphers unless told
 * otherwise; renegotiation refused; ALPN answering only the protocol given
 * (http/1.1 by default; a client offering none of it gets no ALPN answer);
 * session resumption by tickets whose keys rotate (each key encrypts for one
 * period and is still accepted for the next) and by a server-side session
 * cache. Encrypted private keys are not supported (no passphrase prompt).
 *
 * Threads: a context is shared by every loop of every server using it; new,
 * reload and free run in one thread (the application's), the connections'
 * use of it in their own threads. Reload swaps the certificates for new
 * connections; connections already open (and handshakes under way) keep
 * what they started with, so a reload drops nothing.
 *
 * Built with TLS=0, eddy_tls_available() is 0 and eddy_tls_context_new
 * fails with -ENOTSUP and says so in err.
 */
#ifndef EDDY_TLS_H
#define EDDY_TLS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_tls_context;
struct eddy_tcp_connection;

/* Mozilla's "intermediate" configuration (version 5.7): TLS 1.2 suites; TLS 1.3's three. */
#define EDDY_TLS_CIPHERS_INTERMEDIATE                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                                   \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define EDDY_TLS_CIPHERSUITES_13                                                                   \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

#define EDDY_TLS_MAX_CERTS 16

struct eddy_tls_options {
    /* Pairs: cert_files[i] (PEM, leaf first, then its chain) with key_files[i]. */
    const char *cert_files[EDDY_TLS_MAX_CERTS];
    const char *key_files[EDDY_TLS_MAX_CERTS];
    int ncerts;
    const char *ciphers;         /* TLS 1.2 cipher list; NULL: EDDY_TLS_CIPHERS_INTERMEDIATE */
    const char *ciphersuites;    /* TLS 1.3; NULL: EDDY_TLS_CIPHERSUITES_13 */
    const char *groups;          /* key exchange groups; NULL: X25519:prime256v1:secp384r1 */
    int min_version;             /* 12 or 13; 0: 12 */
    int max_version;             /* 12 or 13; 0: 13 */
    const char *alpn;            /* the one protocol ALPN answers; NULL: none. Default "http/1.1" */
    unsigned ticket_key_seconds; /* how long a ticket key encrypts; 0: no tickets. Default 3600 */
    long session_cache_size;     /* sessions kept per certificate set; 0: no cache. Default 20480 */
    long session_timeout;        /* seconds a session may be resumed; default 7200 */
    /* Host names SNI picks pair i for, space-separated ("a.example *.b.example": exact,
     * or "*." and a suffix matching any longer name, an exact one winning, then the
     * longest suffix); NULL for pairs chosen by their certificate's names. When a pair
     * has names, SNI looks only at these (as nginx does with server_name) and a name
     * matching none gets the default pair. */
    const char *cert_names[EDDY_TLS_MAX_CERTS];
    /* TLS 1.3: 1 (default) sends a fresh ticket after each resumption, so a client that
     * uses a ticket once (RFC 8446 C.4; browsers do) resumes its next connection too, as
     * OpenSSL and nginx do; 0 sends none (as h2o), saving each resuming client a ticket
     * to read and store, for clients that offer the same ticket again. */
    int renew_tickets;
};

/* The defaults above, no certificate. */
void eddy_tls_options_init(struct eddy_tls_options *o);
/* Adds a certificate/key pair (the first added is the default). -ENOSPC past EDDY_TLS_MAX_CERTS. */
int eddy_tls_options_add_cert(struct eddy_tls_options *o, const char *cert_file,
                              const char *key_file);
/* The same with the names SNI picks the pair for (see cert_names; may be NULL). */
int eddy_tls_options_add_named_cert(struct eddy_tls_options *o, const char *cert_file,
                                    const char *key_file, const char *names);

/* 1 if this build has TLS (OpenSSL), 0 if built with TLS=0. */
int eddy_tls_available(void);

/* Loads every pair. The file names are copied (reload reads them again). On
 * failure (-ENOENT, -EACCES, -EINVAL, -ENOTSUP, -ENOMEM) err gets one line naming
 * the file and the reason (OpenSSL's, for a bad file or a key that does not
 * match its certificate); nothing from a key file is ever put there. */
int eddy_tls_context_new(struct eddy_tls_context **out, const struct eddy_tls_options *o, char *err,
                         size_t errlen);
/* Reads the certificate and key files again; new connections use them, open
 * ones are untouched. On failure the context keeps serving what it had, and
 * err says why (as for new). Ticket keys survive a reload; the session cache
 * starts empty. */
int eddy_tls_context_reload(struct eddy_tls_context *ctx, char *err, size_t errlen);
/* A reload with other options: other pairs, names, versions, ciphers (the
 * strings are copied). As reload: new connections get them, open ones keep
 * theirs, and on failure nothing changes. The ALPN protocol, the ticket key
 * period and the session cache size stay those given to new. */
int eddy_tls_context_reconfigure(struct eddy_tls_context *ctx, const struct eddy_tls_options *o,
                                 char *err, size_t errlen);
/* After every server using it was freed. NULL is fine. */
void eddy_tls_context_free(struct eddy_tls_context *ctx);
/* Reloads done so far (0 after new). */
unsigned eddy_tls_context_generation(const struct eddy_tls_context *ctx);

/* The TLS transport (eddy/transport.h): open()'s arg is the eddy_tls_context.
 * tcp_server listeners take it with a context; see tcp_server.h. */
struct eddy_transport_ops;
extern const struct eddy_transport_ops eddy_transport_tls;

/* Bytes of file ranges sent as records read into user space (pread, then
 * SSL_write), and with SSL_sendfile over kernel TLS (only when the kernel
 * offers kTLS for the connection, detected per connection at run time). */
void eddy_tls_file_stats(unsigned long long *record_bytes, unsigned long long *ktls_bytes);

/* Of an established TLS connection (owner thread): the protocol ("TLSv1.3"),
 * the cipher, the SNI name (NULL if none), the ALPN protocol (NULL if none),
 * whether the session was resumed. NULL / 0 for a connection without TLS. */
const char *eddy_tls_connection_version(const struct eddy_tcp_connection *c);
const char *eddy_tls_connection_cipher(const struct eddy_tcp_connection *c);
const char *eddy_tls_connection_server_name(const struct eddy_tcp_connection *c);
int eddy_tls_connection_resumed(const struct eddy_tcp_connection *c);

#ifdef __cplusplus
}
#endif

#endif
