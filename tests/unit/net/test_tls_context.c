/*
 * eddy_tls_context: loading and its errors, SNI, versions, ALPN, tickets and
 * their rotation, the session cache, reload, renegotiation. Each handshake
 * runs in this thread between an OpenSSL client and a server SSL made by the
 * context, over a non-blocking socketpair.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/test.h"
#include "../../lib/tls_certs.h"
#include "eddy/tls.h"
#include "net/tls_internal.h"

static char p1[512], p2[512], p3[512], p4[512];
#define CERT(n) eddy_test_cert_path(p1, sizeof p1, n ".chain.pem")
#define KEY(n)  eddy_test_cert_path(p2, sizeof p2, n ".key")

struct pair {
    SSL_CTX *cctx;
    SSL *c, *s;
    int fd[2];
};

static SSL_CTX *client_ctx(int max_version)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    char ca[512];

    SSL_CTX_set_min_proto_version(c, TLS1_VERSION);
    SSL_CTX_set_security_level(c, 0);
    if (max_version)
        SSL_CTX_set_max_proto_version(c, max_version);
    SSL_CTX_load_verify_locations(c, eddy_test_cert_path(ca, sizeof ca, "ca.pem"), NULL);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    /* No client cache: it would mark a TLS 1.3 session used once as not resumable. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    return c;
}

static void pair_open(struct pair *p, struct eddy_tls_context *ctx, SSL_CTX *cctx, const char *sni)
{
    memset(p, 0, sizeof *p);
    socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd);
    fcntl(p->fd[0], F_SETFL, O_NONBLOCK);
    fcntl(p->fd[1], F_SETFL, O_NONBLOCK);
    p->cctx = cctx;
    p->c = SSL_new(cctx);
    SSL_set_fd(p->c, p->fd[0]);
    if (sni != NULL)
        SSL_set_tlsext_host_name(p->c, sni);
    SSL_set_connect_state(p->c);
    p->s = eddy__tls_ssl_new(ctx, p->fd[1]);
}

static void pair_close(struct pair *p)
{
    /* A session closed without close_notify is not resumable. */
    SSL_shutdown(p->c);
    SSL_shutdown(p->s);
    SSL_free(p->c);
    SSL_free(p->s);
    close(p->fd[0]);
    close(p->fd[1]);
    ERR_clear_error();
}

static int step(SSL *s)
{
    int r = SSL_do_handshake(s);

    if (r == 1)
        return 1;
    r = SSL_get_error(s, r);
    return r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* 1 when both sides finished, -1 when one failed. */
static int handshake(struct pair *p)
{
    for (int i = 0; i < 100; i++) {
        int a = step(p->c), b = step(p->s);

        if (a < 0 || b < 0)
            return -1;
        if (a == 1 && b == 1) {
            /* TLS 1.3 tickets arrive after the handshake: let the client read them. */
            char x;
            SSL_read(p->c, &x, 1);
            return 1;
        }
    }
    return -1;
}

/* The CN of the certificate the client got. */
static const char *peer_cn(struct pair *p, char *buf, int size)
{
    X509 *x = SSL_get1_peer_certificate(p->c);

    buf[0] = '\0';
    if (x != NULL) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, size);
        X509_free(x);
    }
    return buf;
}

static struct eddy_tls_context *ctx3(struct eddy_tls_options *o)
{
    struct eddy_tls_context *ctx = NULL;
    char err[512];
    int r;

    eddy_tls_options_init(o);
    eddy_tls_options_add_cert(o, eddy_test_cert_path(p1, sizeof p1, "localhost.chain.pem"),
                              eddy_test_cert_path(p2, sizeof p2, "localhost.key"));
    eddy_tls_options_add_cert(o, eddy_test_cert_path(p3, sizeof p3, "a.test.chain.pem"),
                              eddy_test_cert_path(p4, sizeof p4, "a.test.key"));
    r = eddy_tls_context_new(&ctx, o, err, sizeof err);
    if (r < 0)
        printf("# %s\n", err);
    return ctx;
}

