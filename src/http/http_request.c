/* Request accessors: thin views of the per-loop parsed head. */
#include "http_internal.h"

enum eddy_http_method eddy_http_request_method(const struct eddy_http_request *r)
{
    return r->head->method_id;
}

struct eddy_http_str eddy_http_request_method_str(const struct eddy_http_request *r)
{
    return r->head->method;
}

struct eddy_http_str eddy_http_request_target(const struct eddy_http_request *r)
{
    return r->head->target;
}

const char *eddy_http_request_path(const struct eddy_http_request *r)
{
    return r->path;
}

size_t eddy_http_request_path_len(const struct eddy_http_request *r)
{
    return r->path_len;
}

struct eddy_http_str eddy_http_request_query(const struct eddy_http_request *r)
{
    return r->query;
}

struct eddy_http_str eddy_http_request_host(const struct eddy_http_request *r)
{
    return r->head->host;
}

int eddy_http_request_minor_version(const struct eddy_http_request *r)
{
    return r->head->minor_version;
}

int eddy_http_request_keep_alive(const struct eddy_http_request *r)
{
    return r->keep_alive && !r->ls->res.close;
}

const struct eddy_http_str *eddy_http_request_header(const struct eddy_http_request *r,
                                                     const char *name)
{
    size_t pos = 0;
    const struct eddy_http_header *h = eddy_http_header_find(r->head, name, &pos);
    return h ? &h->value : NULL;
}

const struct eddy_http_header *eddy_http_request_header_next(const struct eddy_http_request *r,
                                                             const char *name, size_t *pos)
{
    return eddy_http_header_find(r->head, name, pos);
}

size_t eddy_http_request_header_count(const struct eddy_http_request *r)
{
    return r->head->num_headers;
}

const struct eddy_http_header *eddy_http_request_header_at(const struct eddy_http_request *r,
                                                           size_t i)
{
    return i < r->head->num_headers ? &r->head->headers[i] : NULL;
}

const struct eddy_http_request_head *eddy_http_request_head(const struct eddy_http_request *r)
{
    return r->head;
}

struct eddy_http_str eddy_http_request_body(const struct eddy_http_request *r)
{
    return r->body;
}

const struct sockaddr *eddy_http_request_peer(const struct eddy_http_request *r)
{
    return eddy_tcp_connection_peer(r->c);
}

struct eddy_tcp_connection *eddy_http_request_connection(const struct eddy_http_request *r)
{
    return r->c;
}

struct eddy_event_loop *eddy_http_request_loop(const struct eddy_http_request *r)
{
    return r->ls->loop;
}

struct eddy_http_server *eddy_http_request_server(const struct eddy_http_request *r)
{
    return r->ls->srv;
}
