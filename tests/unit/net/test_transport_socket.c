/* The socket transport's send_file and SIGPIPE: guarded by default, unguarded once the
 * application declared SIGPIPE ignored (eddy_transport_socket_sigpipe_ignored). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/test.h"
#include "eddy/transport.h"

#define FILE_LEN 200000

static volatile sig_atomic_t pipes_seen;

static void count_pipe(int signo)
{
    (void)signo;
    pipes_seen++;
}

static void handle_pipe(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_pipe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
}

static int make_file(void)
{
    static char buf[FILE_LEN];
    FILE *f = tmpfile();
    int fd;

    if (f == NULL)
        return -1;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)(i * 7 + 3);
    fd = dup(fileno(f));
    fclose(f);
    if (fd < 0 || pwrite(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf)
        return -1;
    return fd;
}

/* send_file to a peer that closed: -EPIPE; returns how many SIGPIPEs the handler saw. */
static int send_to_closed_peer(ssize_t *rc)
{
    struct eddy_transport t;
    int sv[2], file = make_file(), before = pipes_seen;
    off_t off = 0;

    *rc = 1;
    if (file < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    close(sv[1]);
    eddy_transport_open(&t, NULL, sv[0], NULL, EDDY_TRANSPORT_ACCEPTED);
    *rc = t.ops->send_file(&t, file, &off, FILE_LEN, EDDY_TRANSPORT_ALL);
    t.ops->close(&t);
    close(file);
    return pipes_seen - before;
}

static void test_declaration_refused_unless_ignored(void)
{
    signal(SIGPIPE, SIG_DFL);
    ASSERT_EQ(eddy_transport_socket_sigpipe_ignored(1), -EINVAL);
    handle_pipe();
    ASSERT_EQ(eddy_transport_socket_sigpipe_ignored(1), -EINVAL);
    ASSERT_EQ(eddy_transport_socket_sigpipe_ignored(0), 0);
}

/* Without the declaration the library must not depend on the disposition: a handler
 * that counts sees nothing, the SIGPIPE was blocked and consumed. */
static void test_guarded_by_default(void)
{
    ssize_t rc;

    handle_pipe();
    ASSERT_EQ(send_to_closed_peer(&rc), 0);
    ASSERT_EQ(rc, -EPIPE);
}

/* Declared: no mask around sendfile. The test breaks the promise on purpose (a counting
 * handler after the declaration) to see that the guard is really gone, then takes the
 * declaration back and the guard returns. */
static void test_unguarded_once_declared(void)
{
    ssize_t rc;

    signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(eddy_transport_socket_sigpipe_ignored(1), 0);
    ASSERT_EQ(send_to_closed_peer(&rc), 0); /* ignored: nothing delivered, no crash */
    ASSERT_EQ(rc, -EPIPE);
    handle_pipe();
    ASSERT_EQ(send_to_closed_peer(&rc), 1);
    ASSERT_EQ(rc, -EPIPE);
    ASSERT_EQ(eddy_transport_socket_sigpipe_ignored(0), 0);
    ASSERT_EQ(send_to_closed_peer(&rc), 0);
    ASSERT_EQ(rc, -EPIPE);
}

/* Declared, the bytes still arrive whole and in order. */
static void test_declared_send_file_delivers(void)
{
    static char got[FILE_LEN];
    struct eddy_transport t;
    int sv[2], file = make_file();
    off_t off = 100;
    size_t n = 0;

    signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(eddy_transport_socket_sigpipe_ignored(1), 0);
    ASSERT(file >= 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    eddy_transport_open(&t, NULL, sv[0], NULL, EDDY_TRANSPORT_ACCEPTED);
    while (n < FILE_LEN - 100) {
        ssize_t w = t.ops->send_file(&t, file, &off, FILE_LEN - 100 - (size_t)(off - 100), 0);
        ASSERT(w > 0);
        for (ssize_t r; (r = read(sv[1], got + n, sizeof got - n)) > 0;) {
            n += (size_t)r;
            if (n >= (size_t)(off - 100))
                break;
        }
    }
    ASSERT_EQ(n, FILE_LEN - 100);
    for (size_t i = 0; i < n; i++)
        if (got[i] != (char)((i + 100) * 7 + 3))
            ASSERT_EQ(i, n);
    t.ops->close(&t);
    close(sv[1]);
    close(file);
    ASSERT_EQ(eddy_transport_socket_sigpipe_ignored(0), 0);
}

/* A chunk cap: one capped sendfile per call unless EDDY_TRANSPORT_ALL asks for more. */
static void test_file_chunk_cap(void)
{
    struct eddy_transport t;
    int sv[2], file = make_file();
    off_t off = 0;

    ASSERT(file >= 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    eddy_transport_open(&t, NULL, sv[0], NULL, EDDY_TRANSPORT_ACCEPTED);
    eddy_transport_socket_set_file_chunk(4096);
    ASSERT_EQ(t.ops->send_file(&t, file, &off, FILE_LEN, 0), 4096);
    ASSERT_EQ(off, 4096);
    ASSERT_GT(t.ops->send_file(&t, file, &off, FILE_LEN - 4096, EDDY_TRANSPORT_ALL), 4096);
    eddy_transport_socket_set_file_chunk(0);
    t.ops->close(&t);
    close(sv[1]);
    close(file);
}

int main(void)
{
    RUN(test_declaration_refused_unless_ignored);
    RUN(test_guarded_by_default);
    RUN(test_unguarded_once_declared);
    RUN(test_declared_send_file_delivers);
    RUN(test_file_chunk_cap);
    return eddy_test_done();
}
