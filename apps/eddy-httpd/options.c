/*
 * Command-line parsing. Every value is checked here, so a typo is a one-line error
 * and a non-zero exit rather than a server running with a surprising setting.
 */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/event_dispatcher.h"

#define VERSION "0.1.0"

enum {
    OPT_ACCESS_LOG = 256,
    OPT_KEEPALIVE,
    OPT_HEADER,
    OPT_BODY,
    OPT_SEND,
    OPT_DRAIN,
    OPT_MAX_CONN,
    OPT_MAX_BODY,
    OPT_REUSEPORT,
    OPT_FOLLOW,
    OPT_DIR_LISTING,
    OPT_TEST,
    OPT_KA_REQUESTS,
    OPT_SENDFILE_CHUNK,
    OPT_FILE_LOWAT,
    OPT_FILE_LOWAT_MIN,
    OPT_FILE_COPY_MIN,
    OPT_STACK,
    OPT_TAP,
    OPT_IP,
    OPT_GATEWAY,
    OPT_LISTEN_TLS,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_HANDSHAKE,
    OPT_TLS_RENEWAL,
    OPT_HSTS,
    OPT_REDIRECT_HTTPS,
    OPT_ACCESS_LOG_TLS,
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"root", required_argument, NULL, 'r'},
    {"threads", required_argument, NULL, 't'},
    {"backend", required_argument, NULL, 'b'},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE},
    {"header-timeout", required_argument, NULL, OPT_HEADER},
    {"body-timeout", required_argument, NULL, OPT_BODY},
    {"send-timeout", required_argument, NULL, OPT_SEND},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN},
    {"max-connections", required_argument, NULL, OPT_MAX_CONN},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"reuseport", no_argument, NULL, OPT_REUSEPORT},
    {"follow-symlinks", no_argument, NULL, OPT_FOLLOW},
    {"dir-listing", no_argument, NULL, OPT_DIR_LISTING},
    {"config", required_argument, NULL, 'c'},
    {"test", no_argument, NULL, OPT_TEST},
    {"keepalive-requests", required_argument, NULL, OPT_KA_REQUESTS},
    {"sendfile-chunk", required_argument, NULL, OPT_SENDFILE_CHUNK},
    {"file-lowat", required_argument, NULL, OPT_FILE_LOWAT},
    {"file-lowat-min", required_argument, NULL, OPT_FILE_LOWAT_MIN},
    {"file-copy-min", required_argument, NULL, OPT_FILE_COPY_MIN},
    {"stack", required_argument, NULL, OPT_STACK},
    {"tap", required_argument, NULL, OPT_TAP},
    {"ip", required_argument, NULL, OPT_IP},
    {"gateway", required_argument, NULL, OPT_GATEWAY},
    {"listen-tls", required_argument, NULL, OPT_LISTEN_TLS},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-handshake-timeout", required_argument, NULL, OPT_TLS_HANDSHAKE},
    {"tls-ticket-renewal", required_argument, NULL, OPT_TLS_RENEWAL},
    {"hsts", required_argument, NULL, OPT_HSTS},
    {"redirect-https", no_argument, NULL, OPT_REDIRECT_HTTPS},
    {"access-log-tls", no_argument, NULL, OPT_ACCESS_LOG_TLS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* usage's tail: configuration file, user-space stack, and what applies to every option. */
static void usage_more(void)
{
    printf("  -c, --config FILE            read the configuration file (docs/CONFIG.md);\n"
           "                               flags given with it override its globals\n"
           "  -t, --test                   with -c: check the file and exit (0 or 1)\n"
           "      --stack kernel|user      TCP/IP stack: the kernel's (default) or eddy's\n"
           "                               own (ustack) on a TAP device: needs --tap and\n"
           "                               --ip, runs on the uepoll backend, listens on\n"
           "                               --ip's address (default :8080); threads 0,\n"
           "                               --threads N: one stack per sub-reactor, each on\n"
           "                               one queue of a multi-queue TAP\n"
           "      --tap NAME               TAP device for --stack user (created or attached)\n"
           "      --ip ADDR/PREFIX         ustack's IPv4 address on the TAP\n"
           "      --gateway ADDR           ustack's next hop beyond the prefix\n"
           "  -h, --help                   show this help and exit\n"
           "  -V, --version                show the version and exit\n"
           "Timeouts are in seconds (fractions allowed); 0 disables one.\n"
           "Signals: SIGTERM/SIGINT drain and exit 0, SIGHUP reopens the logs (with -c,\n"
           "it also reloads the file) and the TLS certificates and keys.\n");
}

static void usage(void)
{
    printf("Usage: eddy-httpd [OPTION]...\n"
           "Serve static files over HTTP/1.1.\n\n"
           "  -l, --listen ADDR:PORT       address to listen on (repeatable; default\n"
           "                               127.0.0.1:8080; [::1]:8080 for IPv6; a host\n"
           "                               name is resolved at startup and every address\n"
           "                               bound; :PORT is all IPv4 addresses, [::]:PORT\n"
           "                               all IPv6 addresses only;\n"
           "                               unix:PATH or unix:@NAME: a Unix socket)\n"
           "  -r, --root DIR               document root (default ./www)\n"
           "  -t, --threads N              sub-reactor threads; 0 = one reactor\n"
           "                               (default: number of CPUs)\n"
           "  -b, --backend NAME           one of:");
    for (const char *const *n = eddy_event_dispatcher_names(); *n != NULL; n++)
        printf(" %s", *n);
    printf(" (default %s)\n", eddy_event_dispatcher_find(NULL)->name);
    printf("      --access-log PATH|-|off  combined log format; - is stdout (default off)\n"
           "      --access-log-tls         append the TLS version and cipher to each line\n"
           "                               (\"- -\" for plain HTTP)\n"
           "      --keepalive-timeout S    idle keep-alive connection timeout (default 75)\n"
           "      --keepalive-requests N   requests per connection, the last answered with\n"
           "                               Connection: close (default 1000)\n"
           "      --header-timeout S       time to receive a request head (default 10)\n"
           "      --body-timeout S         time between two reads of a body (default 30)\n"
           "      --send-timeout S         time without output progress (default 60)\n"
           "      --drain-timeout S        on SIGTERM/SIGINT, time to finish responses\n"
           "                               in flight (default 30)\n"
           "      --max-connections N      close new connections beyond N (default 0:\n"
           "                               unlimited)\n"
           "      --max-body BYTES         largest request body (default 1048576)\n"
           "      --reuseport              set SO_REUSEPORT on listening sockets\n"
           "      --follow-symlinks        follow symlinks even when they leave the root\n"
           "      --dir-listing            list directories that have no index.html\n"
           "      --sendfile-chunk BYTES   at most BYTES per sendfile, then the next\n"
           "                               connection's turn (default 0: whole files)\n"
           "      --file-lowat BYTES       TCP_NOTSENT_LOWAT for connections sending files:\n"
           "                               unsent bytes the kernel holds (default 131072;\n"
           "                               0: not set)\n"
           "      --file-lowat-min BYTES   set it only from a file range of at least BYTES\n"
           "                               (default 0: any range)\n"
           "      --file-copy-min BYTES    send file ranges of at least BYTES by pread and\n"
           "                               send instead of sendfile (default 8388608; 0:\n"
           "                               always sendfile)\n"
           "      --listen-tls ADDR:PORT   address to serve HTTPS on (repeatable)\n"
           "      --tls-cert FILE          PEM certificate chain, leaf first (repeatable,\n"
           "                               paired in order with --tls-key; SNI picks by the\n"
           "                               certificate's names, the first is the default)\n"
           "      --tls-key FILE           PEM private key of the matching --tls-cert\n"
           "      --tls-handshake-timeout S  time to finish the TLS handshake (default 10)\n"
           "      --tls-ticket-renewal on|off  a fresh ticket after each TLS 1.3 resumption\n"
           "                               (default on: clients use a ticket once)\n"
           "      --hsts SECONDS           send Strict-Transport-Security on HTTPS\n"
           "      --redirect-https         plain listeners answer 301 to https://\n");
    usage_more();
}

static int bad(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "eddy-httpd: invalid value '%s' for %s: %s\n", val, opt, why);
    return -1;
}

