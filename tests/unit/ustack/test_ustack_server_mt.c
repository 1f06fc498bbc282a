/* ustack under the reactor: a tcp_server on an event loop with the uepoll dispatcher
 * (level- and edge-triggered) serves echo connections over ustack sockets
 * (eddy_transport_ustack, eddy_ustack_driver, eddy_ustack_listen); the client is a
 * second stack across a memlink, driven by its own thread, with blocking ue_ calls. */
#include "ustack_world.h"

#include <eddy/eddy.h>
#include <eddy/ustack_net.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#define CONNS 4
#define BYTES (512u * 1024)

static struct ue_stack *cli;
static struct eddy_event_loop *loop;
static atomic_int cli_stop;
static int results[CONNS];

static void on_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    eddy_tcp_connection_send(c, eddy_buffer_peek(in), eddy_buffer_readable(in));
    eddy_buffer_retrieve_all(in);
}

static const struct eddy_tcp_callbacks echo_cb = {.on_message = on_message};

static void *drive_client(void *arg)
{
    (void)arg;
    struct pollfd p = {.fd = ue_stack_dev_fd(cli), .events = POLLIN};
    while (!atomic_load(&cli_stop)) {
        uint64_t d = ue_stack_next_deadline(cli), now = ue_stack_now(cli);
        int ms = d == UINT64_MAX ? 10 : d <= now ? 0 : (int)((d - now) / 1000);
        poll(&p, 1, ms > 10 ? 10 : ms);
        ue_stack_poll(cli, 256);
    }
    return NULL;
}

/* One connection: BYTES sent in 16 KiB steps, each echoed back byte-exact. */
static int echo_once(uint32_t stream)
{
    ue_stack_set_current(cli);
    int fd = ue_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    a.sin_addr.s_addr = htonl(W_IP2);
    if (ue_connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        return -1;
    static _Thread_local unsigned char b[16384], r[16384];
    uint64_t done = 0;
    while (done < BYTES) {
        gen_fill(stream, done, b, sizeof(b));
        if (ue_write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
            break;
        size_t got = 0;
        ssize_t n = 1;
        while (got < sizeof(b) && (n = ue_read(fd, r + got, sizeof(r) - got)) > 0)
            got += (size_t)n;
        if (got < sizeof(b) || memcmp(b, r, sizeof(b)) != 0)
            break;
        done += got;
    }
    ue_shutdown(fd, SHUT_WR);
    char c;
    ssize_t eof = ue_read(fd, &c, 1);
    ue_close(fd);
    return done == BYTES && eof == 0 ? 0 : -1;
}

static void *client(void *arg)
{
    int i = (int)(intptr_t)arg;
    results[i] = echo_once(500 + (uint32_t)i);
    return NULL;
}

static void *clients(void *arg)
{
    (void)arg;
    pthread_t t[CONNS];
    for (int i = 0; i < CONNS; i++)
        pthread_create(&t[i], NULL, client, (void *)(intptr_t)i);
    for (int i = 0; i < CONNS; i++)
        pthread_join(t[i], NULL);
    eddy_event_loop_stop(loop);
    return NULL;
}

/* Two stacks across a real-time memlink: the server's (W_IP2) and the client's (W_IP1). */
static struct ue_stack *stack_pair(struct ue_stack **client, unsigned seed)
{
    struct ue_dev *a, *b;
    if (ue_memlink_create(&a, &b, NULL, NULL, seed) != 0)
        return NULL;
    struct ue_stack_config c = {.dev = a, .prefix = 24};
    c.addr.s_addr = htonl(W_IP2);
    struct ue_stack *srv_st = ue_stack_create(&c);
    c.dev = b;
    c.addr.s_addr = htonl(W_IP1);
    *client = ue_stack_create(&c);
    return srv_st;
}

static void run_backend(const char *backend)
{
    struct ue_stack *srv_st = stack_pair(&cli, 3);
    ASSERT(srv_st != NULL && cli != NULL);
    ASSERT_EQ(eddy_event_loop_new(&loop, backend), 0);
    struct eddy_tcp_server_options o;
    eddy_tcp_server_options_init(&o);
    struct eddy_tcp_server *srv;
    ASSERT_EQ(eddy_tcp_server_new(&srv, loop, &o, &echo_cb, NULL), 0);
    ASSERT_EQ(eddy_tcp_server_start(srv), 0);
    struct eddy_ustack_driver *drv;
    ASSERT_EQ(eddy_ustack_driver_start(&drv, loop, srv_st), 0);
    struct eddy_ustack_listener *l;
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(80)};
    ASSERT_EQ(eddy_ustack_listen(&l, srv, srv_st, &la, 64), 0);
    atomic_store(&cli_stop, 0);
    pthread_t drv_t, cl_t;
    pthread_create(&drv_t, NULL, drive_client, NULL);
    pthread_create(&cl_t, NULL, clients, NULL);
    eddy_event_loop_run(loop);
    pthread_join(cl_t, NULL);
    eddy_ustack_listener_close(l);
    eddy_tcp_server_free(srv);
    eddy_ustack_driver_stop(drv);
    eddy_event_loop_free(loop);
    atomic_store(&cli_stop, 1);
    pthread_join(drv_t, NULL);
    ue_stack_destroy(cli);
    ue_stack_destroy(srv_st);
    for (int i = 0; i < CONNS; i++)
        ASSERT_EQ(results[i], 0);
}

static void test_echo_server_uepoll(void)
{
    run_backend("uepoll");
}

static void test_echo_server_uepoll_et(void)
{
    run_backend("uepoll-et");
}

/* ---- tcp_client over ustack: both stacks driven by one loop ---- */

static uint64_t cl_sent, cl_got;
static int cl_bad, cl_closed, cl_error;

static void cl_send_more(struct eddy_tcp_connection *c)
{
    static unsigned char b[16384];
    while (cl_sent < BYTES && eddy_tcp_connection_output_queued(c) < 65536) {
        gen_fill(900, cl_sent, b, sizeof(b));
        eddy_tcp_connection_send(c, b, sizeof(b));
        cl_sent += sizeof(b);
    }
}

static void cl_connected(struct eddy_tcp_connection *c)
{
    cl_send_more(c);
}

static void cl_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    size_t n = eddy_buffer_readable(in);
    if (gen_check(900, cl_got, (const unsigned char *)eddy_buffer_peek(in), n) != n)
        cl_bad = 1;
    cl_got += n;
    eddy_buffer_retrieve_all(in);
    if (cl_got == BYTES)
        eddy_tcp_connection_close(c);
    else
        cl_send_more(c);
}

