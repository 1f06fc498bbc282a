/* Command line of eddy-httpd. */
#ifndef EDDY_HTTPD_OPTIONS_H
#define EDDY_HTTPD_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#define HTTPD_MAX_LISTEN 16
#define HTTPD_MAX_BOUND  64 /* addresses bound in all (a host name may give several) */

struct httpd_options {
    const char *listen[HTTPD_MAX_LISTEN];
    int nlisten;
    const char *root;
    int threads;
    const char *backend;
    const char *access_log; /* path, "-" or "off" */
    int access_log_tls;     /* --access-log-tls: TLS version and cipher on each line */
    unsigned keepalive_timeout_ms, header_timeout_ms, body_timeout_ms, send_timeout_ms;
    unsigned drain_timeout_ms;
    unsigned keepalive_requests;
    size_t sendfile_chunk; /* --sendfile-chunk; 0: whole ranges */
    size_t file_lowat;     /* --file-lowat: TCP_NOTSENT_LOWAT for file output; 0: unset */
    size_t file_lowat_min; /* --file-lowat-min: only from ranges this long; 0: any */
    size_t file_copy_min;  /* --file-copy-min: ranges this long are copied; 0: never */
    int max_connections;
    uint64_t max_body;
    int reuseport;
    int follow_symlinks;
    int dir_listing;
    const char *config;       /* -c FILE */
    int test_only;            /* -t without a number (nginx's -t), or --test */
    unsigned long long given; /* bit i: long_opts[i] was on the command line */
    /* --stack user: serve on ustack over a TAP device (apps/eddy-httpd/user_stack.c) */
    int user_stack;
    const char *tap, *ip, *gateway;
    /* HTTPS (httpd_tls.c) */
    const char *listen_tls[HTTPD_MAX_LISTEN];
    int nlisten_tls;
    const char *tls_cert[HTTPD_MAX_LISTEN], *tls_key[HTTPD_MAX_LISTEN];
    int ntls_cert, ntls_key;
    unsigned tls_handshake_timeout_ms;
    int tls_ticket_renewal; /* 1 on, -1 off */
    long long hsts_seconds; /* -1: no Strict-Transport-Security */
    int redirect_https;
};

/* Whether the option with this long name ("threads") was given. */
int httpd_option_given(const struct httpd_options *o, const char *long_name);

/* --stack user: what ustack cannot run with (a backend that is not uepoll, over 256
 * threads), also after -c FILE set them. 0, or -1 after a one-line error. */
int httpd_user_stack_options_check(const struct httpd_options *o);

/* Parses argv into o. "-t" followed by another option or nothing is the config test;
 * "-t N" the thread count. Returns 0 to run, 1 when --help/--version was handled (exit 0),
 * or -1 after printing a one-line error to stderr (exit 2). */
int httpd_parse_options(struct httpd_options *o, int argc, char **argv);

#endif