static int parse_long(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *opt, const char *s, unsigned *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400 * 30)
        return bad(opt, s, "expected seconds between 0 and 2592000");
    *ms = (unsigned)(v * 1000 + 0.5);
    if (*ms == 0 && v > 0)
        *ms = 1;
    return 0;
}

static void defaults(struct httpd_options *o)
{
    memset(o, 0, sizeof *o);
    o->root = "./www";
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = n > 0 ? (int)n : 1;
    o->backend = eddy_event_dispatcher_find(NULL)->name;
    o->access_log = "off";
    o->keepalive_timeout_ms = 75000;
    o->keepalive_requests = 1000;
    o->header_timeout_ms = 10000;
    o->body_timeout_ms = 30000;
    o->send_timeout_ms = 60000;
    o->drain_timeout_ms = 30000;
    o->max_body = 1024 * 1024;
    o->tls_handshake_timeout_ms = 10000;
    o->tls_ticket_renewal = 1;
    o->hsts_seconds = -1;
    /* Measured in docs/BENCHMARKS.md (files, issue 16). */
    o->file_lowat = 128 * 1024;
    o->file_copy_min = 8 * 1024 * 1024;
}

/* The HTTPS options: repeatable lists and switches. */
static int handle_tls(struct httpd_options *o, int c, const char *arg)
{
    long long v;
    switch (c) {
    case OPT_LISTEN_TLS:
        if (o->nlisten_tls == HTTPD_MAX_LISTEN)
            return bad("--listen-tls", arg, "too many addresses");
        o->listen_tls[o->nlisten_tls++] = arg;
        return 0;
    case OPT_TLS_CERT:
        if (o->ntls_cert == HTTPD_MAX_LISTEN)
            return bad("--tls-cert", arg, "too many certificates");
        o->tls_cert[o->ntls_cert++] = arg;
        return 0;
    case OPT_TLS_KEY:
        if (o->ntls_key == HTTPD_MAX_LISTEN)
            return bad("--tls-key", arg, "too many keys");
        o->tls_key[o->ntls_key++] = arg;
        return 0;
    case OPT_TLS_HANDSHAKE:
        return parse_seconds("--tls-handshake-timeout", arg, &o->tls_handshake_timeout_ms);
    case OPT_TLS_RENEWAL:
        if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
            return bad("--tls-ticket-renewal", arg, "expected on or off");
        o->tls_ticket_renewal = arg[1] == 'n' ? 1 : -1;
        return 0;
    case OPT_HSTS:
        if (parse_long(arg, 0, 1LL << 40, &v) < 0)
            return bad("--hsts", arg, "expected a number of seconds");
        o->hsts_seconds = v;
        return 0;
    case OPT_REDIRECT_HTTPS:
        o->redirect_https = 1;
        return 0;
    default:
        return -1;
    }
}

