#include "tls_certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[256];

static void remove_dir(void)
{
    char cmd[300];

    if (dir[0] != '\0') {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "# could not remove %s\n", dir);
    }
}

const char *eddy_test_certs(void)
{
    const char *root = getenv("EDDY_ROOT");
    char cmd[1024];

    if (dir[0] != '\0')
        return dir;
    snprintf(dir, sizeof dir, "/tmp/eddy-certs-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        dir[0] = '\0';
        return NULL;
    }
    atexit(remove_dir);
    snprintf(cmd, sizeof cmd, "bash '%s/tests/lib/gen_certs.sh' '%s'", root ? root : ".", dir);
    if (system(cmd) != 0)
        return NULL;
    return dir;
}

const char *eddy_test_cert_path(char *buf, unsigned size, const char *name)
{
    const char *d = eddy_test_certs();

    snprintf(buf, size, "%s/%s", d ? d : "/nonexistent", name);
    return buf;
}
