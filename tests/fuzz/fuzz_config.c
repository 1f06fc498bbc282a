/*
 * libFuzzer target: the eddy-httpd config parser and model builder on arbitrary text
 * (includes off, document roots not opened), then the lookups a request makes.
 */
#include <stddef.h>
#include <stdint.h>

#include "../unit/httpd/httpd_conf_sources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[HTTPD_CONF_ERR_MAX];
    struct httpd_conf_tree *t;
    if (httpd_conf_parse_text("fuzz.conf", (const char *)data, size, 0, &t, err, sizeof err) < 0)
        return 0;
    struct httpd_conf_load_options o = {0};
    struct httpd_conf *c;
    if (httpd_conf_build(t, &o, &c, err, sizeof err) == 0) {
        for (int i = 0; i < c->naddrs; i++) {
            const struct httpd_server *s = httpd_conf_server(c, i, "a.example.com:80", 16);
            httpd_conf_location(s, "/img/a.png", 10);
            httpd_conf_location(s, "/", 1);
        }
        httpd_conf_unref(c);
    }
    httpd_conf_tree_free(t);
    return 0;
}