static void cl_close(struct eddy_tcp_connection *c)
{
    cl_closed = 1;
    eddy_event_loop_stop(eddy_tcp_connection_loop(c));
}

static void cl_on_error(struct eddy_tcp_client *cl, int err)
{
    cl_error = err;
    eddy_event_loop_stop(eddy_tcp_client_loop(cl));
}

static const struct eddy_tcp_callbacks client_cb = {
    .on_connected = cl_connected, .on_message = cl_message, .on_close = cl_close};

/* eddy_tcp_client with eddy_transport_ustack connects through its own stack to a
 * tcp_server on another stack (a memlink between them, one loop driving both), and
 * 512 KiB go there and back byte-exact. */
static void test_tcp_client_over_ustack(void)
{
    struct ue_stack *cli_st = NULL, *srv_st = stack_pair(&cli_st, 5);
    ASSERT(srv_st != NULL && cli_st != NULL);
    ASSERT_EQ(eddy_event_loop_new(&loop, "uepoll"), 0);
    struct eddy_tcp_server *srv;
    ASSERT_EQ(eddy_tcp_server_new(&srv, loop, NULL, &echo_cb, NULL), 0);
    ASSERT_EQ(eddy_tcp_server_start(srv), 0);
    struct eddy_ustack_driver *d1, *d2;
    ASSERT_EQ(eddy_ustack_driver_start(&d1, loop, srv_st), 0);
    ASSERT_EQ(eddy_ustack_driver_start(&d2, loop, cli_st), 0);
    struct eddy_ustack_listener *l;
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(80)};
    ASSERT_EQ(eddy_ustack_listen(&l, srv, srv_st, &la, 64), 0);
    struct eddy_tcp_client_options o;
    eddy_tcp_client_options_init(&o);
    o.transport = &eddy_transport_ustack;
    struct eddy_tcp_client *cl;
    ASSERT_EQ(eddy_tcp_client_new(&cl, loop, "198.18.1.2:80", &o, &client_cb, cl_on_error, NULL),
              -EINVAL); /* no stack */
    o.stack = cli_st;
    ASSERT_EQ(eddy_tcp_client_new(&cl, loop, "198.18.1.2:80", &o, &client_cb, cl_on_error, NULL),
              0);
    ASSERT_EQ(eddy_tcp_client_connect(cl), 0);
    eddy_event_loop_run(loop);
    eddy_tcp_client_free(cl);
    eddy_ustack_listener_close(l);
    eddy_tcp_server_free(srv);
    eddy_ustack_driver_stop(d1);
    eddy_ustack_driver_stop(d2);
    eddy_event_loop_free(loop);
    ue_stack_destroy(cli_st);
    ue_stack_destroy(srv_st);
    ASSERT_EQ(cl_error, 0);
    ASSERT_EQ(cl_closed, 1);
    ASSERT_EQ(cl_bad, 0);
    ASSERT_EQ(cl_got, (uint64_t)BYTES);
}

int main(void)
{
    RUN(test_echo_server_uepoll);
    RUN(test_echo_server_uepoll_et);
    RUN(test_tcp_client_over_ustack);
    return eddy_test_done();
}