static void test_loads_and_serves(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = ctx3(&o);
    struct pair p;
    char cn[64];

    ASSERT(ctx != NULL);
    pair_open(&p, ctx, client_ctx(0), "localhost");
    ASSERT_EQ(handshake(&p), 1);
    ASSERT_STR_EQ(SSL_get_version(p.s), "TLSv1.3");
    ASSERT_STR_EQ(peer_cn(&p, cn, sizeof cn), "localhost");
    ASSERT_EQ(SSL_get_verify_result(p.c), X509_V_OK);
    SSL_CTX_free(p.cctx);
    pair_close(&p);
    eddy_tls_context_free(ctx);
}

static void expect_error(const char *cert, const char *key, int code, const char *want1,
                         const char *want2)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = NULL;
    char err[512] = "";

    eddy_tls_options_init(&o);
    eddy_tls_options_add_cert(&o, cert, key);
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), code);
    ASSERT(ctx == NULL);
    printf("# %s\n", err);
    ASSERT(strstr(err, want1) != NULL);
    ASSERT(strstr(err, want2) != NULL);
    ASSERT(strstr(err, "PRIVATE KEY") == NULL);
    ASSERT(strstr(err, "BEGIN") == NULL);
}

static void test_missing_files(void)
{
    expect_error("/nonexistent/cert.pem", KEY("localhost"), -ENOENT, "/nonexistent/cert.pem",
                 "No such file");
    if (eddy_test_failed())
        return;
    expect_error(CERT("localhost"), "/nonexistent/key.pem", -ENOENT, "/nonexistent/key.pem",
                 "No such file");
}

static void test_garbage_cert(void)
{
    char junk[] = "/tmp/eddy-junk-XXXXXX";
    int fd = mkstemp(junk);

    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    expect_error(junk, KEY("localhost"), -EINVAL, junk, "OpenSSL");
    if (eddy_test_failed())
        return;
    /* A key file that holds a certificate: no key in it. */
    expect_error(CERT("localhost"), junk, -EINVAL, junk, "private key");
    unlink(junk);
}

static void test_mismatched_key(void)
{
    expect_error(CERT("localhost"), eddy_test_cert_path(p3, sizeof p3, "a.test.key"), -EINVAL,
                 "a.test.key", "mismatch");
}

static void test_no_cert(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = NULL;
    char err[256];

    eddy_tls_options_init(&o);
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), -EINVAL);
    ASSERT(strstr(err, "certificate") != NULL);
}

static void sni_case(struct eddy_tls_context *ctx, const char *sni, const char *want_cn)
{
    struct pair p;
    char cn[64];

    pair_open(&p, ctx, client_ctx(0), sni);
    ASSERT_EQ(handshake(&p), 1);
    ASSERT_STR_EQ(peer_cn(&p, cn, sizeof cn), want_cn);
    SSL_CTX_free(p.cctx);
    pair_close(&p);
}

static void test_sni_picks_certificate(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx;
    char err[512];

    eddy_tls_options_init(&o);
    eddy_tls_options_add_cert(&o, eddy_test_cert_path(p1, sizeof p1, "localhost.chain.pem"),
                              eddy_test_cert_path(p2, sizeof p2, "localhost.key"));
    eddy_tls_options_add_cert(&o, eddy_test_cert_path(p3, sizeof p3, "a.test.chain.pem"),
                              eddy_test_cert_path(p4, sizeof p4, "a.test.key"));
    static char p5[512], p6[512];
    eddy_tls_options_add_cert(&o, eddy_test_cert_path(p5, sizeof p5, "b.test.chain.pem"),
                              eddy_test_cert_path(p6, sizeof p6, "b.test.key"));
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), 0);
    sni_case(ctx, "a.test", "a.test");
    sni_case(ctx, "A.TEST", "a.test");
    sni_case(ctx, "b.test", "b.test");
    sni_case(ctx, "www.b.test", "b.test");    /* *.b.test */
    sni_case(ctx, "x.y.b.test", "localhost"); /* a wildcard covers one label */
    sni_case(ctx, "unknown.example", "localhost");
    sni_case(ctx, NULL, "localhost");
    eddy_tls_context_free(ctx);
}

/* cert_names, as eddy-httpd passes server_name: they alone decide, the
 * certificate's own names do not (a.test's certificate is not chosen for
 * "a.test" when another pair names it). */
