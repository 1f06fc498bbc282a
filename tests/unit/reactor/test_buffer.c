#include "eddy/buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../lib/test.h"

static void test_buffer_empty_holds_no_memory(void)
{
    struct eddy_buffer b;
    eddy_buffer_init(&b);
    ASSERT(b.data == NULL);
    ASSERT_EQ(eddy_buffer_readable(&b), 0);
    ASSERT_EQ(eddy_buffer_writable(&b), 0);
    ASSERT_STR_EQ(eddy_buffer_peek(&b), "");
    ASSERT_EQ(eddy_buffer_find_crlf(&b, 0), -1);
    ASSERT_EQ(eddy_buffer_find_eol(&b, 0), -1);
    eddy_buffer_retrieve_all(&b);
    ASSERT_EQ(eddy_buffer_release(&b), 0);
    eddy_buffer_free(&b);
}

static void test_buffer_append_retrieve(void)
{
    struct eddy_buffer b = {0};
    ASSERT_EQ(eddy_buffer_append(&b, "hello ", 6), 0);
    ASSERT_EQ(eddy_buffer_append_str(&b, "world"), 0);
    ASSERT_EQ(eddy_buffer_readable(&b), 11);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), "hello world", 11);
    eddy_buffer_retrieve(&b, 6);
    ASSERT_EQ(eddy_buffer_readable(&b), 5);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), "world", 5);
    eddy_buffer_free(&b);
}

static void test_buffer_retrieve_all_rewinds(void)
{
    struct eddy_buffer b = {0};
    ASSERT_EQ(eddy_buffer_append(&b, "abcdef", 6), 0);
    eddy_buffer_retrieve(&b, 3);
    eddy_buffer_retrieve(&b, 3);
    ASSERT_EQ(b.rd, EDDY_BUFFER_PREPEND);
    ASSERT_EQ(b.wr, EDDY_BUFFER_PREPEND);
    ASSERT_EQ(eddy_buffer_append(&b, "xy", 2), 0);
    eddy_buffer_retrieve_all(&b);
    ASSERT_EQ(b.rd, EDDY_BUFFER_PREPEND);
    ASSERT_EQ(eddy_buffer_readable(&b), 0);
    eddy_buffer_free(&b);
}

static void test_buffer_grows_keeping_bytes(void)
{
    struct eddy_buffer b = {0};
    char chunk[1000];
    int i;
    for (i = 0; i < 1000; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        ASSERT_EQ(eddy_buffer_append(&b, chunk, sizeof(chunk)), 0);
    }
    ASSERT_EQ(eddy_buffer_readable(&b), 1000 * 1000);
    ASSERT_GE(b.cap, 1000 * 1000 + EDDY_BUFFER_PREPEND);
    for (i = 0; i < 1000; i++) {
        ASSERT_EQ(eddy_buffer_peek(&b)[i * 1000], 'a' + i % 26);
        ASSERT_EQ(eddy_buffer_peek(&b)[i * 1000 + 999], 'a' + i % 26);
    }
    eddy_buffer_free(&b);
}

static void test_buffer_compacts_instead_of_growing(void)
{
    struct eddy_buffer b = {0};
    char big[900];
    char *old;
    size_t cap;
    memset(big, 'z', sizeof(big));
    ASSERT_EQ(eddy_buffer_append(&b, big, sizeof(big)), 0);
    cap = b.cap;
    old = b.data;
    eddy_buffer_retrieve(&b, 800); /* 100 left, 800 consumed in front */
    ASSERT_EQ(eddy_buffer_append(&b, big, cap - 100 - EDDY_BUFFER_PREPEND - 50), 0);
    ASSERT(b.data == old);
    ASSERT_EQ(b.cap, cap);
    ASSERT_EQ(b.rd, EDDY_BUFFER_PREPEND);
    ASSERT_EQ(eddy_buffer_readable(&b), cap - EDDY_BUFFER_PREPEND - 50);
    eddy_buffer_free(&b);
}

static void test_buffer_prepend(void)
{
    struct eddy_buffer b = {0};
    uint32_t len = 5;
    ASSERT_EQ(eddy_buffer_prepend(&b, "ab", 2), 0); /* allocates on demand */
    eddy_buffer_retrieve_all(&b);
    ASSERT_EQ(eddy_buffer_append(&b, "hello", 5), 0);
    ASSERT_EQ(eddy_buffer_prepend(&b, &len, sizeof(len)), 0);
    ASSERT_EQ(eddy_buffer_readable(&b), 9);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), &len, sizeof(len));
    ASSERT_MEM_EQ(eddy_buffer_peek(&b) + 4, "hello", 5);
    ASSERT_EQ(eddy_buffer_prepend(&b, "123456789", 9), -ENOSPC);
    eddy_buffer_free(&b);
}

