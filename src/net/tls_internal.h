/*
 * Internal to src/net: what the TLS transport takes from a tls_context, and
 * the ticket key ring (tls_ticket.c). Built only with TLS=1.
 */
#ifndef EDDY_TLS_INTERNAL_H
#define EDDY_TLS_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>

#include "eddy/tls.h"

/* Any thread: a server-side SSL for fd (accept state, non-blocking use) from
 * the context's current certificates; it keeps them alive (a reload does not
 * disturb it) until SSL_free. fd -1: no BIO yet (the caller sets one). NULL when
 * out of memory. */
SSL *eddy__tls_ssl_new(struct eddy_tls_context *ctx, int fd);

struct eddy_transport;
/* The SSL of a TLS transport instance; NULL for any other transport. */
SSL *eddy__tls_transport_ssl(const struct eddy_transport *t);

/* Session ticket keys: `cur` encrypts new tickets for one period, then moves
 * to `prev`, which still decrypts (and asks for a new ticket) for one more
 * period; older tickets are refused (a full handshake follows). */
struct eddy__tls_ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    int64_t born; /* CLOCK_MONOTONIC seconds; 0: no key */
};

struct eddy__tls_tickets {
    pthread_mutex_t lock;
    unsigned period; /* seconds */
    struct eddy__tls_ticket_key cur, prev;
    unsigned rotations;
};

int eddy__tls_tickets_init(struct eddy__tls_tickets *t, unsigned period);
void eddy__tls_tickets_destroy(struct eddy__tls_tickets *t);
/* Installs the ticket callback on ssl_ctx, with t found through the SSL_CTX's
 * ex_data (eddy__tls_tickets_of). */
void eddy__tls_tickets_attach(SSL_CTX *ssl_ctx);
/* The ring ssl's context uses, and (in *renew_tickets) its options' renew_tickets. */
struct eddy__tls_tickets *eddy__tls_tickets_of(SSL *ssl, int *renew_tickets);
/* For tests: makes the ring rotate as if `seconds` had passed. */
void eddy__tls_tickets_age(struct eddy__tls_tickets *t, unsigned seconds);
unsigned eddy__tls_tickets_rotations(struct eddy__tls_tickets *t);
struct eddy__tls_tickets *eddy__tls_context_tickets(struct eddy_tls_context *ctx);

#endif