static void test_sni_by_configured_names(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx;
    char err[512];
    static char p5[512], p6[512];

    eddy_tls_options_init(&o);
    eddy_tls_options_add_named_cert(&o, CERT("localhost"), KEY("localhost"), "localhost");
    eddy_tls_options_add_named_cert(&o, eddy_test_cert_path(p3, sizeof p3, "a.test.chain.pem"),
                                    eddy_test_cert_path(p4, sizeof p4, "a.test.key"),
                                    "  www.example  *.example ");
    eddy_tls_options_add_named_cert(&o, eddy_test_cert_path(p5, sizeof p5, "b.test.chain.pem"),
                                    eddy_test_cert_path(p6, sizeof p6, "b.test.key"),
                                    "a.test *.deep.example");
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), 0);
    sni_case(ctx, "WWW.example", "a.test");
    sni_case(ctx, "x.y.example", "a.test");    /* "*." covers any longer name */
    sni_case(ctx, "x.deep.example", "b.test"); /* the longer suffix wins */
    sni_case(ctx, "a.test", "b.test");         /* names, not the certificate */
    sni_case(ctx, "example", "localhost");     /* "*.example" needs a label */
    sni_case(ctx, "b.test", "localhost");      /* no name: the default */
    sni_case(ctx, NULL, "localhost");
    eddy_tls_context_free(ctx);
}

/* Reconfigure swaps pairs and names for new connections; a bad file changes nothing. */
static void test_reconfigure(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx;
    char err[512], cert[512], key[512];

    eddy_tls_options_init(&o);
    eddy_tls_options_add_named_cert(&o, CERT("localhost"), KEY("localhost"), "localhost");
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), 0);
    sni_case(ctx, "a.test", "localhost");
    eddy_tls_options_init(&o);
    snprintf(cert, sizeof cert, "%s", CERT("localhost"));
    snprintf(key, sizeof key, "%s", KEY("localhost"));
    eddy_tls_options_add_named_cert(&o, cert, key, "localhost");
    eddy_tls_options_add_named_cert(&o, CERT("a.test"), KEY("a.test"), "a.test");
    ASSERT_EQ(eddy_tls_context_reconfigure(ctx, &o, err, sizeof err), 0);
    memset(cert, 0, sizeof cert); /* the context keeps its own copies */
    sni_case(ctx, "a.test", "a.test");
    ASSERT_EQ(eddy_tls_context_generation(ctx), 1u);
    eddy_tls_options_init(&o);
    eddy_tls_options_add_cert(&o, "/nonexistent/cert.pem", KEY("localhost"));
    ASSERT_EQ(eddy_tls_context_reconfigure(ctx, &o, err, sizeof err), -ENOENT);
    ASSERT(strstr(err, "/nonexistent/cert.pem") != NULL);
    sni_case(ctx, "a.test", "a.test");
    ASSERT_EQ(eddy_tls_context_reload(ctx, err, sizeof err), 0); /* rereads the new files */
    sni_case(ctx, "a.test", "a.test");
    eddy_tls_context_free(ctx);
}

static void version_case(struct eddy_tls_context *ctx, int max, int ok, const char *want)
{
    struct pair p;

    pair_open(&p, ctx, client_ctx(max), "localhost");
    ASSERT_EQ(handshake(&p), ok ? 1 : -1);
    if (ok)
        ASSERT_STR_EQ(SSL_get_version(p.s), want);
    SSL_CTX_free(p.cctx);
    pair_close(&p);
}

static void test_versions(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = ctx3(&o);

    ASSERT(ctx != NULL);
    version_case(ctx, TLS1_3_VERSION, 1, "TLSv1.3");
    version_case(ctx, TLS1_2_VERSION, 1, "TLSv1.2");
    version_case(ctx, TLS1_1_VERSION, 0, NULL);
    version_case(ctx, TLS1_VERSION, 0, NULL);
    eddy_tls_context_free(ctx);
}