static void test_buffer_find(void)
{
    struct eddy_buffer b = {0};
    const char *s = "GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\n";
    ASSERT_EQ(eddy_buffer_append_str(&b, s), 0);
    ASSERT_EQ(eddy_buffer_find_crlf(&b, 0), 14);
    ASSERT_EQ(eddy_buffer_find_crlf(&b, 15), 23);
    ASSERT_EQ(eddy_buffer_find_crlfcrlf(&b, 0), 23);
    ASSERT_EQ(eddy_buffer_find_crlfcrlf(&b, 24), -1);
    ASSERT_EQ(eddy_buffer_find_eol(&b, 0), 15);
    ASSERT_EQ(eddy_buffer_find_eol(&b, 27), 31);
    ASSERT_EQ(eddy_buffer_find_eol(&b, 1000), -1);
    eddy_buffer_retrieve(&b, 16);
    ASSERT_EQ(eddy_buffer_find_crlf(&b, 0), 7);
    eddy_buffer_free(&b);
}

static void test_buffer_find_crlf_split_at_end(void)
{
    struct eddy_buffer b = {0};
    ASSERT_EQ(eddy_buffer_append_str(&b, "abc\r"), 0);
    ASSERT_EQ(eddy_buffer_find_crlf(&b, 0), -1);
    ASSERT_EQ(eddy_buffer_append_str(&b, "\n"), 0);
    ASSERT_EQ(eddy_buffer_find_crlf(&b, 0), 3);
    ASSERT_EQ(eddy_buffer_find_crlf(&b, 4), -1);
    eddy_buffer_free(&b);
}

static void test_buffer_appendf(void)
{
    struct eddy_buffer b = {0};
    char big[3000];
    ASSERT_EQ(eddy_buffer_appendf(&b, "%d-%s", 42, "x"), 0);
    ASSERT_EQ(eddy_buffer_readable(&b), 4);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), "42-x", 4);
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_EQ(eddy_buffer_appendf(&b, "[%s]", big), 0);
    ASSERT_EQ(eddy_buffer_readable(&b), 4 + 2 + 2999);
    ASSERT_EQ(eddy_buffer_peek(&b)[5], 'q');
    ASSERT_EQ(eddy_buffer_peek(&b)[4 + 2 + 2999 - 1], ']');
    eddy_buffer_free(&b);
}

static void test_buffer_move_swaps_into_empty(void)
{
    struct eddy_buffer a = {0}, b = {0};
    char *storage;
    ASSERT_EQ(eddy_buffer_append_str(&b, "payload"), 0);
    storage = b.data;
    ASSERT_EQ(eddy_buffer_move(&a, &b), 0);
    ASSERT(a.data == storage);
    ASSERT_EQ(eddy_buffer_readable(&b), 0);
    ASSERT_MEM_EQ(eddy_buffer_peek(&a), "payload", 7);
    ASSERT_EQ(eddy_buffer_append_str(&b, "+more"), 0);
    ASSERT_EQ(eddy_buffer_move(&a, &b), 0);
    ASSERT_EQ(eddy_buffer_readable(&a), 12);
    ASSERT_MEM_EQ(eddy_buffer_peek(&a), "payload+more", 12);
    ASSERT_EQ(eddy_buffer_readable(&b), 0);
    eddy_buffer_free(&a);
    eddy_buffer_free(&b);
}

static void test_buffer_release(void)
{
    struct eddy_buffer b = {0};
    ASSERT_EQ(eddy_buffer_append_str(&b, "x"), 0);
    ASSERT_EQ(eddy_buffer_release(&b), 0); /* not empty: kept */
    ASSERT(b.data != NULL);
    eddy_buffer_retrieve_all(&b);
    ASSERT_EQ(eddy_buffer_release(&b), 1);
    ASSERT(b.data == NULL);
    ASSERT_EQ(b.cap, 0);
    ASSERT_EQ(eddy_buffer_append_str(&b, "again"), 0);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), "again", 5);
    eddy_buffer_free(&b);
}

static void test_buffer_read_fd_small(void)
{
    struct eddy_buffer b = {0};
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(write(p[1], "ping", 4), 4);
    ASSERT_EQ(eddy_buffer_read_fd(&b, p[0]), 4);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), "ping", 4);
    close(p[1]);
    ASSERT_EQ(eddy_buffer_read_fd(&b, p[0]), 0); /* end of file */
    close(p[0]);
    eddy_buffer_free(&b);
}

