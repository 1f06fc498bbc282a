/* The whole of libeddy's reactor and network API. */
#ifndef EDDY_EDDY_H
#define EDDY_EDDY_H

#include "eddy/buffer.h"
#include "eddy/channel.h"
#include "eddy/channel_map.h"
#include "eddy/event_dispatcher.h"
#include "eddy/event_loop.h"
#include "eddy/timer.h"
#include "eddy/event_loop_thread.h"
#include "eddy/thread_pool.h"
#include "eddy/inet.h"
#include "eddy/acceptor.h"
#include "eddy/transport.h"
#include "eddy/transport_mem.h"
#include "eddy/tcp_connection.h"
#include "eddy/tcp_server.h"
#include "eddy/tcp_client.h"
#include "eddy/signal.h"

#endif