static void test_tls12_cipher_is_intermediate(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = ctx3(&o);
    SSL_CTX *c = client_ctx(TLS1_2_VERSION);
    struct pair p;

    ASSERT(ctx != NULL);
    /* A client offering only CBC suites finds nothing in common. */
    SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-SHA:AES128-SHA");
    pair_open(&p, ctx, c, "localhost");
    ASSERT_EQ(handshake(&p), -1);
    pair_close(&p);
    SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-GCM-SHA384");
    pair_open(&p, ctx, c, "localhost");
    ASSERT_EQ(handshake(&p), 1);
    ASSERT_STR_EQ(SSL_get_cipher_name(p.s), "ECDHE-ECDSA-AES256-GCM-SHA384");
    pair_close(&p);
    /* Our order decides between AES-GCM suites... */
    SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256");
    pair_open(&p, ctx, c, "localhost");
    ASSERT_EQ(handshake(&p), 1);
    ASSERT_STR_EQ(SSL_get_cipher_name(p.s), "ECDHE-ECDSA-AES128-GCM-SHA256");
    pair_close(&p);
    /* ...but a client that puts ChaCha20 first gets it. */
    SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256");
    pair_open(&p, ctx, c, "localhost");
    ASSERT_EQ(handshake(&p), 1);
    ASSERT_STR_EQ(SSL_get_cipher_name(p.s), "ECDHE-ECDSA-CHACHA20-POLY1305");
    pair_close(&p);
    SSL_CTX_free(c);
    eddy_tls_context_free(ctx);
}

static void alpn_case(struct eddy_tls_context *ctx, const unsigned char *offer, unsigned len,
                      const char *want)
{
    struct pair p;
    const unsigned char *sel = NULL;
    unsigned n = 0;

    pair_open(&p, ctx, client_ctx(0), "localhost");
    SSL_set_alpn_protos(p.c, offer, len);
    ASSERT_EQ(handshake(&p), 1);
    SSL_get0_alpn_selected(p.c, &sel, &n);
    if (want == NULL) {
        ASSERT_EQ(n, 0);
    } else {
        ASSERT_EQ(n, strlen(want));
        ASSERT_MEM_EQ(sel, want, n);
    }
    SSL_CTX_free(p.cctx);
    pair_close(&p);
}

static void test_alpn_http11_only(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = ctx3(&o);

    ASSERT(ctx != NULL);
    alpn_case(ctx, (const unsigned char *)"\x02h2\x08http/1.1", 12, "http/1.1");
    alpn_case(ctx, (const unsigned char *)"\x02h2", 3, NULL);
    eddy_tls_context_free(ctx);
}

/* The client's msg callback: counts the NewSessionTicket messages it reads. */
static void count_tickets(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                          void *arg)
{
    (void)version;
    (void)ssl;
    if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_NEWSESSION_TICKET)
        (*(int *)arg)++;
}

/* Handshake with the session of an earlier one; returns whether it was resumed.
 * tickets (may be NULL): the NewSessionTickets the client got. */
static int resume_counting(struct eddy_tls_context *ctx, SSL_CTX *c, SSL_SESSION **sess,
                           int *tickets)
{
    struct pair p;
    int reused;

    pair_open(&p, ctx, c, "localhost");
    if (*sess != NULL)
        SSL_set_session(p.c, *sess);
    if (tickets != NULL) {
        *tickets = 0;
        SSL_set_msg_callback(p.c, count_tickets);
        SSL_set_msg_callback_arg(p.c, tickets);
    }
    if (handshake(&p) != 1)
        return -1;
    for (int i = 0; i < 3; i++) { /* a ticket in a later record would go uncounted */
        char x;
        SSL_read(p.c, &x, 1);
    }
    reused = SSL_session_reused(p.c);
    SSL_SESSION_free(*sess);
    *sess = SSL_get1_session(p.c);
    pair_close(&p);
    return reused;
}

static int resume(struct eddy_tls_context *ctx, SSL_CTX *c, SSL_SESSION **sess)
{
    return resume_counting(ctx, c, sess, NULL);
}

static void test_ticket_resumption_and_rotation(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = ctx3(&o);
    struct eddy__tls_tickets *t;
    SSL_CTX *c = client_ctx(0);
    SSL_SESSION *sess = NULL;

    ASSERT(ctx != NULL);
    t = eddy__tls_context_tickets(ctx);
    ASSERT_EQ(resume(ctx, c, &sess), 0);
    ASSERT_EQ(resume(ctx, c, &sess), 1);
    /* One period later the key rotated: the old ticket still works (and is renewed). */
    SSL_SESSION *old = SSL_SESSION_dup(sess);
    eddy__tls_tickets_age(t, 3600);
    ASSERT_EQ(resume(ctx, c, &sess), 1);
    ASSERT_EQ(eddy__tls_tickets_rotations(t), 1);
    /* One more period: the first key is gone (a full handshake), the renewed ticket's stays. */
    eddy__tls_tickets_age(t, 3600);
    ASSERT_EQ(resume(ctx, c, &old), 0);
    ASSERT_EQ(resume(ctx, c, &sess), 1);
    ASSERT_EQ(eddy__tls_tickets_rotations(t), 2);
    SSL_SESSION_free(old);
    SSL_SESSION_free(sess);
    SSL_CTX_free(c);
    eddy_tls_context_free(ctx);
}

