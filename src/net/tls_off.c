/*
 * tls_off: the TLS API of a build without OpenSSL (make TLS=0). Every way
 * into TLS fails with -ENOTSUP and says how to get it, so a program asking for
 * HTTPS stops with a clear error instead of serving plain text.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "eddy/tls.h"
#include "eddy/transport.h"
#include "eddy/ustack.h"
#include "eddy/ustack_net.h"

int eddy_tls_available(void)
{
    return 0;
}

int eddy_tls_context_new(struct eddy_tls_context **out, const struct eddy_tls_options *o, char *err,
                         size_t errlen)
{
    (void)o;
    *out = NULL;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen,
                 "tls: this eddy was built without TLS (make TLS=0); "
                 "install libssl-dev and rebuild to serve TLS");
    return -ENOTSUP;
}

int eddy_tls_context_reload(struct eddy_tls_context *ctx, char *err, size_t errlen)
{
    return eddy_tls_context_new(&ctx, NULL, err, errlen);
}

int eddy_tls_context_reconfigure(struct eddy_tls_context *ctx, const struct eddy_tls_options *o,
                                 char *err, size_t errlen)
{
    (void)o;
    return eddy_tls_context_new(&ctx, NULL, err, errlen);
}

void eddy_tls_context_free(struct eddy_tls_context *ctx)
{
    (void)ctx;
}

unsigned eddy_tls_context_generation(const struct eddy_tls_context *ctx)
{
    (void)ctx;
    return 0;
}

const char *eddy_tls_connection_version(const struct eddy_tcp_connection *c)
{
    (void)c;
    return NULL;
}

const char *eddy_tls_connection_cipher(const struct eddy_tcp_connection *c)
{
    (void)c;
    return NULL;
}

const char *eddy_tls_connection_server_name(const struct eddy_tcp_connection *c)
{
    (void)c;
    return NULL;
}

int eddy_tls_connection_resumed(const struct eddy_tcp_connection *c)
{
    (void)c;
    return 0;
}

static int off_fail(struct eddy_transport *t, int fd, int (*close_fd)(int))
{
    t->fd = -1;
    if (fd >= 0)
        close_fd(fd);
    return -ENOTSUP;
}

static int off_open(struct eddy_transport *t, int fd, void *arg, unsigned flags)
{
    (void)arg, (void)flags;
    return off_fail(t, fd, close);
}

const struct eddy_transport_ops eddy_transport_tls = {
    .name = "tls (not built)",
    .open = off_open,
};

static int off_open_ustack(struct eddy_transport *t, int fd, void *arg, unsigned flags)
{
    (void)arg, (void)flags;
    return off_fail(t, fd, ue_close); /* a ustack descriptor: never the kernel's close */
}

const struct eddy_transport_ops eddy_transport_tls_ustack = {
    .name = "tls (not built)",
    .open = off_open_ustack,
};

void eddy_tls_file_stats(unsigned long long *record_bytes, unsigned long long *ktls_bytes)
{
    *record_bytes = *ktls_bytes = 0;
}
