// A C++ program using libeddy: every public header included, a few calls from each, so
// a missing extern "C" shows up as an undefined (mangled) symbol at link time.
#include <eddy/eddy.h>
#include <eddy/http.h>
#include <eddy/http_form.h>
#include <eddy/http_parser.h>
#include <eddy/http_static.h>
#include <eddy/signal.h>
#include <eddy/tcp_client.h>
#include <eddy/tls.h>
#include <eddy/transport.h>
#include <eddy/uepoll.h>

#include <csignal>

#include <cstdio>
#include <cstring>

static int failures;

static void check(bool ok, const char *what)
{
    std::printf("%s - c++: %s\n", ok ? "ok" : "not ok", what);
    failures += ok ? 0 : 1;
}

static void on_timer(struct eddy_timer *t)
{
    int *fired = static_cast<int *>(t->data);
    ++*fired;
    eddy_event_loop_stop(t->loop);
}

static void on_signal(struct eddy_event_loop *, int, void *) {}

static void hello(struct eddy_http_request *, struct eddy_http_response *res, void *)
{
    eddy_http_response_reply(res, 200, "text/plain", "hi", 2);
}

int main()
{
    struct eddy_event_loop *loop = nullptr;
    check(eddy_event_loop_new(&loop, "epoll") == 0, "event loop created");
    if (!loop)
        return 1;

    int fired = 0;
    struct eddy_timer t;
    eddy_timer_init(&t, loop, on_timer, &fired);
    eddy_timer_start(&t, 1, 0);
    eddy_event_loop_run(loop);
    check(fired == 1, "a timer fired and stopped the loop");

    struct eddy_buffer b;
    eddy_buffer_init(&b);
    eddy_buffer_append(&b, "abc", 3);
    check(eddy_buffer_readable(&b) == 3 && std::memcmp(eddy_buffer_peek(&b), "abc", 3) == 0,
          "buffer append and peek");
    eddy_buffer_free(&b);

    union eddy_sockaddr sa;
    socklen_t len;
    char text[64];
    check(eddy_sockaddr_parse("127.0.0.1:8080", &sa, &len) == 0 &&
              eddy_sockaddr_format(&sa.sa, text, sizeof text) > 0 &&
              std::strcmp(text, "127.0.0.1:8080") == 0,
          "address parsed and formatted");

    struct eddy_http_server *srv = nullptr;
    union eddy_sockaddr bound;
    int rc = eddy_http_server_new(&srv, loop, nullptr);
    if (rc == 0)
        rc = eddy_http_server_route(srv, EDDY_HTTP_GET, "/hello", hello, nullptr);
    if (rc == 0)
        rc = eddy_http_server_listen(srv, "127.0.0.1:0", &bound);
    check(rc == 0 && eddy_sockaddr_port(&bound.sa) > 0, "http server routed and listening");
    if (srv)
        eddy_http_server_free(srv);

    check(std::strncmp(eddy_http_mime_type("a.css", 5), "text/css", 8) == 0, "mime type");

    struct eddy_http_form *form = nullptr;
    check(eddy_http_form_parse(&form, "a=1&a=2", 7) == 0 && eddy_http_form_count(form) == 2 &&
              std::strcmp(eddy_http_form_get(form, "a"), "1") == 0,
          "form decoded");
    eddy_http_form_free(form);

    check(eddy_signal_watch(loop, SIGUSR2, on_signal, nullptr) == 0 &&
              eddy_signal_unwatch(loop, SIGUSR2) == 0,
          "signal watched and unwatched");

    static const struct eddy_tcp_callbacks cb = {};
    struct eddy_tcp_client *cl = nullptr;
    check(eddy_tcp_client_new(&cl, loop, "127.0.0.1:9", nullptr, &cb, nullptr, nullptr) == 0 &&
              eddy_tcp_client_connection(cl) == nullptr,
          "tcp client created");
    eddy_tcp_client_free(cl);
    check(eddy_transport_socket.name != nullptr && eddy_tls_available() >= 0,
          "transport table and tls linked");
    int ep = ue_epoll_create1(0);
    check(ep >= 0 && ue_close(ep) == 0, "uepoll instance created and closed");

    eddy_event_loop_free(loop);
    return failures ? 1 : 0;
}