/* A TLS 1.3 resumption brings a fresh ticket (clients use each one once), so
 * a chain of resumptions never falls back to a full handshake. */
static void test_tls13_resumption_renews_ticket(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = ctx3(&o);
    SSL_CTX *c = client_ctx(0);
    SSL_SESSION *sess = NULL;
    unsigned char before[4096];
    const unsigned char *tick;
    size_t len, blen;

    ASSERT(ctx != NULL);
    ASSERT_EQ(resume(ctx, c, &sess), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT(sess != NULL);
        SSL_SESSION_get0_ticket(sess, &tick, &blen);
        ASSERT(blen > 0 && blen <= sizeof before);
        memcpy(before, tick, blen);
        ASSERT_EQ(resume(ctx, c, &sess), 1);
        SSL_SESSION_get0_ticket(sess, &tick, &len);
        ASSERT(len > 0);
        ASSERT(len != blen || memcmp(tick, before, len) != 0);
    }
    SSL_SESSION_free(sess);
    SSL_CTX_free(c);
    eddy_tls_context_free(ctx);
}

/* A full handshake and two resumptions in a chain with client c: one ticket after the full
 * one, on_resume after each resumption. */
static void ticket_chain(struct eddy_tls_context *ctx, SSL_CTX *c, int version, int on_resume)
{
    SSL_SESSION *sess = NULL;
    int n = -1;

    ASSERT_EQ(resume_counting(ctx, c, &sess, &n), 0);
    ASSERT_EQ(SSL_SESSION_get_protocol_version(sess), version);
    ASSERT_EQ(n, 1);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(resume_counting(ctx, c, &sess, &n), 1);
        ASSERT_EQ(n, on_resume);
    }
    SSL_SESSION_free(sess);
}

/* One ticket after a full handshake (OpenSSL and nginx send 2; a client uses one per
 * connection and gets the next at its resumption), one after each TLS 1.3 resumption
 * (clients use a ticket once), none after a TLS 1.2 resumption under the current key (TLS
 * 1.2 clients keep theirs). Each ticket costs the server an encryption and the client a
 * record to read and a session to store, so no more than that. */
static void test_tickets_per_handshake(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = ctx3(&o);
    SSL_CTX *c13 = client_ctx(0), *c12 = client_ctx(TLS1_2_VERSION);

    ASSERT(ctx != NULL);
    ticket_chain(ctx, c13, TLS1_3_VERSION, 1);
    ticket_chain(ctx, c12, TLS1_2_VERSION, 0);
    SSL_CTX_free(c12);
    SSL_CTX_free(c13);
    eddy_tls_context_free(ctx);
}

/* renew_tickets 0: no ticket after a TLS 1.3 resumption, and the client's one ticket
 * resumes again and again; a reconfigure turns the renewal back on. */
static void test_tls13_without_renewal(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx;
    SSL_CTX *c = client_ctx(0);
    char err[512];

    eddy_tls_options_init(&o);
    ASSERT_EQ(o.renew_tickets, 1);
    o.renew_tickets = 0;
    eddy_tls_options_add_cert(&o, CERT("localhost"), KEY("localhost"));
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), 0);
    ticket_chain(ctx, c, TLS1_3_VERSION, 0);
    o.renew_tickets = 1;
    ASSERT_EQ(eddy_tls_context_reconfigure(ctx, &o, err, sizeof err), 0);
    ticket_chain(ctx, c, TLS1_3_VERSION, 1);
    SSL_CTX_free(c);
    eddy_tls_context_free(ctx);
}

static void test_session_cache_tls12_without_tickets(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx;
    SSL_CTX *c = client_ctx(TLS1_2_VERSION);
    SSL_SESSION *sess = NULL;
    char err[512];

    eddy_tls_options_init(&o);
    o.ticket_key_seconds = 0;
    eddy_tls_options_add_cert(&o, CERT("localhost"), KEY("localhost"));
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), 0);
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    ASSERT_EQ(resume(ctx, c, &sess), 0);
    ASSERT_EQ(resume(ctx, c, &sess), 1);
    SSL_SESSION_free(sess);
    SSL_CTX_free(c);
    eddy_tls_context_free(ctx);
}

