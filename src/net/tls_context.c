/*
 * tls_context: certificates, protocol versions, ciphers, ALPN, sessions, on
 * OpenSSL 3. Everything cryptographic is OpenSSL's; this file only configures it.
 *
 * A "generation" is one loading of the certificate files: one SSL_CTX per
 * certificate/key pair, the first being the default. Every SSL_CTX of a
 * generation points back to it through ex_data, which is how the SNI and
 * ticket callbacks find their way. A reload builds a whole new generation
 * and swaps the pointer under `lock`; SSL objects hold references on their
 * SSL_CTX (OpenSSL counts them), and the generation record itself lives as
 * long as the default SSL_CTX (freed by its ex_data free callback), so a
 * connection made before a reload keeps working with the old certificates.
 *
 * Locking: ctx->lock guards ctx->gen (the swap, and taking a reference to
 * make an SSL); the ticket ring has its own lock (tls_ticket.c). Neither is
 * held while the other is taken.
 */
#include "tls_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct tls_gen {
    struct eddy_tls_context *ctx;
    int n;
    SSL_CTX *ssl_ctx[EDDY_TLS_MAX_CERTS];
    /* Copies of cert_names: an SSL made before a reconfigure may still ask for SNI. */
    char *names[EDDY_TLS_MAX_CERTS];
    int named;
    int renew_tickets; /* the options' renew_tickets, so a reconfigure changes it */
};

/* Options whose strings are owned (`owned`): reload reads them again long after
 * the caller's copies are gone. */
struct tls_conf {
    struct eddy_tls_options o;
    char *owned[3 * EDDY_TLS_MAX_CERTS + 3];
    int nowned;
};

struct eddy_tls_context {
    struct tls_conf *conf;        /* the application's thread only */
    unsigned char alpn_wire[256]; /* the ALPN protocol, length-prefixed */
    unsigned alpn_len;
    pthread_mutex_t lock;
    struct tls_gen *gen;
    unsigned generation;
    struct eddy__tls_tickets tickets;
};

static int gen_index = -1;
static pthread_once_t gen_once = PTHREAD_ONCE_INIT;

int eddy_tls_available(void)
{
    return 1;
}

/* ---- errors ---- */

/* err <- "what 'file': reason"; OpenSSL's queue is read for the reason when
 * sys is 0. Only names and OpenSSL's reason strings are printed, never bytes
 * read from a file, so a private key cannot leak into a log. */
static int fail(char *err, size_t errlen, int code, const char *what, const char *file, int sys)
{
    char reason[256];
    unsigned long e = ERR_peek_error(); /* the first: the later ones say where, not why */

    if (sys != 0) {
        snprintf(reason, sizeof reason, "%s", strerror(sys));
    } else if (e != 0) {
        const char *r = ERR_reason_error_string(e), *lib = ERR_lib_error_string(e);

        snprintf(reason, sizeof reason, "%s (OpenSSL: %s)", r ? r : "unknown error",
                 lib ? lib : "?");
    } else {
        snprintf(reason, sizeof reason, "failed");
    }
    ERR_clear_error();
    if (err != NULL && errlen > 0) {
        if (file != NULL)
            snprintf(err, errlen, "tls: %s '%s': %s", what, file, reason);
        else
            snprintf(err, errlen, "tls: %s: %s", what, reason);
    }
    return code;
}

/* A missing or unreadable file gets the system's reason, clearer than the
 * one OpenSSL would give after trying to parse nothing. */
static int check_readable(const char *file, const char *what, char *err, size_t errlen)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return fail(err, errlen, -errno, what, file, errno);
    close(fd);
    return 0;
}

/* ---- callbacks ---- */

static struct tls_gen *gen_of_ssl(SSL *ssl)
{
    return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), gen_index);
}

