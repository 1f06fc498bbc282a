/*
 * The TLS part of the config: a server's certificate (tls_certificate, nginx's
 * ssl_certificate), the main-level ssl_* settings, and for each TLS listening
 * address the certificate set its context is built from. As in nginx, SNI picks a
 * certificate by the server_names of the servers on the address (the default
 * server's when none matches), and the Host header then picks the server as on a
 * plain address; every server listening with TLS needs its certificate.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "eddy/tls.h"

void httpd_conf_tls_init(struct httpd_tls_globals *t)
{
    memset(t, 0, sizeof *t);
    t->session_tickets = t->session_timeout_ms = t->handshake_timeout_ms = HTTPD_UNSET;
    t->ticket_renewal = HTTPD_UNSET;
}

static int set_file(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, int key)
{
    if (x->level != HTTPD_C_SRV)
        return httpd_conf_fail(x, d, "\"%s\" is not allowed here (server level only)", d->args[0]);
    if (d->nargs != 2)
        return httpd_conf_fail(x, d, "invalid number of arguments in \"%s\"", d->args[0]);
    const char *v = httpd_conf_strdup(x->conf, d->args[1]);
    if (v == NULL)
        return -1;
    if (key) {
        x->srv->tls_certificate_key = v;
    } else {
        x->srv->tls_certificate = v;
        x->srv->tls_file = d->file, x->srv->tls_line = d->line;
    }
    return 0;
}

/* ssl_protocols: TLSv1.2 and TLSv1.3 are served; older names are accepted and left
 * out (they are never offered), so a config written for an older nginx still loads. */
static int protocols(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    struct httpd_tls_globals *t = &x->conf->g.tls;
    int has12 = 0, has13 = 0;
    for (int i = 1; i < d->nargs; i++) {
        const char *p = d->args[i];
        if (strcmp(p, "TLSv1.2") == 0)
            has12 = 1;
        else if (strcmp(p, "TLSv1.3") == 0)
            has13 = 1;
        else if (strcmp(p, "TLSv1") != 0 && strcmp(p, "TLSv1.1") != 0 && strcmp(p, "SSLv3") != 0)
            return httpd_conf_fail(x, d, "ssl_protocols: unknown protocol \"%s\"", p);
    }
    if (!has12 && !has13)
        return httpd_conf_fail(x, d,
                               "ssl_protocols: neither TLSv1.2 nor TLSv1.3 (the only "
                               "versions served)");
    t->min_version = has12 ? 12 : 13;
    t->max_version = has13 ? 13 : 12;
    return 0;
}

static int main_time(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, long long *out)
{
    if (httpd_conf_parse_time_ms(d->args[1], out) < 0 || *out > 86400000LL * 7)
        return httpd_conf_fail(x, d, "\"%s\": invalid time \"%s\"", d->args[0], d->args[1]);
    return 0;
}

/* An on/off directive into a setting that is HTTPD_UNSET until written. */
static int tls_on_off(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, long long *out)
{
    int v;
    if (httpd_conf_on_off(x, d, &v) < 0)
        return -1;
    *out = v;
    return 0;
}

static int main_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    struct httpd_tls_globals *t = &x->conf->g.tls;
    const char *n = d->args[0];
    if (x->level != HTTPD_C_MAIN)
        return httpd_conf_fail(x, d, "\"%s\" is not allowed here (main or http level only)", n);
    if (strcmp(n, "ssl_protocols") == 0)
        return protocols(x, d);
    if (d->nargs != 2)
        return httpd_conf_fail(x, d, "invalid number of arguments in \"%s\"", n);
    if (strcmp(n, "ssl_ciphers") == 0)
        return (t->ciphers = httpd_conf_strdup(x->conf, d->args[1])) ? 0 : -1;
    if (strcmp(n, "ssl_session_tickets") == 0)
        return tls_on_off(x, d, &t->session_tickets);
    if (strcmp(n, "tls_ticket_renewal") == 0)
        return tls_on_off(x, d, &t->ticket_renewal);
    if (strcmp(n, "ssl_session_timeout") == 0)
        return main_time(x, d, &t->session_timeout_ms);
    return main_time(x, d, &t->handshake_timeout_ms); /* ssl_handshake_timeout */
}

int httpd_conf_tls_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    static const char *const mains[] = {"ssl_protocols",       "ssl_ciphers",
                                        "ssl_session_tickets", "tls_ticket_renewal",
                                        "ssl_session_timeout", "ssl_handshake_timeout"};
    const char *n = d->args[0];
    if (strcmp(n, "tls_certificate") == 0 || strcmp(n, "ssl_certificate") == 0)
        return set_file(x, d, 0);
    if (strcmp(n, "tls_certificate_key") == 0 || strcmp(n, "ssl_certificate_key") == 0)
        return set_file(x, d, 1);
    for (size_t i = 0; i < sizeof mains / sizeof mains[0]; i++)
        if (strcmp(n, mains[i]) == 0)
            return d->nargs < 2 ? httpd_conf_fail(x, d, "invalid number of arguments in \"%s\"", n)
                                : main_directive(x, d);
    return 1;
}

