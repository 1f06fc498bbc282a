/* Temporary skeleton so users of eddy/http.h link while the implementation lands.
 * Every entry point fails with -ENOSYS; this file is deleted by the real implementation. */
#include "eddy/http.h"

#include <errno.h>
#include <string.h>

void eddy_http_server_options_init(struct eddy_http_server_options *o)
{
    memset(o, 0, sizeof(*o));
    eddy_tcp_server_options_init(&o->tcp);
    o->header_timeout_ms = 10000;
    o->body_timeout_ms = 30000;
    o->keepalive_timeout_ms = 75000;
    o->send_timeout_ms = 60000;
    o->server_name = "eddy";
}
int eddy_http_server_new(struct eddy_http_server **out, struct eddy_event_loop *base,
                         const struct eddy_http_server_options *o)
{
    (void)base, (void)o;
    *out = NULL;
    return -ENOSYS;
}
int eddy_http_server_route(struct eddy_http_server *s, enum eddy_http_method method,
                           const char *prefix, eddy_http_handler_fn handler, void *data)
{
    (void)s, (void)method, (void)prefix, (void)handler, (void)data;
    return -ENOSYS;
}
int eddy_http_server_listen(struct eddy_http_server *s, const char *addr,
                            union eddy_sockaddr *bound)
{
    (void)s, (void)addr, (void)bound;
    return -ENOSYS;
}
int eddy_http_server_start(struct eddy_http_server *s)
{
    (void)s;
    return -ENOSYS;
}
int eddy_http_server_stop(struct eddy_http_server *s, unsigned drain_ms,
                          void (*done)(struct eddy_http_server *s, void *arg), void *arg)
{
    (void)s, (void)drain_ms, (void)done, (void)arg;
    return -ENOSYS;
}
size_t eddy_http_server_connection_count(const struct eddy_http_server *s)
{
    (void)s;
    return 0;
}
struct eddy_tcp_server *eddy_http_server_tcp(const struct eddy_http_server *s)
{
    (void)s;
    return NULL;
}
void eddy_http_server_free(struct eddy_http_server *s)
{
    (void)s;
}
enum eddy_http_method eddy_http_request_method(const struct eddy_http_request *r)
{
    (void)r;
    return EDDY_HTTP_METHOD_UNKNOWN;
}

struct eddy_http_str eddy_http_request_method_str(const struct eddy_http_request *r)
{
    (void)r;
    return (struct eddy_http_str){"", 0};
}

struct eddy_http_str eddy_http_request_target(const struct eddy_http_request *r)
{
    (void)r;
    return (struct eddy_http_str){"", 0};
}

const char *eddy_http_request_path(const struct eddy_http_request *r)
{
    (void)r;
    return NULL;
}

size_t eddy_http_request_path_len(const struct eddy_http_request *r)
{
    (void)r;
    return 0;
}

struct eddy_http_str eddy_http_request_query(const struct eddy_http_request *r)
{
    (void)r;
    return (struct eddy_http_str){"", 0};
}

struct eddy_http_str eddy_http_request_host(const struct eddy_http_request *r)
{
    (void)r;
    return (struct eddy_http_str){"", 0};
}

int eddy_http_request_minor_version(const struct eddy_http_request *r)
{
    (void)r;
    return -ENOSYS;
}

int eddy_http_request_keep_alive(const struct eddy_http_request *r)
{
    (void)r;
    return -ENOSYS;
}

const struct eddy_http_str *eddy_http_request_header(const struct eddy_http_request *r,
                                                     const char *name)
{
    (void)r;
    (void)name;
    return NULL;
}

const struct eddy_http_header *eddy_http_request_header_next(const struct eddy_http_request *r,
                                                             const char *name, size_t *pos)
{
    (void)r;
    (void)name;
    (void)pos;
    return NULL;
}

size_t eddy_http_request_header_count(const struct eddy_http_request *r)
{
    (void)r;
    return 0;
}