static int copy_file(const char *from, const char *to)
{
    char cmd[1200];

    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd);
}

static void test_reload_keeps_open_connections(void)
{
    char dir[] = "/tmp/eddy-reload-XXXXXX", cert[600], key[600], err[512], cn[64];
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx;
    struct pair before, after;

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    ASSERT_EQ(copy_file(CERT("localhost"), cert), 0);
    ASSERT_EQ(copy_file(KEY("localhost"), key), 0);
    eddy_tls_options_init(&o);
    eddy_tls_options_add_cert(&o, cert, key);
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), 0);
    /* A handshake started before the reload finishes with the old certificate. */
    pair_open(&before, ctx, client_ctx(0), NULL);
    ASSERT_EQ(step(before.c), 0);
    ASSERT_EQ(copy_file(CERT("a.test"), cert), 0);
    ASSERT_EQ(copy_file(KEY("a.test"), key), 0);
    ASSERT_EQ(eddy_tls_context_reload(ctx, err, sizeof err), 0);
    ASSERT_EQ(eddy_tls_context_generation(ctx), 1);
    ASSERT_EQ(handshake(&before), 1);
    ASSERT_STR_EQ(peer_cn(&before, cn, sizeof cn), "localhost");
    pair_open(&after, ctx, client_ctx(0), NULL);
    ASSERT_EQ(handshake(&after), 1);
    ASSERT_STR_EQ(peer_cn(&after, cn, sizeof cn), "a.test");
    /* A reload that fails keeps what was loaded, and says why. */
    ASSERT_EQ(copy_file(KEY("localhost"), key), 0);
    ASSERT_EQ(eddy_tls_context_reload(ctx, err, sizeof err), -EINVAL);
    ASSERT(strstr(err, key) != NULL);
    ASSERT_EQ(eddy_tls_context_generation(ctx), 1);
    SSL_CTX_free(before.cctx);
    SSL_CTX_free(after.cctx);
    pair_close(&before);
    pair_close(&after);
    eddy_tls_context_free(ctx);
    snprintf(err, sizeof err, "rm -rf '%s'", dir);
    ASSERT_EQ(system(err), 0);
}

static void test_renegotiation_refused(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = ctx3(&o);
    struct pair p;
    char buf[16];
    int done = 0;

    ASSERT(ctx != NULL);
    pair_open(&p, ctx, client_ctx(TLS1_2_VERSION), "localhost");
    ASSERT_EQ(handshake(&p), 1);
    ASSERT_EQ(SSL_renegotiate(p.c), 1);
    for (int i = 0; i < 20 && !done; i++) {
        int a = SSL_do_handshake(p.c);
        SSL_read(p.s, buf, sizeof buf);
        if (a == 1 && !SSL_renegotiate_pending(p.c))
            done = 1;
        if (a <= 0 && SSL_get_error(p.c, a) == SSL_ERROR_SSL)
            break;
    }
    ASSERT_EQ(done, 0);
    ASSERT_EQ(SSL_num_renegotiations(p.s), 0);
    SSL_CTX_free(p.cctx);
    pair_close(&p);
    eddy_tls_context_free(ctx);
}

int main(void)
{
    if (eddy_test_certs() == NULL) {
        printf("not ok - gen_certs.sh failed\n");
        return 1;
    }
    RUN(test_loads_and_serves);
    RUN(test_missing_files);
    RUN(test_garbage_cert);
    RUN(test_mismatched_key);
    RUN(test_no_cert);
    RUN(test_sni_picks_certificate);
    RUN(test_sni_by_configured_names);
    RUN(test_reconfigure);
    RUN(test_versions);
    RUN(test_tls12_cipher_is_intermediate);
    RUN(test_alpn_http11_only);
    RUN(test_ticket_resumption_and_rotation);
    RUN(test_tls13_resumption_renews_ticket);
    RUN(test_tickets_per_handshake);
    RUN(test_tls13_without_renewal);
    RUN(test_session_cache_tls12_without_tickets);
    RUN(test_reload_keeps_open_connections);
    RUN(test_renegotiation_refused);
    return eddy_test_done();
}