static void gen_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct tls_gen *g = ptr;
    int i;

    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    /* Only the default SSL_CTX owns the record (argl of its slot is unused:
     * the others' ex_data is cleared before they are freed). */
    if (g == NULL)
        return;
    for (i = 1; i < g->n; i++) {
        SSL_CTX_set_ex_data(g->ssl_ctx[i], gen_index, NULL);
        SSL_CTX_free(g->ssl_ctx[i]);
    }
    for (i = 0; i < EDDY_TLS_MAX_CERTS; i++)
        free(g->names[i]);
    free(g);
}

static void make_index(void)
{
    gen_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, gen_free_cb);
}

/* How well host matches a cert_names list: 0 not at all, the suffix length
 * for a "*.suffix", SIZE_MAX for an exact name. */
static size_t names_score(const char *list, const char *host)
{
    size_t hl = strlen(host), best = 0;

    for (const char *p = list; *p;) {
        size_t n, score = 0;

        p += strspn(p, " ");
        n = strcspn(p, " ");
        if (n == hl && strncasecmp(p, host, n) == 0)
            score = SIZE_MAX;
        else if (n > 2 && p[0] == '*' && p[1] == '.' && hl > n - 1 &&
                 strncasecmp(host + hl - (n - 1), p + 1, n - 1) == 0)
            score = n;
        if (score > best)
            best = score;
        p += n;
    }
    return best;
}

/* With cert_names: the pair naming host best; the default (0) for none. */
static int pick_by_names(const struct tls_gen *g, const char *host)
{
    size_t best = 0;
    int at = 0;

    for (int i = 0; i < g->n; i++) {
        size_t sc = g->names[i] ? names_score(g->names[i], host) : 0;

        if (sc > best)
            best = sc, at = i;
    }
    return at;
}

/* SNI: the pair whose cert_names match best, else the first certificate whose
 * names match the requested one; the default (first) for an unknown name or
 * none, as nginx does. */
