/*
 * The send batch (src/net/send_batch.c): what on_message writes during one batch of
 * events leaves in one io_uring_enter right after the batch. Checked here: every
 * response arrives whole and once, before the loop's tasks run; a short batched send
 * (a client that reads slowly) goes on through the ordinary write path; and a callback
 * of one connection that sends on another connection of the same batch does not send
 * that one's bytes twice. Kernels without io_uring take the plain path: same results.
 */
#include <linux/io_uring.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>

#include "net_fixture.h"

#define NCLI  16
#define NLONG 40 /* clients of test_long_batch_flushes_every_16 */

static struct {
    struct eddy_tcp_connection *conns[NLONG];
    int nconns, plus_sent[NCLI], unsent_in_task, tasks;
} st;

static int conn_index(struct eddy_tcp_connection *c)
{
    for (int i = 0; i < st.nconns; i++)
        if (st.conns[i] == c)
            return i;
    return -1;
}

static void on_connected_note(struct eddy_tcp_connection *c)
{
    if (st.nconns < NLONG)
        st.conns[st.nconns++] = c;
    fx_inc(&fx_n.connected);
}

/* Answer: 'R', the request's first byte, then 1000 bytes of pattern. */
static void answer(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    char buf[1002];

    buf[0] = 'R';
    buf[1] = eddy_buffer_peek(in)[0];
    fx_pattern(buf + 2, 1000, (size_t)buf[1]);
    eddy_buffer_retrieve_all(in);
    eddy_tcp_connection_send(c, buf, sizeof buf);
}

/* A task queued by on_message runs after the batch's sends left. */
static void check_sent(void *arg)
{
    (void)arg;
    for (int i = 0; i < st.nconns; i++)
        if (eddy_tcp_connection_output_queued(st.conns[i]) > 0)
            fx_inc(&st.unsent_in_task);
    fx_inc(&st.tasks);
}

static void on_message_answer(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    answer(c, in);
    eddy_event_loop_queue_in_loop(eddy_tcp_connection_loop(c), check_sent, NULL);
}

static int read_answer(int fd, char first)
{
    char got[1002], want[1002];

    want[0] = 'R';
    want[1] = first;
    fx_pattern(want + 2, 1000, (size_t)first);
    return fx_read_n(fd, got, sizeof got) == sizeof got && memcmp(got, want, sizeof got) == 0;
}

static void test_batch_answers_each_once_before_tasks(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_note,
                                    .on_message = on_message_answer,
                                    .on_close = fx_on_close_count};
    int fds[NCLI];
    struct fx f;

    memset(&st, 0, sizeof st);
    ASSERT_EQ(fx_start_clients(&f, backend, NULL, &cb, fds, NCLI), 0);
    fx_block_loop(f.loop, 100); /* the requests pile up into one batch */
    for (int i = 0; i < NCLI; i++)
        ASSERT_EQ(fx_write_all(fds[i], (char[]){(char)('a' + i)}, 1), 0);
    for (int i = 0; i < NCLI; i++)
        ASSERT(read_answer(fds[i], (char)('a' + i)));
    ASSERT(fx_wait_ge(&st.tasks, NCLI, 5));
    ASSERT_EQ(fx_load(&st.unsent_in_task), 0);
    for (int i = 0; i < NCLI; i++)
        close(fds[i]);
    ASSERT(fx_wait_ge(&fx_n.closed, NCLI, 5));
    fx_stop(&f);
}

/* Each connection's write completion sends '+' once on every other connection. */
static void on_write_complete_plus(struct eddy_tcp_connection *c)
{
    int me = conn_index(c);

    if (me < 0 || st.plus_sent[me])
        return;
    st.plus_sent[me] = 1;
    for (int i = 0; i < st.nconns; i++)
        if (i != me)
            eddy_tcp_connection_send(st.conns[i], "+", 1);
}

/* The answer once, with nplus '+' before and after it in any split (a '+' may be sent before
 * the connection's own request was read), and nothing more. */
