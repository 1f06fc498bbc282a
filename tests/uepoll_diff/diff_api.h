/*
 * The differential scenarios (scenarios_core.inc, _more.inc, _suites.inc) are written
 * once against these macros and compiled twice into one test binary: once against the
 * kernel's calls and once against uepoll's. Include this header after defining
 * DIFF_KERNEL (or not); every function the .inc files define gets the suffix _k or _u
 * so both copies can coexist.
 */
#undef E_CREATE1
#undef E_CTL
#undef E_WAIT
#undef E_PIPE2
#undef E_EVENTFD
#undef E_READ
#undef E_WRITE
#undef E_DUP
#undef E_DUP2
#undef E_DUP3
#undef E_PWAIT
#undef E_PWAIT2
#undef E_READV
#undef E_WRITEV
#undef E_FCNTL
#undef E_CLOSE
#undef SCN
#undef SCN_CAT
#undef SCN_CAT2

#define SCN_CAT2(a, b) a##b
#define SCN_CAT(a, b)  SCN_CAT2(a, b)

#ifdef DIFF_KERNEL
#define SCN(name) SCN_CAT(name, _k)
/* Through pointers: the scenarios pass NULL and absurd sizes on purpose, which glibc's
 * access attributes would reject at compile time. */
#define E_CREATE1 diff_k.create1
#define E_CTL     diff_k.ctl
#define E_WAIT    diff_k.wait
#define E_PIPE2   diff_k.pipe2
#define E_EVENTFD diff_k.eventfd
#define E_READ    diff_k.read
#define E_WRITE   diff_k.write
#define E_DUP     diff_k.dup
#define E_DUP2    diff_k.dup2
#define E_DUP3    diff_k.dup3
#define E_PWAIT   diff_k.pwait
#define E_PWAIT2  diff_k.pwait2
#define E_READV   diff_k.readv
#define E_WRITEV  diff_k.writev
#define E_FCNTL   diff_k.fcntl
#define E_CLOSE   diff_k.close
#else
#define SCN(name) SCN_CAT(name, _u)
#define E_CREATE1 ue_epoll_create1
#define E_CTL     ue_epoll_ctl
#define E_WAIT    ue_epoll_wait
#define E_PIPE2   ue_pipe2
#define E_EVENTFD ue_eventfd
#define E_READ    ue_read
#define E_WRITE   ue_write
#define E_DUP     ue_dup
#define E_DUP2    ue_dup2
#define E_DUP3    ue_dup3
#define E_PWAIT   ue_epoll_pwait
#define E_PWAIT2  ue_epoll_pwait2
#define E_READV   ue_readv
#define E_WRITEV  ue_writev
#define E_FCNTL   ue_fcntl
#define E_CLOSE   ue_close
#endif
