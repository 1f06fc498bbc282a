/* The config modules of eddy-httpd, compiled into a test (the app is not a library). */
#include "../../../apps/eddy-httpd/conf_parse.c"
#include "../../../apps/eddy-httpd/conf.c"
#include "../../../apps/eddy-httpd/conf_rules.c"
#include "../../../apps/eddy-httpd/errlog.c"
#include "../../../apps/eddy-httpd/conf_tls.c"
