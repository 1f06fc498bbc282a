/*
 * tls_options: the options of a TLS context, the same with and without
 * OpenSSL (make TLS=0 builds this file too), so a program fills them in one
 * way whatever the build and only eddy_tls_context_new tells the difference.
 */
#include <errno.h>
#include <string.h>

#include "eddy/tls.h"

void eddy_tls_options_init(struct eddy_tls_options *o)
{
    memset(o, 0, sizeof *o);
    o->min_version = 12;
    o->alpn = "http/1.1";
    o->ticket_key_seconds = 3600;
    o->renew_tickets = 1;
    o->session_cache_size = 20480;
    o->session_timeout = 7200;
}

int eddy_tls_options_add_named_cert(struct eddy_tls_options *o, const char *cert_file,
                                    const char *key_file, const char *names)
{
    if (o->ncerts >= EDDY_TLS_MAX_CERTS)
        return -ENOSPC;
    o->cert_files[o->ncerts] = cert_file;
    o->key_files[o->ncerts] = key_file;
    o->cert_names[o->ncerts] = names;
    o->ncerts++;
    return 0;
}

int eddy_tls_options_add_cert(struct eddy_tls_options *o, const char *cert_file,
                              const char *key_file)
{
    return eddy_tls_options_add_named_cert(o, cert_file, key_file, NULL);
}
