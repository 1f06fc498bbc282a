/*
 * api_server: a small JSON API on the eddy HTTP library, showing routes with path
 * parameters, query decoding and form bodies.
 *
 *   api_server [-l ADDR] [-t THREADS]
 *
 *   GET    /users?tag=T&tag=U&limit=N   users having every tag given, as a JSON array
 *   POST   /users   (form: name=N&tag=T&tag=U)   201 with the new user and Location
 *   GET    /users/:id                   the user, or 404
 *   DELETE /users/:id                   204, or 404
 *   GET    /users/:id/greeting?lang=fr  {"greeting":"Bonjour, N"}
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/event_loop.h"
#include "eddy/http.h"
#include "eddy/http_form.h"
#include "eddy/signal.h"

#define MAX_USERS 1024
#define MAX_TAGS  8
#define MAX_TEXT  64

struct user {
    int id; /* 0: free slot */
    char name[MAX_TEXT];
    char tags[MAX_TAGS][MAX_TEXT];
    int ntags;
};

static struct user users[MAX_USERS];
static int next_id = 1;
static pthread_mutex_t users_lock = PTHREAD_MUTEX_INITIALIZER; /* handlers of every loop */

/* ---- JSON ------------------------------------------------------------------------------ */

struct out {
    char buf[65536];
    size_t n;
};

static void put(struct out *o, const char *s)
{
    size_t k = strlen(s);
    if (o->n + k < sizeof o->buf) {
        memcpy(o->buf + o->n, s, k);
        o->n += k;
    }
}

static void put_string(struct out *o, const char *s)
{
    char esc[8];
    put(o, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\' || ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            put(o, esc);
        } else {
            char one[2] = {(char)ch, 0};
            put(o, one);
        }
    }
    put(o, "\"");
}

static void put_user(struct out *o, const struct user *u)
{
    char id[32];
    snprintf(id, sizeof id, "{\"id\":%d,\"name\":", u->id);
    put(o, id);
    put_string(o, u->name);
    put(o, ",\"tags\":[");
    for (int i = 0; i < u->ntags; i++) {
        if (i)
            put(o, ",");
        put_string(o, u->tags[i]);
    }
    put(o, "]}");
}

static void reply_json(struct eddy_http_response *res, int status, struct out *o)
{
    eddy_http_response_reply(res, status, "application/json", o->buf, o->n);
}

static void reply_error(struct eddy_http_response *res, int status, const char *msg)
{
    struct out o = {.n = 0};
    put(&o, "{\"error\":");
    put_string(&o, msg);
    put(&o, "}");
    reply_json(res, status, &o);
}

/* ---- handlers (users_lock held around the table) ---------------------------------------- */

static struct user *find(struct eddy_http_request *req)
{
    struct eddy_http_str id = eddy_http_request_param(req, "id");
    char *end;
    long v = strtol(id.p, &end, 10);
    if (end != id.p + id.len || v <= 0)
        return NULL;
    for (int i = 0; i < MAX_USERS; i++)
        if (users[i].id == v)
            return &users[i];
    return NULL;
}

static int has_tag(const struct user *u, const char *tag)
{
    for (int i = 0; i < u->ntags; i++)
        if (strcmp(u->tags[i], tag) == 0)
            return 1;
    return 0;
}

static int matches(const struct user *u, const struct eddy_http_form *q)
{
    size_t pos = 0;
    const char *tag;
    while ((tag = eddy_http_form_next(q, "tag", &pos, NULL)) != NULL)
        if (!has_tag(u, tag))
            return 0;
    return 1;
}

static void list_users(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    struct eddy_http_form *q;
    if (eddy_http_request_query_form(req, &q) < 0) {
        reply_error(res, 400, "malformed query string");
        return;
    }
    const char *lim = eddy_http_form_get(q, "limit");
    int limit = lim ? atoi(lim) : MAX_USERS, n = 0;
    static _Thread_local struct out o;
    o.n = 0;
    put(&o, "[");
    pthread_mutex_lock(&users_lock);
    for (int i = 0; i < MAX_USERS && n < limit; i++)
        if (users[i].id && matches(&users[i], q)) {
            if (n++)
                put(&o, ",");
            put_user(&o, &users[i]);
        }
    pthread_mutex_unlock(&users_lock);
    put(&o, "]");
    eddy_http_form_free(q);
    reply_json(res, 200, &o);
}

/* Fills u from the form; an error message or NULL. */
static const char *user_from_form(struct user *u, const struct eddy_http_form *f)
{
    const char *name = eddy_http_form_get(f, "name"), *tag;
    size_t pos = 0, len;
    if (!name || !*name || strlen(name) >= MAX_TEXT)
        return "name: required, at most 63 bytes";
    strcpy(u->name, name);
    while ((tag = eddy_http_form_next(f, "tag", &pos, &len)) != NULL) {
        if (u->ntags == MAX_TAGS || len >= MAX_TEXT || len != strlen(tag))
            return "tag: at most 8, of at most 63 bytes";
        strcpy(u->tags[u->ntags++], tag);
    }
    return NULL;
}

