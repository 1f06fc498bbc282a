/*
 * A ustack on a TAP device, from the options every program that offers
 * "--stack user --tap NAME --ip ADDR/PREFIX [--gateway ADDR]" takes (eddy-httpd,
 * echo_server): one parser and one bring-up, so the programs agree on what they accept.
 */
#include "eddy/ustack_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int eddy_ustack_parse_addr(struct ue_stack_config *c, const char *cidr, const char *gateway)
{
    char buf[INET_ADDRSTRLEN];
    const char *slash = strchr(cidr, '/');
    size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
    if (n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, cidr, n);
    buf[n] = 0;
    char *end = NULL;
    long p = slash ? strtol(slash + 1, &end, 10) : 32;
    if (inet_pton(AF_INET, buf, &c->addr) != 1 || p < 0 || p > 32 ||
        (slash && (*end || end == slash + 1)))
        return -EINVAL;
    c->prefix = (unsigned)p;
    c->gateway.s_addr = 0;
    if (gateway && inet_pton(AF_INET, gateway, &c->gateway) != 1)
        return -EINVAL;
    return 0;
}

int eddy_ustack_tap_create(struct ue_stack **out, const char *tap, const char *cidr,
                           const char *gateway)
{
    struct ue_stack_config c = {0};
    int rc = eddy_ustack_parse_addr(&c, cidr, gateway);
    if (rc < 0)
        return rc;
    if ((rc = ue_tap_open(&c.dev, tap)) < 0)
        return rc;
    if (!(*out = ue_stack_create(&c))) {
        rc = errno ? -errno : -ENOMEM;
        ue_dev_destroy(c.dev);
        return rc;
    }
    return 0;
}