static int answer_among_plus(int fd, char first, int nplus)
{
    char got[1002 + 8], want[1002], extra;
    size_t n = 1002 + (size_t)nplus;
    int p = 0;

    want[0] = 'R';
    want[1] = first;
    fx_pattern(want + 2, 1000, (size_t)first);
    if (fx_read_n(fd, got, n) != n)
        return 0;
    while (p < nplus && got[p] == '+')
        p++;
    if (memcmp(got + p, want, sizeof want) != 0)
        return 0;
    for (size_t i = (size_t)p + sizeof want; i < n; i++)
        if (got[i] != '+')
            return 0;
    return recv(fd, &extra, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN; /* no doubled bytes */
}

static void test_cross_send_from_completion_not_doubled(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_note,
                                    .on_message = answer,
                                    .on_write_complete = on_write_complete_plus,
                                    .on_close = fx_on_close_count};
    enum { N = 4 };
    int fds[N];
    struct fx f;

    memset(&st, 0, sizeof st);
    ASSERT_EQ(fx_start_clients(&f, backend, NULL, &cb, fds, N), 0);
    fx_block_loop(f.loop, 100);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(fx_write_all(fds[i], (char[]){(char)('k' + i)}, 1), 0);
    for (int i = 0; i < N; i++)
        ASSERT(answer_among_plus(fds[i], (char)('k' + i), N - 1));
    for (int i = 0; i < N; i++)
        close(fds[i]);
    ASSERT(fx_wait_ge(&fx_n.closed, N, 5));
    fx_stop(&f);
}

/* A batch of 40 requests: the answers leave every 16 callbacks, not all after the 40th
 * (a pipelining client would wait idle for the whole batch). on_message of each connection
 * counts the answers of earlier connections still queued at that moment. */
static int max_waiting, saw_waiting;

static void on_message_count_waiting(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    int waiting = 0;

    for (int i = 0; i < st.nconns; i++)
        if (st.conns[i] != c && eddy_tcp_connection_output_queued(st.conns[i]) > 0)
            waiting++;
    if (waiting > max_waiting)
        max_waiting = waiting;
    saw_waiting += waiting > 0;
    answer(c, in);
}

/* io_uring usable here (else the plain path: nothing ever waits for a flush). */
static int have_uring(void)
{
    struct io_uring_params p;
    int fd;

    memset(&p, 0, sizeof p);
    fd = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

static void test_long_batch_flushes_every_16(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_note,
                                    .on_message = on_message_count_waiting,
                                    .on_close = fx_on_close_count};
    int fds[NLONG];
    struct fx f;

    memset(&st, 0, sizeof st);
    max_waiting = saw_waiting = 0;
    ASSERT_EQ(fx_start_clients(&f, backend, NULL, &cb, fds, NLONG), 0);
    fx_block_loop(f.loop, 100); /* the 40 requests pile up into one batch */
    for (int i = 0; i < NLONG; i++)
        ASSERT_EQ(fx_write_all(fds[i], (char[]){(char)('0' + i)}, 1), 0);
    for (int i = 0; i < NLONG; i++)
        ASSERT(read_answer(fds[i], (char)('0' + i)));
    for (int i = 0; i < NLONG; i++)
        close(fds[i]);
    ASSERT(fx_wait_ge(&fx_n.closed, NLONG, 5));
    fx_stop(&f); /* joins the loop thread: its counts are final */
    /* At most the 15 answers before the 16th callback of a run wait; all 39 without this. */
    ASSERT(max_waiting <= 15);
    if (strcmp(backend, "epoll") == 0 && have_uring())
        ASSERT(saw_waiting > 0); /* the batch did hold answers: the bound means something */
}

/* 4 MiB answered from on_message to a client with a small window: the batched send is
 * short and the rest follows through write readiness. */
#define BIG (4u << 20)
static char *big;

static void on_message_big(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    eddy_buffer_retrieve_all(in);
    eddy_tcp_connection_send(c, big, BIG);
}

static void test_short_batched_send_continues(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_message = on_message_big, .on_close = fx_on_close_count};
    char *got = malloc(BIG);
    int fds[2];
    struct fx f;

    big = malloc(BIG);
    ASSERT(big != NULL && got != NULL);
    fx_pattern(big, BIG, 7);
    ASSERT_EQ(fx_start(&f, backend, NULL, &cb, NULL), 0);
    for (int i = 0; i < 2; i++) /* two: a batch of one takes the plain send() */
        ASSERT((fds[i] = fx_connect(f.port, 16384)) >= 0);
    fx_block_loop(f.loop, 100);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(fx_write_all(fds[i], "go", 2), 0);
    fx_sleep_ms(150);
    for (int i = 0; i < 2; i++) {
        memset(got, 0, BIG);
        ASSERT_EQ(fx_read_n(fds[i], got, BIG), (size_t)BIG);
        ASSERT(memcmp(got, big, BIG) == 0);
        close(fds[i]);
    }
    ASSERT(fx_wait_ge(&fx_n.closed, 2, 5));
    fx_stop(&f);
    free(big);
    free(got);
}

int main(void)
{
    RUN_EACH_BACKEND(test_batch_answers_each_once_before_tasks);
    RUN_EACH_BACKEND(test_cross_send_from_completion_not_doubled);
    RUN_BACKENDS(test_short_batched_send_continues, 2);
    RUN_EACH_BACKEND(test_long_batch_flushes_every_16);
    return eddy_test_done();
}
