/*
 * Running a request: the target normalised, the route looked up, the handler run (or the
 * library's own answer for what no route takes: OPTIONS *, CONNECT, bad paths, 404,
 * 405), and the connection told what follows the response.
 */
#include "http_internal.h"

static void fill_log_views(struct eddy_http_response *res, const struct eddy_http_request_head *h)
{
    size_t pos = 0;
    const struct eddy_http_header *f = eddy_http_header_find(h, "User-Agent", &pos);
    if (f)
        res->log.user_agent = f->value;
    pos = 0;
    f = eddy_http_header_find(h, "Referer", &pos);
    if (f)
        res->log.referer = f->value;
}

/* Normalises the target into ls->path. Length, or -1 for a 400. */
static ssize_t normalise(struct http_loop *ls, const struct eddy_http_request_head *h,
                         struct eddy_http_str *query)
{
    query->p = NULL;
    query->len = 0;
    if (h->form != EDDY_HTTP_FORM_ORIGIN && h->form != EDDY_HTTP_FORM_ABSOLUTE)
        return -1;
    ssize_t n = eddy_http_normalize_path(h->path.p, h->path.len, ls->path, ls->path_cap, query);
    return n < 0 ? -1 : n;
}

/* Answers requests no handler takes: OPTIONS *, CONNECT, bad paths, 404, 405. */
void eddy__http_answer_unrouted(struct eddy_http_response *res,
                                const struct eddy_http_request_head *h, ssize_t plen,
                                unsigned allow)
{
    char line[96];
    if (h->form == EDDY_HTTP_FORM_ASTERISK) {
        eddy_http_response_set_status(res, 204);
        eddy_http_response_send(res, "", 0);
    } else if (h->form == EDDY_HTTP_FORM_AUTHORITY) {
        eddy_http_response_send_error(res, 501);
    } else if (plen < 0) {
        res->close = 1; /* a client sending such targets gets no second chance */
        eddy_http_response_send_error(res, 400);
    } else if (allow) {
        int n = eddy__http_allow_header(allow, line, sizeof(line));
        if (n > 9)
            eddy_http_response_add_header_n(res, "Allow", 5, line + 7, (size_t)n - 9);
        eddy_http_response_send_error(res, 405);
    } else {
        eddy_http_response_send_error(res, 404);
    }
}

static void run_handler(struct eddy_tcp_connection *c, struct http_conn *hc,
                        const struct http_route *r)
{
    struct http_loop *ls = hc->ls;
    struct eddy_http_response *res = &ls->res;
    ls->depth++;
    res->in_handler = 1;
    r->fn(&ls->req, res, r->data);
    ls->depth--;
    res->in_handler = 0;
    if (res->deferred) {
        struct eddy_http_response *d = hc->slow ? hc->slow->deferred : NULL;
        if (d)
            d->in_handler = 0;
        if (d && hc->phase != PH_CLOSED) { /* closed: process() abandons d at its end */
            hc->phase = PH_WAIT;
            eddy__http_restart_deadline(c, hc);
            return;
        }
        /* Deferred and finished within the handler. */
        eddy__http_after_response(c, hc, (hc->flags & HC_CLOSE_AFTER) != 0);
        hc->flags &= (uint8_t)~HC_CLOSE_AFTER;
        return;
    }
    if (res->state == RES_STREAMING)
        eddy_http_response_end(res);
    else if (res->state == RES_NEW)
        eddy_http_response_send_error(res, 500);
    eddy__http_after_response(c, hc, res->close);
}

/* close_after: the connection closes after this response whatever the request says. */
void eddy__http_dispatch(struct eddy_tcp_connection *c, struct http_conn *hc,
                         const struct eddy_http_request_head *h, const char *body, size_t blen,
                         int close_after)
{
    struct http_loop *ls = hc->ls;
    struct eddy_http_server *s = ls->srv;
    struct eddy_http_request *req = &ls->req;
    struct eddy_http_response *res = &ls->res;
    hc->nreq++;
    int ka = h->keep_alive && !close_after && !(hc->flags & HC_STOPPING) &&
             hc->nreq < s->opt.keepalive_requests &&
             !atomic_load_explicit(&s->stopping, memory_order_relaxed);
    eddy__http_response_reset(res, c, ls, &eddy__http_conn_owner, h, ka);
    if (!h->keep_alive)
        hc->flags |= HC_CLIENT_CLOSE;
    if (s->opt.access_log)
        fill_log_views(res, h);
    ssize_t plen = normalise(ls, h, &req->query);
    unsigned allow = 0;
    const struct http_route *r =
        plen < 0 ? NULL : eddy__http_route_find(s, h->method_id, ls->path, (size_t)plen, &allow);
    if (!r) {
        eddy__http_answer_unrouted(res, h, plen, allow);
        eddy__http_after_response(c, hc, res->close);
        return;
    }
    req->head = h;
    req->path = ls->path;
    req->path_len = (size_t)plen;
    req->route = r;
    req->body.p = body && !(r->flags & EDDY_HTTP_ROUTE_NO_BODY) ? body : "";
    req->body.len = req->body.p == body ? blen : 0;
    req->c = c;
    req->ls = ls;
    req->keep_alive = ka;
    run_handler(c, hc, r);
}

/* The route of the head in ls->head (NULL: none takes it); *plen and *allow as for
 * answer_unrouted. */
const struct http_route *eddy__http_find_route(struct http_loop *ls, ssize_t *plen, unsigned *allow)
{
    struct eddy_http_str q;
    *allow = 0;
    *plen = normalise(ls, &ls->head, &q);
    if (*plen < 0)
        return NULL;
    return eddy__http_route_find(ls->srv, ls->head.method_id, ls->path, (size_t)*plen, allow);
}