static int check_tls(const struct httpd_options *o)
{
    const char *why = NULL;
    if (o->ntls_cert != o->ntls_key)
        why = "--tls-cert and --tls-key must come in pairs";
    else if (o->nlisten_tls > 0 && o->ntls_cert == 0)
        why = "--listen-tls needs --tls-cert and --tls-key";
    else if (o->nlisten_tls == 0 && o->ntls_cert > 0)
        why = "--tls-cert given without --listen-tls";
    else if (o->nlisten_tls == 0 && (o->redirect_https || o->hsts_seconds >= 0))
        why = "--redirect-https and --hsts need --listen-tls";
    else if (o->redirect_https && o->nlisten == 0)
        why = "--redirect-https needs a plain --listen address to redirect from";
    if (why != NULL)
        fprintf(stderr, "eddy-httpd: %s (see --help)\n", why);
    return why != NULL ? -1 : 0;
}

static int set_backend(struct httpd_options *o, const char *v)
{
    char why[160] = "expected one of:";
    const char *const *n;
    for (n = eddy_event_dispatcher_names(); *n != NULL; n++)
        if (strcmp(v, *n) == 0) {
            o->backend = *n;
            return 0;
        }
    for (n = eddy_event_dispatcher_names(); *n != NULL; n++)
        snprintf(why + strlen(why), sizeof why - strlen(why), " %s", *n);
    return bad("--backend", v, why);
}

/* -c, --test, and -t when it is the test rather than a thread count: 1 if c was one. */
static int config_flag(struct httpd_options *o, int c, const char *arg)
{
    if (c == 'c')
        o->config = arg;
    else if (c == OPT_TEST)
        o->test_only = 1;
    else if (c == 't' && arg[0] == '-') { /* "-t -c FILE": arg is the next option */
        o->test_only = 1;
        optind--;
    } else
        return 0;
    return 1;
}