const struct eddy_http_header *eddy_http_request_header_at(const struct eddy_http_request *r,
                                                           size_t i)
{
    (void)r;
    (void)i;
    return NULL;
}

const struct eddy_http_request_head *eddy_http_request_head(const struct eddy_http_request *r)
{
    (void)r;
    return 0;
}

struct eddy_http_str eddy_http_request_body(const struct eddy_http_request *r)
{
    (void)r;
    return (struct eddy_http_str){"", 0};
}

const union eddy_sockaddr *eddy_http_request_peer(const struct eddy_http_request *r)
{
    (void)r;
    return NULL;
}

struct eddy_tcp_connection *eddy_http_request_connection(const struct eddy_http_request *r)
{
    (void)r;
    return NULL;
}

struct eddy_event_loop *eddy_http_request_loop(const struct eddy_http_request *r)
{
    (void)r;
    return NULL;
}

struct eddy_http_server *eddy_http_request_server(const struct eddy_http_request *r)
{
    (void)r;
    return NULL;
}

void eddy_http_response_set_status(struct eddy_http_response *res, int status)
{
    (void)res;
    (void)status;
}

int eddy_http_response_add_header(struct eddy_http_response *res, const char *name,
                                  const char *value)
{
    (void)res;
    (void)name;
    (void)value;
    return -ENOSYS;
}

int eddy_http_response_add_header_n(struct eddy_http_response *res, const char *name,
                                    size_t name_len, const char *value, size_t value_len)
{
    (void)res;
    (void)name;
    (void)name_len;
    (void)value;
    (void)value_len;
    return -ENOSYS;
}

int eddy_http_response_set_header(struct eddy_http_response *res, const char *name,
                                  const char *value)
{
    (void)res;
    (void)name;
    (void)value;
    return -ENOSYS;
}

void eddy_http_response_set_close(struct eddy_http_response *res)
{
    (void)res;
}

int eddy_http_response_reply(struct eddy_http_response *res, int status,
                             const char *content_type, const void *body, size_t len)
{
    (void)res;
    (void)status;
    (void)content_type;
    (void)body;
    (void)len;
    return -ENOSYS;
}

int eddy_http_response_send(struct eddy_http_response *res, const void *body, size_t len)
{
    (void)res;
    (void)body;
    (void)len;
    return -ENOSYS;
}

int eddy_http_response_send_file(struct eddy_http_response *res, int fd, off_t offset,
                                 size_t len, int close_fd)
{
    (void)res;
    (void)fd;
    (void)offset;
    (void)len;
    (void)close_fd;
    return -ENOSYS;
}

int eddy_http_response_send_error(struct eddy_http_response *res, int status)
{
    (void)res;
    (void)status;
    return -ENOSYS;
}

int eddy_http_response_start(struct eddy_http_response *res, int64_t content_length)
{
    (void)res;
    (void)content_length;
    return -ENOSYS;
}

int eddy_http_response_write(struct eddy_http_response *res, const void *data, size_t len)
{
    (void)res;
    (void)data;
    (void)len;
    return -ENOSYS;
}

int eddy_http_response_end(struct eddy_http_response *res)
{
    (void)res;
    return -ENOSYS;
}

struct eddy_http_response *eddy_http_response_defer(struct eddy_http_response *res)
{
    (void)res;
    return NULL;
}

int eddy_http_response_aborted(const struct eddy_http_response *res)
{
    (void)res;
    return -ENOSYS;
}

size_t eddy_http_response_queued(const struct eddy_http_response *res)
{
    (void)res;
    return 0;
}

struct eddy_event_loop *eddy_http_response_loop(const struct eddy_http_response *res)
{
    (void)res;
    return NULL;
}

void eddy_http_response_abort(struct eddy_http_response *res)
{
    (void)res;
}

const char *eddy_http_status_reason(int status)
{
    (void)status;
    return NULL;
}