static void test_buffer_read_fd_eagain(void)
{
    struct eddy_buffer b = {0};
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(eddy_buffer_read_fd(&b, p[0]), -EAGAIN);
    ASSERT_EQ(eddy_buffer_readable(&b), 0);
    close(p[0]);
    close(p[1]);
    eddy_buffer_free(&b);
}

/* More than the writable space plus the 64 KiB spill: two reads get it all, in order. */
static void test_buffer_read_fd_spill(void)
{
    struct eddy_buffer b = {0};
    size_t total = 100 * 1024, got = 0, i;
    char *src = malloc(total);
    int p[2];
    ASSERT(src != NULL);
    for (i = 0; i < total; i++)
        src[i] = (char)(i * 7 + i / 251);
    ASSERT_EQ(pipe(p), 0);
    ASSERT_GE(fcntl(p[1], F_SETPIPE_SZ, 256 * 1024), (int)total);
    ASSERT_EQ(write(p[1], src, total), (ssize_t)total);
    ASSERT_EQ(eddy_buffer_append_str(&b, "A"), 0); /* some writable space, far less than total */
    eddy_buffer_retrieve_all(&b);
    while (got < total) {
        ssize_t n = eddy_buffer_read_fd(&b, p[0]);
        ASSERT_GT(n, 0);
        got += (size_t)n;
    }
    ASSERT_EQ(eddy_buffer_readable(&b), total);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), src, total);
    close(p[0]);
    close(p[1]);
    free(src);
    eddy_buffer_free(&b);
}

static void test_buffer_read_fd_spill_first_read_exceeds_writable(void)
{
    struct eddy_buffer b = {0};
    char src[5000];
    int p[2];
    memset(src, 'k', sizeof(src));
    src[4999] = 'E';
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(write(p[1], src, sizeof(src)), (ssize_t)sizeof(src));
    /* No memory yet: everything lands in the spill and is appended. */
    ASSERT_EQ(eddy_buffer_read_fd(&b, p[0]), (ssize_t)sizeof(src));
    ASSERT_EQ(eddy_buffer_readable(&b), sizeof(src));
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), src, sizeof(src));
    close(p[0]);
    close(p[1]);
    eddy_buffer_free(&b);
}

static void test_buffer_write_fd(void)
{
    struct eddy_buffer b = {0};
    char out[16];
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(eddy_buffer_write_fd(&b, p[1]), 0);
    ASSERT_EQ(eddy_buffer_append_str(&b, "response"), 0);
    ASSERT_EQ(eddy_buffer_write_fd(&b, p[1]), 8);
    ASSERT_EQ(eddy_buffer_readable(&b), 0);
    ASSERT_EQ(read(p[0], out, sizeof(out)), 8);
    ASSERT_MEM_EQ(out, "response", 8);
    close(p[0]);
    ASSERT_EQ(eddy_buffer_append_str(&b, "x"), 0);
    ASSERT_EQ(eddy_buffer_write_fd(&b, p[1]), -EPIPE);
    close(p[1]);
    eddy_buffer_free(&b);
}

static void test_buffer_ensure_writable_then_commit(void)
{
    struct eddy_buffer b = {0};
    ASSERT_EQ(eddy_buffer_ensure_writable(&b, 10), 0);
    ASSERT_GE(eddy_buffer_writable(&b), 10);
    memcpy(eddy_buffer_begin_write(&b), "0123456789", 10);
    eddy_buffer_has_written(&b, 10);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), "0123456789", 10);
    ASSERT_EQ(eddy_buffer_ensure_writable(&b, (size_t)-1 / 2), -ENOMEM);
    ASSERT_MEM_EQ(eddy_buffer_peek(&b), "0123456789", 10);
    eddy_buffer_free(&b);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_buffer_empty_holds_no_memory);
    RUN(test_buffer_append_retrieve);
    RUN(test_buffer_retrieve_all_rewinds);
    RUN(test_buffer_grows_keeping_bytes);
    RUN(test_buffer_compacts_instead_of_growing);
    RUN(test_buffer_prepend);
    RUN(test_buffer_find);
    RUN(test_buffer_find_crlf_split_at_end);
    RUN(test_buffer_appendf);
    RUN(test_buffer_move_swaps_into_empty);
    RUN(test_buffer_release);
    RUN(test_buffer_read_fd_small);
    RUN(test_buffer_read_fd_eagain);
    RUN(test_buffer_read_fd_spill);
    RUN(test_buffer_read_fd_spill_first_read_exceeds_writable);
    RUN(test_buffer_write_fd);
    RUN(test_buffer_ensure_writable_then_commit);
    return eddy_test_done();
}