/* The listen directive of srv that put it on a (for the line of an error). */
static const struct httpd_listen *listen_of(const struct httpd_server *srv,
                                            const struct httpd_addr *a)
{
    for (int i = 0; i < srv->nlistens; i++)
        if (srv->listens[i].tls &&
            memcmp(&srv->listens[i].sa, &a->sa, eddy_sockaddr_len(&a->sa.sa)) == 0)
            return &srv->listens[i];
    return &srv->listens[0];
}

/* "names so far" + " " + the names of srv, in the config's arena. */
static const char *join_names(struct httpd_conf *c, const char *so_far,
                              const struct httpd_server *srv)
{
    size_t n = strlen(so_far) + 1;
    for (int i = 0; i < srv->nnames; i++)
        n += strlen(srv->names[i]) + 1;
    char *s = httpd_conf_alloc(c, n);
    if (s == NULL)
        return NULL;
    strcpy(s, so_far);
    for (int i = 0; i < srv->nnames; i++) {
        if (s[0])
            strcat(s, " ");
        strcat(s, srv->names[i]);
    }
    return s;
}

/* Adds srv's pair to o, or its names to the pair it shares with an earlier server. */
static int add_server(struct httpd_conf_ctx *x, struct eddy_tls_options *o,
                      const struct httpd_server *srv, const struct httpd_addr *a)
{
    const struct httpd_listen *l = listen_of(srv, a);
    struct httpd_conf_dir where = {.file = l->file, .line = l->line};
    if (srv->tls_certificate == NULL || srv->tls_certificate_key == NULL)
        return httpd_conf_fail(x, &where,
                               "no \"tls_certificate\" and \"tls_certificate_key\" in the "
                               "server of the TLS listener %s",
                               a->addr);
    int i = 0;
    while (i < o->ncerts && (strcmp(o->cert_files[i], srv->tls_certificate) != 0 ||
                             strcmp(o->key_files[i], srv->tls_certificate_key) != 0))
        i++;
    if (i == EDDY_TLS_MAX_CERTS)
        return httpd_conf_fail(x, &where, "more than %d certificates on %s", EDDY_TLS_MAX_CERTS,
                               a->addr);
    const char *names = join_names(x->conf, i < o->ncerts ? o->cert_names[i] : "", srv);
    if (names == NULL)
        return -1;
    if (i < o->ncerts)
        o->cert_names[i] = names;
    else
        eddy_tls_options_add_named_cert(o, srv->tls_certificate, srv->tls_certificate_key, names);
    return 0;
}

static void apply_globals(struct eddy_tls_options *o, const struct httpd_tls_globals *t)
{
    if (t->min_version)
        o->min_version = t->min_version, o->max_version = t->max_version;
    o->ciphers = t->ciphers;
    if (t->session_tickets == 0)
        o->ticket_key_seconds = 0;
    if (t->ticket_renewal != HTTPD_UNSET)
        o->renew_tickets = (int)t->ticket_renewal;
    if (t->session_timeout_ms != HTTPD_UNSET)
        o->session_timeout = t->session_timeout_ms / 1000 > 0 ? t->session_timeout_ms / 1000 : 1;
}

/* Loads the address's certificates once, so -t and a reload catch a bad file. */
static int check_load(struct httpd_conf_ctx *x, const struct httpd_addr *a)
{
    struct eddy_tls_context *ctx;
    char err[HTTPD_CONF_ERR_MAX - 64];
    if (eddy_tls_context_new(&ctx, a->tls_options, err, sizeof err) == 0) {
        eddy_tls_context_free(ctx);
        return 0;
    }
    const struct httpd_server *srv = a->servers[0];
    for (int i = 0; i < a->nservers; i++) /* the server naming the failing file */
        if (strstr(err, a->servers[i]->tls_certificate) ||
            strstr(err, a->servers[i]->tls_certificate_key))
            srv = a->servers[i];
    struct httpd_conf_dir where = {.file = srv->tls_file, .line = srv->tls_line};
    return httpd_conf_fail(x, &where, "%s", err);
}

int httpd_conf_tls_build(struct httpd_conf_ctx *x, int load)
{
    struct httpd_conf *c = x->conf;
    for (int i = 0; i < c->naddrs; i++) {
        struct httpd_addr *a = &c->addrs[i];
        if (!a->tls)
            continue;
        struct eddy_tls_options *o = httpd_conf_alloc(c, sizeof *o);
        if (o == NULL)
            return -1;
        eddy_tls_options_init(o);
        apply_globals(o, &c->g.tls);
        for (int j = 0; j < a->nservers; j++)
            if (add_server(x, o, a->servers[j], a) < 0)
                return -1;
        /* A wildcard also answers the handshakes of the addresses served through it. */
        for (int k = 0; k < c->naddrs && !a->via_wildcard; k++) {
            const struct httpd_addr *b = &c->addrs[k];
            if (b->via_wildcard && b->sa.sa.sa_family == a->sa.sa.sa_family &&
                eddy_sockaddr_port(&b->sa.sa) == eddy_sockaddr_port(&a->sa.sa))
                for (int j = 0; j < b->nservers; j++)
                    if (add_server(x, o, b->servers[j], b) < 0)
                        return -1;
        }
        a->tls_options = o;
        if (load && check_load(x, a) < 0)
            return -1;
    }
    return 0;
}