static void create_user(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    struct eddy_http_form *f;
    struct user u = {.id = 0};
    int rc = eddy_http_request_body_form(req, &f);
    if (rc < 0) {
        reply_error(res, rc == -EMEDIUMTYPE ? 415 : 400,
                    rc == -EMEDIUMTYPE ? "send application/x-www-form-urlencoded"
                                       : "malformed form body");
        return;
    }
    const char *err = user_from_form(&u, f);
    eddy_http_form_free(f);
    if (err) {
        reply_error(res, 422, err);
        return;
    }
    struct user *slot = NULL;
    pthread_mutex_lock(&users_lock);
    for (int i = 0; i < MAX_USERS && !slot; i++)
        if (!users[i].id)
            slot = &users[i];
    if (slot) {
        u.id = next_id++;
        *slot = u;
    }
    pthread_mutex_unlock(&users_lock);
    if (!slot) {
        reply_error(res, 507, "the table is full");
        return;
    }
    struct out o = {.n = 0};
    char loc[32];
    put_user(&o, &u);
    snprintf(loc, sizeof loc, "/users/%d", u.id);
    eddy_http_response_add_header(res, "Location", loc);
    reply_json(res, 201, &o);
}

static void get_user(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    struct out o = {.n = 0};
    pthread_mutex_lock(&users_lock);
    struct user *u = find(req);
    if (u)
        put_user(&o, u);
    pthread_mutex_unlock(&users_lock);
    if (u)
        reply_json(res, 200, &o);
    else
        reply_error(res, 404, "no such user");
}

static void delete_user(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    pthread_mutex_lock(&users_lock);
    struct user *u = find(req);
    if (u)
        u->id = 0;
    pthread_mutex_unlock(&users_lock);
    if (!u) {
        reply_error(res, 404, "no such user");
        return;
    }
    eddy_http_response_set_status(res, 204);
    eddy_http_response_send(res, "", 0);
}

static void greeting(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    struct eddy_http_form *q;
    char name[MAX_TEXT] = "";
    if (eddy_http_request_query_form(req, &q) < 0) {
        reply_error(res, 400, "malformed query string");
        return;
    }
    const char *lang = eddy_http_form_get(q, "lang");
    const char *hello = !lang || strcmp(lang, "en") == 0 ? "Hello"
                        : strcmp(lang, "fr") == 0        ? "Bonjour"
                        : strcmp(lang, "de") == 0        ? "Hallo"
                                                         : NULL;
    eddy_http_form_free(q);
    pthread_mutex_lock(&users_lock);
    struct user *u = find(req);
    if (u)
        strcpy(name, u->name);
    pthread_mutex_unlock(&users_lock);
    if (!u || !hello) {
        reply_error(res, u ? 400 : 404, u ? "lang: en, fr or de" : "no such user");
        return;
    }
    char text[MAX_TEXT + 16];
    struct out o = {.n = 0};
    snprintf(text, sizeof text, "%s, %s", hello, name);
    put(&o, "{\"greeting\":");
    put_string(&o, text);
    put(&o, "}");
    reply_json(res, 200, &o);
}

/* ---- main ------------------------------------------------------------------------------ */

static void on_signal(struct eddy_event_loop *loop, int signo, void *data)
{
    (void)signo, (void)data;
    eddy_event_loop_stop(loop);
}

static int add_routes(struct eddy_http_server *srv)
{
    const unsigned X = EDDY_HTTP_ROUTE_EXACT;
    int rc = 0;
    rc = rc ? rc : eddy_http_server_route_flags(srv, EDDY_HTTP_GET, "/users", X, list_users, NULL);
    rc =
        rc ? rc : eddy_http_server_route_flags(srv, EDDY_HTTP_POST, "/users", X, create_user, NULL);
    rc =
        rc ? rc : eddy_http_server_route_flags(srv, EDDY_HTTP_GET, "/users/:id", X, get_user, NULL);
    rc = rc ? rc
            : eddy_http_server_route_flags(srv, EDDY_HTTP_DELETE, "/users/:id", X, delete_user,
                                           NULL);
    rc = rc ? rc
            : eddy_http_server_route_flags(srv, EDDY_HTTP_GET, "/users/:id/greeting", X, greeting,
                                           NULL);
    return rc;
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8081";
    struct eddy_http_server_options o;
    struct eddy_event_loop *loop;
    struct eddy_http_server *srv = NULL;
    union eddy_sockaddr bound;
    char text[128];
    int ch, rc;
    eddy_http_server_options_init(&o);
    while ((ch = getopt(argc, argv, "l:t:")) != -1) {
        if (ch == 'l') {
            listen = optarg;
        } else if (ch == 't') {
            o.tcp.threads = atoi(optarg);
        } else {
            fprintf(stderr, "usage: api_server [-l ADDR] [-t THREADS]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if ((rc = eddy_event_loop_new(&loop, "epoll")) < 0 ||
        (rc = eddy_signal_watch(loop, SIGINT, on_signal, NULL)) < 0 ||
        (rc = eddy_signal_watch(loop, SIGTERM, on_signal, NULL)) < 0 ||
        (rc = eddy_http_server_new(&srv, loop, &o)) < 0 || (rc = add_routes(srv)) < 0 ||
        (rc = eddy_http_server_listen(srv, listen, &bound)) < 0 ||
        (rc = eddy_http_server_start(srv)) < 0) {
        fprintf(stderr, "api_server: %s: %s\n", listen, strerror(-rc));
        return 1;
    }
    eddy_sockaddr_format(&bound.sa, text, sizeof text);
    fprintf(stderr, "api_server listening on %s\n", text);
    eddy_event_loop_run(loop);
    eddy_http_server_free(srv);
    eddy_signal_unwatch(loop, SIGINT);
    eddy_signal_unwatch(loop, SIGTERM);
    eddy_event_loop_free(loop);
    return 0;
}
