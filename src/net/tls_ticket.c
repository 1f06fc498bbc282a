/*
 * tls_ticket: the keys that encrypt session tickets, rotating. OpenSSL's own
 * ticket keys never change for the life of an SSL_CTX (and a reload would
 * make a new one, forgetting them); this ring lives in the tls_context, so
 * tickets survive a certificate reload, and rotates on a period so a stolen
 * key opens at most two periods of sessions. The cipher work is OpenSSL's
 * (AES-256-CBC and HMAC-SHA256, as its built-in tickets use); we only pick
 * which key.
 *
 * Locking: t->lock guards the ring; the callback runs in any loop thread.
 */
#include "tls_internal.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

static int64_t now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec + 1; /* never 0: born == 0 means no key */
}

static int new_key(struct eddy__tls_ticket_key *k, int64_t born)
{
    if (RAND_bytes(k->name, sizeof k->name) != 1 || RAND_bytes(k->aes, sizeof k->aes) != 1 ||
        RAND_bytes(k->hmac, sizeof k->hmac) != 1)
        return -EIO;
    k->born = born;
    return 0;
}

int eddy__tls_tickets_init(struct eddy__tls_tickets *t, unsigned period)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    t->period = period;
    return period > 0 ? new_key(&t->cur, now_s()) : 0;
}

void eddy__tls_tickets_destroy(struct eddy__tls_tickets *t)
{
    OPENSSL_cleanse(&t->cur, sizeof t->cur);
    OPENSSL_cleanse(&t->prev, sizeof t->prev);
    pthread_mutex_destroy(&t->lock);
}

/* Under t->lock: the current key moves to prev once it is a period old; one
 * period more and prev is gone too. */
static void rotate_locked(struct eddy__tls_tickets *t, int64_t now)
{
    if (now - t->cur.born < (int64_t)t->period)
        return;
    if (now - t->cur.born < 2 * (int64_t)t->period)
        t->prev = t->cur;
    else
        memset(&t->prev, 0, sizeof t->prev); /* idle for two periods: the old key is too old */
    if (new_key(&t->cur, now) < 0)
        t->cur = t->prev; /* no randomness: keep encrypting with the old key */
    else
        t->rotations++;
}

static int set_keys(const struct eddy__tls_ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                    EVP_MAC_CTX *hctx, int enc)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    if (!EVP_MAC_CTX_set_params(hctx, params))
        return -1;
    if (enc)
        return EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ? 1 : -1;
    return EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 ? 1 : -1;
}

/* OpenSSL's ticket callback: 1 ticket made / key found; 2 found under the
 * previous key, or a TLS 1.3 ticket when the options renew them (accept, and
 * issue a fresh ticket); 0 unknown key (full handshake); -1 error. */
static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    int renew13;
    struct eddy__tls_tickets *t = eddy__tls_tickets_of(ssl, &renew13);
    struct eddy__tls_ticket_key k;
    int r = 1;

    memset(&k, 0, sizeof k);
    if (t == NULL)
        return 0;
    if (enc && RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
        return -1;
    pthread_mutex_lock(&t->lock);
    rotate_locked(t, now_s());
    if (enc) {
        k = t->cur;
        memcpy(name, k.name, 16);
    } else if (t->cur.born != 0 && memcmp(name, t->cur.name, 16) == 0) {
        k = t->cur;
        /* TLS 1.3 clients use a ticket once (RFC 8446, C.4): without a fresh one after each
         * resumption their next connection would be a full handshake (OpenSSL's own keys
         * renew too), unless the options say the clients reuse theirs. TLS 1.2 clients
         * keep theirs until the key changes. */
        r = SSL_version(ssl) == TLS1_3_VERSION && renew13 ? 2 : 1;
    } else if (t->prev.born != 0 && memcmp(name, t->prev.name, 16) == 0) {
        k = t->prev;
        r = 2;
    } else {
        r = 0;
    }
    pthread_mutex_unlock(&t->lock);
    if (r != 0 && set_keys(&k, iv, cctx, hctx, enc) < 0)
        r = -1;
    OPENSSL_cleanse(&k, sizeof k);
    return r;
}

void eddy__tls_tickets_attach(SSL_CTX *ssl_ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ssl_ctx, ticket_cb);
}

void eddy__tls_tickets_age(struct eddy__tls_tickets *t, unsigned seconds)
{
    pthread_mutex_lock(&t->lock);
    t->cur.born -= seconds;
    if (t->prev.born != 0)
        t->prev.born -= seconds;
    pthread_mutex_unlock(&t->lock);
}

unsigned eddy__tls_tickets_rotations(struct eddy__tls_tickets *t)
{
    unsigned n;

    pthread_mutex_lock(&t->lock);
    n = t->rotations;
    pthread_mutex_unlock(&t->lock);
    return n;
}
