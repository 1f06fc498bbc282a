/* --stack user: eddy-httpd on ustack over a TAP device (see user_stack.c). */
#ifndef EDDY_HTTPD_USER_STACK_H
#define EDDY_HTTPD_USER_STACK_H

#include "eddy/tcp_server.h"
#include "options.h"

struct httpd_user_stack;

/* Base loop thread, after the server started: TAP, stack, driver, listener. 0, or -1
 * after printing why (and freeing what was made; *out is then invalid). */
int httpd_user_stack_start(struct httpd_user_stack **out, struct eddy_tcp_server *tcp,
                           const struct httpd_options *o);
/* Base loop thread, while the sub-reactors still run (before the server is freed):
 * closes the listeners and stops driving the stacks. */
void httpd_user_stack_stop_accepting(struct httpd_user_stack *u);
/* After the server is freed (its connections closed): the stack and the TAP go. */
void httpd_user_stack_free(struct httpd_user_stack *u);

#endif
