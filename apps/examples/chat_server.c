/*
 * chat_server: a line-based chat room. Every line a client sends goes to every other
 * client, whichever sub-reactor owns it; joins and leaves are announced.
 *
 *   chat_server [-l ADDR] [-t THREADS] [-b BACKEND]      (try: nc 127.0.0.1 9001)
 *
 * Each loop keeps the room's members it owns in a list only its thread touches (the
 * loop's user data). A line becomes one reference-counted message queued to every loop
 * with eddy_event_loop_run_in_loop; each loop sends it to its own members, and the last
 * loop done frees it. So no lock is taken per member, and a connection is only ever
 * touched by its own thread.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/eddy.h"

#define MAX_LINE 4096

struct member {
    struct member *prev, *next;
    struct eddy_tcp_connection *c;
    unsigned long id;
};

struct room_part { /* one per loop, touched by that loop's thread only */
    struct member head;
};

struct message {
    int refs; /* atomic: loops still to send it */
    struct eddy_tcp_connection *from;
    size_t len;
    char text[];
};

static struct eddy_tcp_server *g_server;
static int g_closing; /* atomic: the server is being freed, announce nothing */

/* The server's loop whose thread this is. */
static struct eddy_event_loop *current_loop(void)
{
    for (int i = 0; i < eddy_tcp_server_loop_count(g_server); i++)
        if (eddy_event_loop_is_in_loop_thread(eddy_tcp_server_loop_at(g_server, i)))
            return eddy_tcp_server_loop_at(g_server, i);
    return NULL;
}

static void part_send(void *arg)
{
    struct message *m = arg;
    struct eddy_event_loop *loop = current_loop();
    struct room_part *p = loop ? eddy_event_loop_data(loop) : NULL;
    for (struct member *mb = p ? p->head.next : NULL; mb && mb != &p->head; mb = mb->next)
        if (mb->c != m->from)
            eddy_tcp_connection_send(mb->c, m->text, m->len);
    if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(m);
}

/* Sends text to every member but `from` (which may be NULL), on every loop. */
static void broadcast(struct eddy_tcp_connection *from, const char *text, size_t len)
{
    int n = eddy_tcp_server_loop_count(g_server);
    struct message *m = malloc(sizeof *m + len);
    if (!m)
        return;
    m->refs = n;
    m->from = from; /* compared only, never dereferenced by other loops */
    m->len = len;
    memcpy(m->text, text, len);
    for (int i = 0; i < n; i++)
        if (eddy_event_loop_run_in_loop(eddy_tcp_server_loop_at(g_server, i), part_send, m) < 0 &&
            __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
            free(m);
}

static void announce(struct member *mb, const char *what)
{
    char line[64];
    int k = snprintf(line, sizeof line, "* user%lu %s\n", mb->id, what);
    broadcast(mb->c, line, (size_t)k);
}

static void on_connected(struct eddy_tcp_connection *c)
{
    struct member *mb = eddy_tcp_connection_context(c);
    struct room_part *p = eddy_event_loop_data(eddy_tcp_connection_loop(c));
    mb->c = c;
    mb->id = (unsigned long)eddy_tcp_connection_id(c);
    mb->next = p->head.next;
    mb->prev = &p->head;
    p->head.next->prev = mb;
    p->head.next = mb;
    char hello[64];
    int k = snprintf(hello, sizeof hello, "* you are user%lu\n", mb->id);
    eddy_tcp_connection_send(c, hello, (size_t)k);
    announce(mb, "joined");
}

static void on_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    struct member *mb = eddy_tcp_connection_context(c);
    const char *nl;
    while ((nl = memchr(eddy_buffer_peek(in), '\n', eddy_buffer_readable(in))) != NULL) {
        size_t len = (size_t)(nl - eddy_buffer_peek(in)) + 1;
        char line[MAX_LINE + 32];
        int k = snprintf(line, sizeof line, "user%lu: ", mb->id);
        size_t body = len < MAX_LINE ? len : MAX_LINE;
        memcpy(line + k, eddy_buffer_peek(in), body);
        line[k + body - 1] = '\n';
        broadcast(c, line, (size_t)k + body);
        eddy_buffer_retrieve(in, len);
    }
    if (eddy_buffer_readable(in) > MAX_LINE) /* a line without end: not a chat client */
        eddy_tcp_connection_close(c);
}

static void on_close(struct eddy_tcp_connection *c)
{
    struct member *mb = eddy_tcp_connection_context(c);
    if (!mb->c)
        return; /* never joined */
    mb->prev->next = mb->next;
    mb->next->prev = mb->prev;
    if (!__atomic_load_n(&g_closing, __ATOMIC_ACQUIRE))
        announce(mb, "left");
}

static const struct eddy_tcp_callbacks callbacks = {
    .on_connected = on_connected, .on_message = on_message, .on_close = on_close};

static void on_signal(struct eddy_event_loop *loop, int signo, void *data)
{
    (void)signo, (void)data;
    eddy_event_loop_stop(loop);
}

/* In the loop's thread: its part of the room becomes its user data. */
static void set_part(void *arg)
{
    eddy_event_loop_set_data(current_loop(), arg);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:9001", *backend = "epoll";
    struct eddy_tcp_server_options o;
    struct eddy_event_loop *loop;
    union eddy_sockaddr bound;
    char text[128];
    int ch, rc;
    eddy_tcp_server_options_init(&o);
    while ((ch = getopt(argc, argv, "l:t:b:")) != -1) {
        if (ch == 'l')
            listen = optarg;
        else if (ch == 't')
            o.threads = atoi(optarg);
        else if (ch == 'b')
            backend = optarg;
        else {
            fprintf(stderr, "usage: chat_server [-l ADDR] [-t THREADS] [-b BACKEND]\n");
            return 2;
        }
    }
    o.context_size = sizeof(struct member);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = eddy_event_loop_new(&loop, backend)) < 0 ||
        (rc = eddy_signal_watch(loop, SIGINT, on_signal, NULL)) < 0 ||
        (rc = eddy_signal_watch(loop, SIGTERM, on_signal, NULL)) < 0 ||
        (rc = eddy_tcp_server_new(&g_server, loop, &o, &callbacks, NULL)) < 0 ||
        (rc = eddy_tcp_server_listen(g_server, listen, &bound)) < 0 ||
        (rc = eddy_tcp_server_start(g_server)) < 0) {
        fprintf(stderr, "chat_server: %s: %s\n", listen, strerror(-rc));
        return 1;
    }
    int np = eddy_tcp_server_loop_count(g_server);
    struct room_part *parts = calloc((size_t)np, sizeof *parts);
    if (!parts)
        return 1;
    for (int i = 0; i < np; i++) { /* queued ahead of any connection the base loop hands over */
        parts[i].head.next = parts[i].head.prev = &parts[i].head;
        eddy_event_loop_run_in_loop(eddy_tcp_server_loop_at(g_server, i), set_part, &parts[i]);
    }
    eddy_sockaddr_format(&bound.sa, text, sizeof text);
    fprintf(stderr, "chat_server listening on %s\n", text);
    eddy_event_loop_run(loop);
    __atomic_store_n(&g_closing, 1, __ATOMIC_RELEASE);
    eddy_tcp_server_free(g_server); /* joins the sub-reactors, then closes every member */
    free(parts);
    eddy_signal_unwatch(loop, SIGINT);
    eddy_signal_unwatch(loop, SIGTERM);
    eddy_event_loop_free(loop);
    return 0;
}