/* The user-space stack's options (--stack user). */
static int handle_stack(struct httpd_options *o, int c, const char *arg)
{
    switch (c) {
    case OPT_STACK:
        if (strcmp(arg, "kernel") != 0 && strcmp(arg, "user") != 0)
            return bad("--stack", arg, "expected kernel or user");
        o->user_stack = strcmp(arg, "user") == 0;
        return 0;
    case OPT_TAP:
        if (!*arg || strlen(arg) >= 16)
            return bad("--tap", arg, "expected a device name of 1 to 15 characters");
        o->tap = arg;
        return 0;
    case OPT_IP:
        o->ip = arg;
        return 0;
    case OPT_GATEWAY:
        o->gateway = arg;
        return 0;
    default:
        return handle_tls(o, c, arg);
    }
}

/* The counts and sizes, each checked against its range. */
static int handle_limits(struct httpd_options *o, int c, const char *arg)
{
    long long v;
    switch (c) {
    case 't':
        if (parse_long(arg, 0, 1024, &v) < 0)
            return bad("--threads", arg, "expected a number from 0 to 1024");
        o->threads = (int)v;
        return 0;
    case OPT_MAX_CONN:
        if (parse_long(arg, 0, 10000000, &v) < 0)
            return bad("--max-connections", arg, "expected a number from 0 to 10000000");
        o->max_connections = (int)v;
        return 0;
    case OPT_MAX_BODY:
        if (parse_long(arg, 0, (long long)1 << 50, &v) < 0)
            return bad("--max-body", arg, "expected a number of bytes");
        o->max_body = (uint64_t)v;
        return 0;
    case OPT_KA_REQUESTS:
        if (parse_long(arg, 1, UINT32_MAX, &v) < 0)
            return bad("--keepalive-requests", arg, "expected a number from 1 to 4294967295");
        o->keepalive_requests = (unsigned)v;
        return 0;
    case OPT_SENDFILE_CHUNK:
        if (parse_long(arg, 0, (long long)1 << 30, &v) < 0 || (v > 0 && v < 4096))
            return bad("--sendfile-chunk", arg, "expected 0 or 4096 to 1073741824 bytes");
        o->sendfile_chunk = (size_t)v;
        return 0;
    case OPT_FILE_LOWAT:
        if (parse_long(arg, 0, INT32_MAX, &v) < 0)
            return bad("--file-lowat", arg, "expected 0 to 2147483647 bytes");
        o->file_lowat = (size_t)v;
        return 0;
    case OPT_FILE_LOWAT_MIN:
        if (parse_long(arg, 0, INT64_MAX, &v) < 0)
            return bad("--file-lowat-min", arg, "expected a number of bytes, 0 for any range");
        o->file_lowat_min = (size_t)v;
        return 0;
    case OPT_FILE_COPY_MIN:
        if (parse_long(arg, 0, INT64_MAX, &v) < 0)
            return bad("--file-copy-min", arg, "expected a number of bytes, 0 for never");
        o->file_copy_min = (size_t)v;
        return 0;
    default:
        return handle_stack(o, c, arg);
    }
}

static int handle(struct httpd_options *o, int c, const char *arg)
{
    switch (c) {
    case 'l':
        if (o->nlisten == HTTPD_MAX_LISTEN)
            return bad("--listen", arg, "too many addresses");
        o->listen[o->nlisten++] = arg;
        return 0;
    case 'r':
        o->root = arg;
        return 0;
    case 'b':
        return set_backend(o, arg);
    case OPT_ACCESS_LOG:
        o->access_log = arg;
        return 0;
    case OPT_ACCESS_LOG_TLS:
        o->access_log_tls = 1;
        return 0;
    case OPT_KEEPALIVE:
        return parse_seconds("--keepalive-timeout", arg, &o->keepalive_timeout_ms);
    case OPT_HEADER:
        return parse_seconds("--header-timeout", arg, &o->header_timeout_ms);
    case OPT_BODY:
        return parse_seconds("--body-timeout", arg, &o->body_timeout_ms);
    case OPT_SEND:
        return parse_seconds("--send-timeout", arg, &o->send_timeout_ms);
    case OPT_DRAIN:
        return parse_seconds("--drain-timeout", arg, &o->drain_timeout_ms);
    case OPT_REUSEPORT:
        o->reuseport = 1;
        return 0;
    case OPT_FOLLOW:
        o->follow_symlinks = 1;
        return 0;
    case OPT_DIR_LISTING:
        o->dir_listing = 1;
        return 0;
    default:
        return handle_limits(o, c, arg);
    }
}

