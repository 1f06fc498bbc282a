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
    unsigned keepalive_timeout_ms, header_timeout_ms, body_timeout_ms, send_timeout_ms;
    unsigned drain_timeout_ms;
    int max_connections;
    uint64_t max_body;
    int reuseport;
    int follow_symlinks;
    int dir_listing;
    /* --stack user: serve on ustack over a TAP device (apps/eddy-httpd/user_stack.c) */
    int user_stack;
    const char *tap, *ip, *gateway;
};

/* Parses argv into o. Returns 0 to run, 1 when --help/--version was handled (exit 0),
 * or -1 after printing a one-line error to stderr (exit 2). */
int httpd_parse_options(struct httpd_options *o, int argc, char **argv);

#endif