static int sni_cb(SSL *ssl, int *alert, void *arg)
{
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    struct tls_gen *g = gen_of_ssl(ssl);
    int i;

    (void)alert, (void)arg;
    if (name == NULL || g == NULL)
        return SSL_TLSEXT_ERR_OK;
    if (g->named) {
        i = pick_by_names(g, name);
        if (i > 0 && SSL_set_SSL_CTX(ssl, g->ssl_ctx[i]) == NULL)
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        return SSL_TLSEXT_ERR_OK;
    }
    for (i = 0; i < g->n; i++) {
        X509 *x = SSL_CTX_get0_certificate(g->ssl_ctx[i]);

        if (x != NULL &&
            X509_check_host(x, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1) {
            if (i > 0 && SSL_set_SSL_CTX(ssl, g->ssl_ctx[i]) == NULL)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: our one protocol if the client offers it, else no ALPN answer (the
 * handshake goes on; refusing would break clients offering only h2). */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    struct tls_gen *g = gen_of_ssl(ssl);
    unsigned char *sel = NULL;

    (void)arg;
    if (g == NULL || g->ctx->alpn_len == 0)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_select_next_proto(&sel, outlen, g->ctx->alpn_wire, g->ctx->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* No passphrase prompt on the terminal for an encrypted key: it fails instead. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

/* ---- one SSL_CTX ---- */

static int configure(SSL_CTX *s, const struct eddy_tls_options *o, char *err, size_t errlen)
{
    static const unsigned char sid_ctx[] = "eddy";

    if (!SSL_CTX_set_min_proto_version(s, o->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(s, o->max_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION))
        return fail(err, errlen, -EINVAL, "protocol versions", NULL, 0);
    if (!SSL_CTX_set_cipher_list(s, o->ciphers ? o->ciphers : EDDY_TLS_CIPHERS_INTERMEDIATE))
        return fail(err, errlen, -EINVAL, "cipher list", o->ciphers, 0);
    if (!SSL_CTX_set_ciphersuites(s, o->ciphersuites ? o->ciphersuites : EDDY_TLS_CIPHERSUITES_13))
        return fail(err, errlen, -EINVAL, "TLS 1.3 cipher suites", o->ciphersuites, 0);
    if (!SSL_CTX_set1_groups_list(s, o->groups ? o->groups : "X25519:prime256v1:secp384r1"))
        return fail(err, errlen, -EINVAL, "groups", o->groups, 0);
    SSL_CTX_set_dh_auto(s, 1);
    /* Our order decides (AES-GCM first: hardware-accelerated on servers), except that a
     * client putting ChaCha20 first (a phone without AES hardware) gets it. Mozilla would
     * let the client pick among these all-strong ciphers; testssl.sh rates a server
     * without a cipher order HIGH, and this keeps the client's ChaCha20 choice anyway. */
    /* A FIN without close_notify reads as end of input (requests carry their own length);
     * kTLS is used when the kernel offers it (SSL_sendfile then sends file ranges). */
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
                               SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_ENABLE_KTLS |
                               (o->ticket_key_seconds == 0 ? SSL_OP_NO_TICKET : 0));
    /* No SSL_MODE_RELEASE_BUFFERS: freeing and remaking OpenSSL's record buffers around every
     * read and write was 6 % of an HTTPS keep-alive request's instructions; keeping them adds
     * ~10 KiB to an idle connection (the pages touched), which the per-thread staging buffer
     * of transport_tls.c more than pays for (docs/BENCHMARKS.md). */
    SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(s, 1); /* one read() for several records */
    SSL_CTX_set_default_passwd_cb(s, no_password);
    SSL_CTX_set_session_id_context(s, sid_ctx, sizeof sid_ctx - 1);
    SSL_CTX_set_session_cache_mode(s, o->session_cache_size > 0 ? SSL_SESS_CACHE_SERVER
                                                                : SSL_SESS_CACHE_OFF);
    if (o->session_cache_size > 0)
        SSL_CTX_sess_set_cache_size(s, o->session_cache_size);
    SSL_CTX_set_timeout(s, o->session_timeout > 0 ? o->session_timeout : 7200);
    SSL_CTX_set_num_tickets(s, o->ticket_key_seconds > 0 ? 1 : 0);
    if (o->ticket_key_seconds > 0)
        eddy__tls_tickets_attach(s);
    SSL_CTX_set_tlsext_servername_callback(s, sni_cb);
    SSL_CTX_set_alpn_select_cb(s, alpn_cb, NULL);
    return 0;
}

static int load_pair(SSL_CTX *s, const char *cert, const char *key, char *err, size_t errlen)
{
    int r;

    if ((r = check_readable(cert, "certificate", err, errlen)) < 0 ||
        (r = check_readable(key, "private key", err, errlen)) < 0)
        return r;
    if (SSL_CTX_use_certificate_chain_file(s, cert) != 1)
        return fail(err, errlen, -EINVAL, "certificate", cert, 0);
    if (SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1)
        return fail(err, errlen, -EINVAL, "private key", key, 0);
    /* A key of another type than the certificate's lands in another slot unchecked:
     * this check catches it (OpenSSL then only says "no certificate assigned"). */
    if (SSL_CTX_check_private_key(s) != 1) {
        ERR_clear_error();
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "tls: private key '%s' does not match certificate '%s'", key,
                     cert);
        return -EINVAL;
    }
    return 0;
}

static int new_ssl_ctx(SSL_CTX **out, const struct eddy_tls_options *o, int i, char *err,
                       size_t errlen)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    int r;

    if (s == NULL)
        return fail(err, errlen, -ENOMEM, "SSL_CTX_new", NULL, 0);
    r = configure(s, o, err, errlen);
    if (r == 0)
        r = load_pair(s, o->cert_files[i], o->key_files[i], err, errlen);
    if (r < 0) {
        SSL_CTX_free(s);
        return r;
    }
    *out = s;
    return 0;
}

/* ---- generations ---- */

static void gen_drop(struct tls_gen *g)
{
    /* Freeing the default SSL_CTX (once no SSL holds it) frees the others and g. */
    SSL_CTX_free(g->ssl_ctx[0]);
}

static void gen_abandon(struct tls_gen *g)
{
    for (int i = 0; i < EDDY_TLS_MAX_CERTS; i++) {
        if (i < g->n)
            SSL_CTX_free(g->ssl_ctx[i]);
        free(g->names[i]);
    }
    free(g);
}

static int gen_load(struct tls_gen **out, struct eddy_tls_context *ctx,
                    const struct eddy_tls_options *o, char *err, size_t errlen)
{
    struct tls_gen *g = calloc(1, sizeof *g);
    int i, r = 0;

    if (g == NULL)
        return fail(err, errlen, -ENOMEM, "out of memory", NULL, ENOMEM);
    g->ctx = ctx;
    g->renew_tickets = o->renew_tickets;
    for (i = 0; i < o->ncerts && r == 0; i++) {
        if (o->cert_names[i] != NULL && (g->names[i] = strdup(o->cert_names[i])) == NULL)
            r = fail(err, errlen, -ENOMEM, "out of memory", NULL, ENOMEM);
        g->named |= o->cert_names[i] != NULL;
        if (r == 0 && (r = new_ssl_ctx(&g->ssl_ctx[i], o, i, err, errlen)) == 0)
            g->n++;
    }
    if (r < 0) {
        gen_abandon(g);
        return r;
    }
    for (i = 0; i < g->n; i++)
        SSL_CTX_set_ex_data(g->ssl_ctx[i], gen_index, g);
    *out = g;
    return 0;
}

SSL *eddy__tls_ssl_new(struct eddy_tls_context *ctx, int fd)
{
    SSL *ssl;

    pthread_mutex_lock(&ctx->lock);
    ssl = SSL_new(ctx->gen->ssl_ctx[0]); /* takes its reference on the SSL_CTX */
    pthread_mutex_unlock(&ctx->lock);
    if (ssl == NULL)
        return NULL;
    if (fd >= 0 && SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

/* ---- the context ---- */

static void conf_free(struct tls_conf *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    free(c);
}

/* A copy of s owned by c (NULL stays NULL); sets *bad when out of memory. */
static const char *own(struct tls_conf *c, const char *s, int *bad)
{
    char *d;

    if (s == NULL)
        return NULL;
    if ((d = strdup(s)) == NULL)
        *bad = 1;
    c->owned[c->nowned++] = d;
    return d;
}

static struct tls_conf *conf_new(const struct eddy_tls_options *o)
{
    struct tls_conf *c = calloc(1, sizeof *c);
    int bad = 0;

    if (c == NULL)
        return NULL;
    c->o = *o;
    for (int i = 0; i < o->ncerts; i++) {
        c->o.cert_files[i] = own(c, o->cert_files[i], &bad);
        c->o.key_files[i] = own(c, o->key_files[i], &bad);
        c->o.cert_names[i] = own(c, o->cert_names[i], &bad);
    }
    c->o.ciphers = own(c, o->ciphers, &bad);
    c->o.ciphersuites = own(c, o->ciphersuites, &bad);
    c->o.groups = own(c, o->groups, &bad);
    c->o.alpn = NULL; /* read once, by set_alpn */
    if (bad) {
        conf_free(c);
        return NULL;
    }
    return c;
}

static int set_alpn(struct eddy_tls_context *ctx, const char *alpn)
{
    size_t n = alpn ? strlen(alpn) : 0;

    if (n == 0)
        return 0;
    if (n > 255)
        return -EINVAL;
    ctx->alpn_wire[0] = (unsigned char)n;
    memcpy(ctx->alpn_wire + 1, alpn, n);
    ctx->alpn_len = (unsigned)n + 1;
    return 0;
}

int eddy_tls_context_new(struct eddy_tls_context **out, const struct eddy_tls_options *o, char *err,
                         size_t errlen)
{
    struct eddy_tls_context *ctx;
    int r;

    *out = NULL;
    if (o->ncerts < 1 || o->ncerts > EDDY_TLS_MAX_CERTS)
        return fail(err, errlen, -EINVAL, "a TLS context needs 1 to 16 certificates", NULL, EINVAL);
    pthread_once(&gen_once, make_index);
    if (gen_index < 0 || (ctx = calloc(1, sizeof *ctx)) == NULL)
        return fail(err, errlen, -ENOMEM, "out of memory", NULL, ENOMEM);
    pthread_mutex_init(&ctx->lock, NULL);
    r = eddy__tls_tickets_init(&ctx->tickets, o->ticket_key_seconds);
    if (r == 0 && (ctx->conf = conf_new(o)) == NULL)
        r = fail(err, errlen, -ENOMEM, "out of memory", NULL, ENOMEM);
    if (r == 0 && (r = set_alpn(ctx, o->alpn)) < 0)
        fail(err, errlen, r, "ALPN protocol name too long", o->alpn, 0);
    if (r == 0)
        r = gen_load(&ctx->gen, ctx, &ctx->conf->o, err, errlen);
    if (r < 0) {
        eddy_tls_context_free(ctx);
        return r;
    }
    *out = ctx;
    return 0;
}

static void gen_swap(struct eddy_tls_context *ctx, struct tls_gen *g)
{
    struct tls_gen *old;

    pthread_mutex_lock(&ctx->lock);
    old = ctx->gen;
    ctx->gen = g;
    ctx->generation++;
    pthread_mutex_unlock(&ctx->lock);
    gen_drop(old);
}

int eddy_tls_context_reload(struct eddy_tls_context *ctx, char *err, size_t errlen)
{
    struct tls_gen *g;
    int r = gen_load(&g, ctx, &ctx->conf->o, err, errlen);

    if (r == 0)
        gen_swap(ctx, g);
    return r;
}

int eddy_tls_context_reconfigure(struct eddy_tls_context *ctx, const struct eddy_tls_options *o,
                                 char *err, size_t errlen)
{
    struct tls_conf *c;
    struct tls_gen *g;
    int r;

    if (o->ncerts < 1 || o->ncerts > EDDY_TLS_MAX_CERTS)
        return fail(err, errlen, -EINVAL, "a TLS context needs 1 to 16 certificates", NULL, EINVAL);
    if ((c = conf_new(o)) == NULL)
        return fail(err, errlen, -ENOMEM, "out of memory", NULL, ENOMEM);
    /* What the context was made with stays: the ticket ring and cache are set up once. */
    c->o.ticket_key_seconds = ctx->conf->o.ticket_key_seconds;
    c->o.session_cache_size = ctx->conf->o.session_cache_size;
    if ((r = gen_load(&g, ctx, &c->o, err, errlen)) < 0) {
        conf_free(c);
        return r;
    }
    gen_swap(ctx, g);
    conf_free(ctx->conf);
    ctx->conf = c;
    return 0;
}

void eddy_tls_context_free(struct eddy_tls_context *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->gen != NULL)
        gen_drop(ctx->gen);
    conf_free(ctx->conf);
    eddy__tls_tickets_destroy(&ctx->tickets);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

unsigned eddy_tls_context_generation(const struct eddy_tls_context *ctx)
{
    unsigned g;

    pthread_mutex_lock((pthread_mutex_t *)&ctx->lock);
    g = ctx->generation;
    pthread_mutex_unlock((pthread_mutex_t *)&ctx->lock);
    return g;
}

struct eddy__tls_tickets *eddy__tls_context_tickets(struct eddy_tls_context *ctx)
{
    return &ctx->tickets;
}

struct eddy__tls_tickets *eddy__tls_tickets_of(SSL *ssl, int *renew_tickets)
{
    struct tls_gen *g = gen_of_ssl(ssl);

    *renew_tickets = g != NULL && g->renew_tickets;
    return g != NULL ? &g->ctx->tickets : NULL;
}