int httpd_option_given(const struct httpd_options *o, const char *long_name)
{
    for (int i = 0; long_opts[i].name; i++)
        if (strcmp(long_opts[i].name, long_name) == 0)
            return (o->given >> i) & 1;
    return 0;
}

static void mark_given(struct httpd_options *o, int c)
{
    for (int i = 0; long_opts[i].name; i++)
        if (long_opts[i].val == c)
            o->given |= 1ULL << i;
}

/* getopt_long's '?': arg is the argument it stopped at, optopt the short option or the
 * long option's value (0 when unknown). optopt alone cannot name a long option (ours
 * are >= 256): the message quotes the argument's name instead. */
static void bad_option(const char *arg, int opt)
{
    if (strncmp(arg, "--", 2) == 0) {
        size_t n = strcspn(arg, "=");
        if (opt != 0 && arg[n] == '=')
            fprintf(stderr, "eddy-httpd: option '%.*s' takes no value (see --help)\n", (int)n, arg);
        else
            fprintf(stderr, "eddy-httpd: unknown option '%.*s' (see --help)\n", (int)n, arg);
    } else if (opt > 0 && opt < 128) {
        fprintf(stderr, "eddy-httpd: unknown option '-%c' (see --help)\n", opt);
    } else {
        fprintf(stderr, "eddy-httpd: unknown option '%s' (see --help)\n", arg);
    }
}

int httpd_user_stack_options_check(const struct httpd_options *o)
{
    if (o->threads > 256)
        return bad("--threads", "N", "--stack user has at most 256 TAP queues");
    if (strncmp(o->backend, "uepoll", 6) != 0)
        return bad("--backend", o->backend, "--stack user needs uepoll or uepoll-et");
    return 0;
}

/* --stack user: one stack per loop on a uepoll backend, a TAP and an address. */
static int user_stack_options(struct httpd_options *o)
{
    if (!o->tap || !o->ip) {
        fprintf(stderr, "eddy-httpd: --stack user needs --tap NAME and --ip ADDR/PREFIX\n");
        return -1;
    }
    if (o->reuseport) { /* one process owns the TAP's stacks: nothing to share a port with */
        fprintf(stderr, "eddy-httpd: --reuseport does not work with --stack user (one process "
                        "owns the TAP's stacks)\n");
        return -1;
    }
    if (!httpd_option_given(o, "threads"))
        o->threads = 0; /* one stack on a plain TAP; N: one stack per TAP queue */
    if (!httpd_option_given(o, "backend"))
        o->backend = "uepoll";
    return httpd_user_stack_options_check(o);
}

int httpd_parse_options(struct httpd_options *o, int argc, char **argv)
{
    defaults(o);
    opterr = 0; /* our own one-line messages */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":l:r:t:b:c:hV", long_opts, NULL)) != -1) {
        if (c == 'h') {
            usage();
            return 1;
        }
        if (c == 'V') {
            printf("eddy-httpd " VERSION "\n");
            return 1;
        }
        if (c == ':' && strcmp(argv[optind - 1], "-t") == 0) { /* "-c FILE -t" */
            o->test_only = 1;
            continue;
        }
        if (c == ':') {
            fprintf(stderr, "eddy-httpd: option '%s' needs a value (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (c == '?') {
            bad_option(argv[optind - 1], optopt);
            return -1;
        }
        if (config_flag(o, c, optarg))
            continue;
        if (handle(o, c, optarg) < 0)
            return -1;
        mark_given(o, c);
    }
    if (optind < argc) {
        fprintf(stderr, "eddy-httpd: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (check_tls(o) < 0)
        return -1;
    if (o->test_only && o->config == NULL) {
        fprintf(stderr, "eddy-httpd: -t needs -c FILE (see --help)\n");
        return -1;
    }
    if (o->config && o->nlisten) {
        fprintf(stderr, "eddy-httpd: --listen does not combine with -c; use \"listen\" in "
                        "the file\n");
        return -1;
    }
    if (o->nlisten == 0 && o->nlisten_tls == 0) /* ustack has no loopback: its address */
        o->listen[o->nlisten++] = o->user_stack ? ":8080" : "127.0.0.1:8080";
    return o->user_stack ? user_stack_options(o) : 0;
}
