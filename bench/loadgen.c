/*
 * loadgen: a STOMP 1.2 load generator (and a trivial sink broker) for the xtomp benchmark.
 *
 * One thread, one epoll loop, non-blocking sockets, large read buffers scanned in place
 * (memchr for line ends and NUL, content-length when present), and batched writes: many
 * frames are built into one per-connection buffer, written as far as the socket takes them,
 * and the rest kept for EPOLLOUT. Every run prints exactly one JSON line on stdout;
 * diagnostics go to stderr. Exit status: 0 ok, 1 usage, 2 protocol error / connection
 * failure / timeout.
 *
 * Build: gcc -O2 -Wall -Wextra -o bench/.build/loadgen bench/loadgen.c -lm
 *
 * Modes:
 *   loadgen fanout      --publishers P --subscribers S --messages N --size B --destination D
 *                       --window W | --open-loop
 *                       [--filter-header NAME [--filter-engine filter|selector|selector-like]]
 *                       (subscriber i subscribes with filter:NAME=vI, selector:NAME = 'vI' or
 *                       selector:NAME LIKE 'vI'; message n carries NAME:v(n mod S), so each message
 *                       is for exactly one subscriber; a delivery to any other counts as misrouted)
 *   loadgen queue       --producers P --consumers C --messages N --size B --destination D
 *                       --ack auto|client-individual|client [--prefetch K] --window W | --open-loop
 *   loadgen latency     --rate R --subscribers S --duration T --size B --destination D
 *   loadgen connections --count K --destination D [--hold-seconds H]
 *   loadgen sink        [--host H] --port P      (port 0: any; the port is printed on stderr)
 *                       [--login L --passcode P] [--drop-every K] [--dup-every K]  (test hooks:
 *                       check credentials; drop / duplicate every K-th delivery)
 * Common: --host (127.0.0.1) --port (61613) [--port2 P2: in fanout mode, every other subscriber
 *         (odd index) connects to P2 instead: two nodes of a cluster] --timeout (60 s; in latency mode on top of --duration)
 *         --idle-timeout (5 s: no MESSAGE arrived and no SEND could be written for this long
 *         ends a fanout or queue run, and what is missing counts as lost)
 *         --login L --passcode P --vhost H (CONNECT's host header, default localhost)
 *         --transport tcp|ws (default tcp) --path P (ws: the URL path, default /ws)
 *
 * Pacing (fanout, queue): closed loop by default, the publishers stay within --window W
 * messages (default 1000) of the slowest subscriber (fan-out) or of what the consumers took
 * of their own messages (queue: W split between the producers). --open-loop (no value)
 * drops the window: the publishers write all --messages as fast as the broker's sockets take
 * them (still non-blocking: at most 1 MiB built ahead per connection, the rest on EPOLLOUT),
 * subscribers and consumers read, check and acknowledge as in closed loop, and the run ends
 * when everything arrived or after --idle-timeout of quiet (then lost > 0, never a hang).
 * The JSON line says which: "open_loop", "window" (null in open loop), "window_waits" (how
 * often a publisher with messages left had to wait for its window: 0 in open loop),
 * "send_blocked" (how often a publisher's socket was full: the broker's push-back) and
 * "publish_s" (from the first SEND until the last was written to the socket).
 *
 * The sink stops reading the connections that send while any of its connections holds more
 * than 4 MiB unsent, until they are all under 1 MiB (an open-loop run would otherwise pile up
 * every delivery in its memory): it loses nothing, like a broker that pauses its producers.
 *
 * WebSocket (--transport ws, client modes only): each connection sends an HTTP upgrade
 * request (subprotocol v12.stomp) and waits for "101"; every STOMP frame it sends then
 * travels as one masked text frame, as browsers send them. Server frames are unwrapped in
 * place in the read buffer (payload bytes moved down over the headers, each byte once), so
 * the same STOMP scanner reads a plain byte stream; control frames are skipped, a close
 * frame ends the connection. The Sec-WebSocket-Accept value is not verified.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define RBUF_DATA ((size_t)256 * 1024)  /* read buffer of a data connection */
#define RBUF_IDLE ((size_t)4096)        /* read buffer of an idle (connections mode) connection */
#define WRITE_HIGH ((size_t)1 << 20)    /* stop building frames for a connection above this */
#define SINK_HIGH ((size_t)4 << 20)     /* sink: unsent bytes of a connection that pause the senders */
#define SINK_LOW ((size_t)1 << 20)      /* sink: ... and below which it no longer holds them */
#define MAX_FRAME ((size_t)1 << 30)
#define CONNECT_INFLIGHT 500
#define MAX_EVENTS 512

/* ------------------------------------------------------------------------------------------ */
/* utilities */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage(const char *fmt, ...)
{
    va_list ap;
    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nusage: loadgen fanout|queue|latency|connections|sink [options]  (see the top of "
          "bench/loadgen.c)\n",
          stderr);
    exit(1);
}

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx(const char *fmt, ...)
{
    va_list ap;
    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        die("out of memory (%zu x %zu bytes)", n, m);
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static inline size_t u64dec(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)p[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* frame scanner */

struct sv {
    const char *p;
    size_t n;
};

enum {
    H_CL,
    H_SEQ,
    H_TS,
    H_ACK,
    H_MSGID,
    H_MESSAGE,
    H_RECEIPT_ID,
    H_RECEIPT,
    H_DEST,
    H_ID,
    H_RUN,
    H_SUB,
    H_NUM
};

struct frame {
    struct sv cmd;         /* cmd.n == 0: only EOLs (heart-beats) were consumed */
    const char *hb, *he;   /* header lines [hb, he); he points at the blank line */
    const char *rl, *rle;  /* the first receipt header line [rl, rle), newline included */
    struct sv h[H_NUM];
    const char *body;
    size_t bodyl;
};

static const char *scan_err;

static inline int header_index(const char *k, size_t kl)
{
    switch (kl) {
    case 2:
        if (k[0] == 'i' && k[1] == 'd')
            return H_ID;
        if (k[0] == 't' && k[1] == 's')
            return H_TS;
        return -1;
    case 3:
        if (!memcmp(k, "seq", 3))
            return H_SEQ;
        if (!memcmp(k, "ack", 3))
            return H_ACK;
        if (!memcmp(k, "run", 3))
            return H_RUN;
        return -1;
    case 7:
        if (!memcmp(k, "message", 7))
            return H_MESSAGE;
        if (!memcmp(k, "receipt", 7))
            return H_RECEIPT;
        return -1;
    case 10:
        if (!memcmp(k, "message-id", 10))
            return H_MSGID;
        if (!memcmp(k, "receipt-id", 10))
            return H_RECEIPT_ID;
        return -1;
    case 11:
        return memcmp(k, "destination", 11) ? -1 : H_DEST;
    case 12:
        return memcmp(k, "subscription", 12) ? -1 : H_SUB;
    case 14:
        return memcmp(k, "content-length", 14) ? -1 : H_CL;
    default:
        return -1;
    }
}

/*
 * The colon of a header line [k, le) whose name is one of those the load generator reads (most
 * lines of a MESSAGE), found by comparing the name and its colon in place; NULL for any other
 * line, whose colon memchr finds.
 */
static inline const char *known_colon(const char *k, const char *le)
{
    size_t room = (size_t)(le - k);
#define TRY(lit) \
    if (room >= sizeof(lit) - 1 && !memcmp(k, lit, sizeof(lit) - 1)) \
        return k + sizeof(lit) - 2
    switch (k[0]) {
    case 'c': TRY("content-length:"); break;
    case 's': TRY("seq:"); TRY("subscription:"); break;
    case 'm': TRY("message-id:"); TRY("message:"); break;
    case 'd': TRY("destination:"); break;
    case 'a': TRY("ack:"); break;
    case 'r': TRY("receipt-id:"); TRY("receipt:"); TRY("run:"); break;
    case 't': TRY("ts:"); break;
    case 'i': TRY("id:"); break;
    default: break;
    }
#undef TRY
    return NULL;
}

/*
 * Scan one frame at buf[0..len). Returns the bytes consumed (> 0), 0 when the frame is
 * incomplete (*need is then the total size when known, else 0), or -1 on a malformed frame
 * (scan_err says why).
 */
static ssize_t scan_frame(const char *buf, size_t len, struct frame *f, size_t *need)
{
    const char *p = buf, *end = buf + len;
    *need = 0;
    /* EOLs between frames (heart-beats) */
    while (p < end && (*p == '\n' || *p == '\r')) {
        if (*p == '\r') {
            if (p + 1 >= end)
                break;
            if (p[1] != '\n') {
                scan_err = "CR not followed by LF between frames";
                return -1;
            }
            p += 2;
        } else {
            p++;
        }
    }
    if (p > buf) {
        f->cmd.n = 0;
        return p - buf;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return 0;
    f->cmd.p = p;
    f->cmd.n = (size_t)(nl - p);
    if (f->cmd.n && p[f->cmd.n - 1] == '\r')
        f->cmd.n--;
    if (f->cmd.n == 0) {
        scan_err = "empty command";
        return -1;
    }
    /* Which of f->h the lines set; the others are cleared once the headers end (a memset of
     * all of them per frame was a fifth of this function's time). */
    uint32_t seen = 0;
    f->rl = f->rle = NULL;
    const char *q = nl + 1;
    f->hb = q;
    for (;;) {
        if (q >= end)
            return 0;
        if (*q == '\n') {
            f->he = q;
            q++;
            break;
        }
        if (*q == '\r') {
            if (q + 1 >= end)
                return 0;
            if (q[1] == '\n') {
                f->he = q;
                q += 2;
                break;
            }
        }
        /* The line's end first, then its colon: a known name compared in place, or memchr. */
        const char *k = q;
        const char *le = memchr(q, '\n', (size_t)(end - q));
        if (!le)
            return 0;
        const char *colon = known_colon(k, le);
        if (!colon)
            colon = memchr(q, ':', (size_t)(le - q));
        if (!colon) {
            scan_err = "header line without a colon";
            return -1;
        }
        size_t kl = (size_t)(colon - k);
        const char *v = colon + 1;
        size_t vl = (size_t)(le - v);
        if (vl && v[vl - 1] == '\r')
            vl--;
        int hi = header_index(k, kl);
        if (hi >= 0 && !(seen & (1u << hi))) {
            seen |= 1u << hi;
            f->h[hi].p = v;
            f->h[hi].n = vl;
            if (hi == H_RECEIPT) {
                f->rl = k;
                f->rle = le + 1;
            }
        }
        q = le + 1;
    }
    for (uint32_t missing = ~seen & ((1u << H_NUM) - 1); missing; missing &= missing - 1) {
        int hi = __builtin_ctz(missing);
        f->h[hi].p = NULL;
        f->h[hi].n = 0;
    }
    if (f->h[H_CL].p) {
        uint64_t cl;
        if (!parse_u64(f->h[H_CL].p, f->h[H_CL].n, &cl) || cl > MAX_FRAME) {
            scan_err = "bad content-length";
            return -1;
        }
        size_t total = (size_t)(q - buf) + (size_t)cl + 1;
        if (total > len) {
            *need = total;
            return 0;
        }
        if (q[cl] != '\0') {
            scan_err = "no NUL after content-length bytes of body";
            return -1;
        }
        f->body = q;
        f->bodyl = (size_t)cl;
        return (ssize_t)total;
    }
    const char *nul = memchr(q, '\0', (size_t)(end - q));
    if (!nul)
        return 0;
    f->body = q;
    f->bodyl = (size_t)(nul - q);
    return nul + 1 - buf;
}

static inline bool cmd_is(const struct frame *f, const char *s, size_t n)
{
    return f->cmd.n == n && !memcmp(f->cmd.p, s, n);
}
#define CMD_IS(f, lit) cmd_is((f), lit, sizeof(lit) - 1)

/* ------------------------------------------------------------------------------------------ */
/* connections and buffers */

enum kind { K_CLIENT, K_SINK, K_LISTEN, K_TIMER, K_STDIN };
enum role { R_PUB, R_SUB, R_IDLE };
enum cstate { S_CONNECTING, S_WS_HANDSHAKE, S_WAIT_CONNECTED, S_WAIT_RECEIPT, S_READY, S_CLOSING, S_DONE };

struct sinksub;

struct conn {
    int fd;
    int kind;
    int role;
    int state;
    uint32_t idx;  /* publisher / subscriber index within its role */
    uint32_t id;   /* connection number */
    uint32_t events;
    bool dirty;
    bool closing;  /* sink: close once the write buffer is empty */
    bool sender;   /* sink: has sent a SEND (paused while a connection is over SINK_HIGH) */
    bool over;     /* sink: holds more than SINK_HIGH unsent bytes (until under SINK_LOW) */
    char *rb;
    size_t rcap, rs, re;
    char *wb;
    size_t wcap, wo, wl;
    /* consumer bookkeeping */
    uint64_t rx;       /* MESSAGE frames received */
    uint64_t unacked;  /* client ack mode: messages since the last ACK */
    char *ackid;
    size_t ackidl, ackidcap;
    /* sink bookkeeping */
    struct sinksub **subs;
    size_t nsubs, capsubs;
    struct conn *next_dead;
    /* WebSocket (--transport ws) */
    size_t wsmark;      /* write buffer: bytes from here on are not yet in a WebSocket frame */
    size_t rp;          /* read buffer: unwrapped STOMP bytes end here; [rp, re) is raw input */
    uint64_t ws_left;   /* payload bytes of the current server frame not yet unwrapped */
    bool ws_drop;       /* the current server frame is a control frame: skip its payload */
    bool ws_closed;     /* the server sent a close frame */
    char ws_close[128]; /* its code and reason, for the error message */
};

struct opts {
    const char *mode;
    const char *host;
    long port;
    long port2;        /* fanout: odd-indexed subscribers connect here (0: none) */
    long pubs, subs, messages, size, window, prefetch, rate, count;
    double duration, hold, timeout, idle_timeout;
    const char *dest, *ack, *login, *passcode, *vhost;
    bool have_prefetch, have_hold, have_pubs, have_subs, have_window;
    bool open_loop;    /* fanout, queue: no window, publish as fast as the sockets take it */
    bool ws;           /* --transport ws */
    const char *path;  /* --path */
    const char *filter_header; /* fanout: each subscriber filters on its own value of this header */
    const char *filter_engine; /* filter | selector | selector-like */
    long drop_every, dup_every; /* sink fault injection, for testing the checks */
};

enum { ACK_AUTO, ACK_CLIENT, ACK_INDIVIDUAL };
enum { M_FANOUT, M_QUEUE, M_LATENCY, M_CONNECTIONS, M_SINK };
enum { F_NONE, F_FILTER, F_SELECTOR, F_SELECTOR_LIKE };

struct track { /* one (subscriber, publisher) pair: what arrived of that publisher's sequence */
    uint64_t contig;   /* all n < contig arrived (in-order mode, bits == NULL) */
    uint64_t highest;  /* highest n seen + 1 */
    uint64_t distinct;
    uint64_t *bits;    /* allocated on the first gap: one bit per n */
};

static struct {
    struct opts o;
    int mode;
    int ep;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct sockaddr_storage addr2; /* --port2 */
    socklen_t addrlen2;
    char peer[128];
    uint64_t t_proc, deadline;

    struct conn **conns;
    size_t nconns, opened, connected_ok, ready;
    struct conn **pubc, **subc;
    size_t npub, nsub;

    struct conn **dirty;
    size_t ndirty, capdirty;

    int ackmode;
    int filter;             /* F_*: fanout with one filter value per subscriber */
    size_t filter_name_len;
    uint64_t ack_every;
    char runid[24];
    size_t runidl;

    /* frames we send */
    char *send_prefix; /* per publisher: "SEND\n...seq:<p>:" */
    size_t send_prefix_len;
    char *send_suffix; /* "\n\n" body NUL */
    size_t send_suffix_len;
    size_t frame_max;

    /* run state */
    bool running, done, idle_hit;
    uint64_t t_first_send, t_last_send, t_last_msg, t_now_read;
    double cpu0, cpu1;
    uint64_t *sent;       /* per publisher */
    uint64_t *minprog;    /* fanout: cached slowest progress per publisher */
    struct track *tr;     /* fanout/latency: [sub][pub] */
    uint64_t **qbits;     /* queue: per producer */
    uint64_t *qrecv;      /* queue: distinct per producer */
    uint64_t delivered, distinct_total, duplicated, reordered, stale, expected, misrouted;
    uint64_t window_waits, send_blocked, t_pub_done;
    bool msg_in_batch;

    /* latency */
    int tfd;
    uint64_t lat_total, lat_t0;
    uint64_t *samples;
    size_t nsamples, capsamples;

    /* connections mode */
    bool stdin_eof;

    /* sink */
    volatile sig_atomic_t stop;
    struct conn *graveyard;
    uint64_t sink_msgid, sink_in, sink_out, sink_dropped, sink_accepted, sink_faulted;
    struct conn **senders; /* sink: connections that sent a SEND */
    size_t nsenders, capsenders;
    size_t sink_over;      /* sink: connections over SINK_HIGH; senders are paused while > 0 */
    bool sink_paused;
    uint64_t sink_pauses;
} g;

static struct conn timer_conn = {.fd = -1, .kind = K_TIMER};
static struct conn stdin_conn = {.fd = 0, .kind = K_STDIN};

static const char *role_name(const struct conn *c)
{
    if (c->role == R_PUB)
        return g.mode == M_QUEUE ? "producer" : "publisher";
    if (c->role == R_SUB)
        return g.mode == M_QUEUE ? "consumer" : "subscriber";
    return "idle";
}

static void ep_ctl(int op, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g.ep, op, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->events = events;
}

static void set_events(struct conn *c, uint32_t events)
{
    if (c->events != events)
        ep_ctl(EPOLL_CTL_MOD, c, events);
}

static void mark_dirty(struct conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    if (g.ndirty == g.capdirty) {
        g.capdirty = g.capdirty ? g.capdirty * 2 : 256;
        g.dirty = xrealloc(g.dirty, g.capdirty * sizeof *g.dirty);
    }
    g.dirty[g.ndirty++] = c;
}

/* Room for n more bytes at c->wb + c->wl. */
static inline char *wreserve(struct conn *c, size_t n)
{
    if (c->wl + n > c->wcap) {
        if (c->wo) {
            memmove(c->wb, c->wb + c->wo, c->wl - c->wo);
            c->wl -= c->wo;
            c->wsmark -= c->wo; /* only sealed bytes are ever written: wo <= wsmark */
            c->wo = 0;
        }
        if (c->wl + n > c->wcap) {
            size_t cap = c->wcap ? c->wcap : 4096;
            while (cap < c->wl + n)
                cap *= 2;
            c->wb = xrealloc(c->wb, cap);
            c->wcap = cap;
        }
    }
    return c->wb + c->wl;
}

static inline void wcommit(struct conn *c, size_t n)
{
    c->wl += n;
    mark_dirty(c);
}

static inline void wappend(struct conn *c, const void *p, size_t n)
{
    memcpy(wreserve(c, n), p, n);
    wcommit(c, n);
}

static inline void wstr(struct conn *c, const char *s)
{
    wappend(c, s, strlen(s));
}

/* ---- WebSocket client framing (RFC 6455 5.2: client frames are masked) ---- */

#define WS_HEAD_MAX 14 /* 2 + 8 (64-bit length) + 4 (mask) */

static uint32_t ws_rand_state = 0x9e3779b9u;

static inline uint32_t ws_rand(void)
{
    uint32_t x = ws_rand_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return ws_rand_state = x;
}

static inline size_t ws_head_len(size_t n)
{
    return (n < 126 ? 2 : n < 65536 ? 4 : 10) + 4;
}

/* Write the header of a final masked text frame of n payload bytes at h; returns its length. */
static size_t ws_head(char *h, size_t n, uint32_t key)
{
    size_t i = 0;
    h[i++] = (char)0x81;
    if (n < 126) {
        h[i++] = (char)(0x80 | n);
    } else if (n < 65536) {
        h[i++] = (char)(0x80 | 126);
        h[i++] = (char)(n >> 8);
        h[i++] = (char)n;
    } else {
        h[i++] = (char)(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            h[i++] = (char)((uint64_t)n >> shift);
    }
    memcpy(h + i, &key, 4);
    return i + 4;
}

static void ws_mask(char *p, size_t n, uint32_t key)
{
    uint64_t k8 = (uint64_t)key | ((uint64_t)key << 32);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= k8;
        memcpy(p + i, &v, 8);
    }
    const unsigned char *kb = (const unsigned char *)&key;
    for (; i < n; i++)
        p[i] ^= (char)kb[i & 3];
}

/* --transport ws: wrap the bytes appended since the last seal into one WebSocket message. */
static void wseal(struct conn *c)
{
    if (!g.o.ws || c->wl == c->wsmark)
        return;
    size_t n = c->wl - c->wsmark, hl = ws_head_len(n);
    wreserve(c, hl); /* may compact: wsmark moves with the data */
    char *p = c->wb + c->wsmark;
    memmove(p + hl, p, n);
    uint32_t key = ws_rand();
    ws_head(p, n, key);
    ws_mask(p + hl, n, key);
    c->wl += hl;
    c->wsmark = c->wl;
}

static void client_write_failed(struct conn *c, int err);
static void sink_close(struct conn *c);
static void close_client(struct conn *c);

/* The read interest of a connection: none for a sink sender paused by a backlog. */
static inline uint32_t in_events(const struct conn *c)
{
    return c->sender && g.sink_paused ? 0 : EPOLLIN;
}

/* Sink: note whether c holds more than SINK_HIGH unsent bytes (until it is under SINK_LOW). */
static void sink_backlog(struct conn *c)
{
    size_t pending = c->wl - c->wo;
    if (!c->over && pending > SINK_HIGH) {
        c->over = true;
        g.sink_over++;
    } else if (c->over && pending < SINK_LOW) {
        c->over = false;
        g.sink_over--;
    }
}

/* Write as much as the socket takes; keep the rest and wait for EPOLLOUT. */
static void flush(struct conn *c)
{
    if (c->kind == K_CLIENT)
        wseal(c);
    while (c->wo < c->wl) {
        ssize_t n = write(c->fd, c->wb + c->wo, c->wl - c->wo);
        if (n > 0) {
            c->wo += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, in_events(c) | EPOLLOUT);
            if (c->kind == K_SINK)
                sink_backlog(c);
            else if (c->role == R_PUB && c->state == S_READY)
                g.send_blocked++;
            return;
        }
        if (c->kind == K_SINK) {
            sink_close(c);
            return;
        }
        client_write_failed(c, n < 0 ? errno : EPIPE);
        return;
    }
    c->wo = c->wl = c->wsmark = 0;
    if (c->kind == K_SINK && c->over)
        sink_backlog(c);
    if (c->events & EPOLLOUT)
        set_events(c, in_events(c));
    if (c->closing)
        sink_close(c); /* sink: after DISCONNECT or ERROR, once the output is out */
}

static void flush_dirty(void)
{
    /* flush() never adds to the list, but a sink close may; index loop is safe */
    for (size_t i = 0; i < g.ndirty; i++) {
        struct conn *c = g.dirty[i];
        c->dirty = false;
        if (c->fd >= 0)
            flush(c);
    }
    g.ndirty = 0;
}

/* Make room to read: compact, or grow when a frame does not fit. */
static void rroom(struct conn *c, size_t need)
{
    if (c->rs == c->re) {
        c->rs = c->re = c->rp = 0;
    } else if (c->rs && (c->rcap - c->re < c->rcap / 4 || need > c->rcap - c->rs)) {
        memmove(c->rb, c->rb + c->rs, c->re - c->rs);
        c->re -= c->rs;
        if (g.o.ws)
            c->rp -= c->rs;
        c->rs = 0;
    }
    if (g.o.ws && need)
        need += WS_HEAD_MAX; /* a partial header may follow the unwrapped bytes */
    size_t want = need > c->rcap ? need : c->rcap;
    if (c->re == c->rcap && c->rs == 0 && want == c->rcap)
        want = c->rcap * 2; /* full with one incomplete frame of unknown size */
    if (want > c->rcap) {
        if (want > MAX_FRAME + 65536)
            die("frame larger than %zu bytes on connection %u", MAX_FRAME, c->id);
        c->rb = xrealloc(c->rb, want);
        c->rcap = want;
    }
}

static struct conn *new_conn(int kind, size_t rcap)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->fd = -1;
    c->kind = kind;
    c->rcap = rcap;
    c->rb = xmalloc(rcap);
    return c;
}

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ------------------------------------------------------------------------------------------ */
/* client side: connect, CONNECT, SUBSCRIBE */

static void resolve(void)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    char port[16];
    snprintf(port, sizeof port, "%ld", g.o.port);
    int rc = getaddrinfo(g.o.host, port, &hints, &res);
    if (rc)
        die("cannot resolve %s: %s", g.o.host, gai_strerror(rc));
    memcpy(&g.addr, res->ai_addr, res->ai_addrlen);
    g.addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(g.peer, sizeof g.peer, "%s:%ld", g.o.host, g.o.port);
    if (g.o.port2) {
        snprintf(port, sizeof port, "%ld", g.o.port2);
        rc = getaddrinfo(g.o.host, port, &hints, &res);
        if (rc)
            die("cannot resolve %s: %s", g.o.host, gai_strerror(rc));
        memcpy(&g.addr2, res->ai_addr, res->ai_addrlen);
        g.addrlen2 = res->ai_addrlen;
        freeaddrinfo(res);
    }
}

static void send_connect(struct conn *c)
{
    wstr(c, "CONNECT\naccept-version:1.2\nhost:");
    wstr(c, g.o.vhost ? g.o.vhost : "localhost"); /* RabbitMQ wants its vhost, "/" */
    wstr(c, "\nheart-beat:0,0\n");
    if (g.o.login) {
        wstr(c, "login:");
        wstr(c, g.o.login);
        wstr(c, "\n");
    }
    if (g.o.passcode) {
        wstr(c, "passcode:");
        wstr(c, g.o.passcode);
        wstr(c, "\n");
    }
    wappend(c, "\n", 2); /* blank line and NUL */
    wseal(c);
    c->state = S_WAIT_CONNECTED;
}

/* --transport ws: the opening handshake (raw HTTP, not a WebSocket frame). */
static void send_ws_upgrade(struct conn *c)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "GET %s HTTP/1.1\r\nHost: %s:%ld\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: v12.stomp\r\n\r\n",
                     g.o.path, g.o.host, g.o.port);
    if (n < 0 || (size_t)n >= sizeof buf)
        usage("--path too long");
    wappend(c, buf, (size_t)n);
    c->wsmark = c->wl; /* raw bytes: not to be sealed into a frame */
    c->state = S_WS_HANDSHAKE;
}

static void open_conn(struct conn *c)
{
    int fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (connection %u)", strerror(errno), c->id);
    set_nodelay(fd);
    c->fd = fd;
    c->state = S_CONNECTING;
    bool second = g.o.port2 && c->role == R_SUB && (c->idx & 1);
    if (connect(fd, (struct sockaddr *)(second ? &g.addr2 : &g.addr), second ? g.addrlen2 : g.addrlen) < 0 &&
        errno != EINPROGRESS)
        die("connect to %s failed: %s (connection %u)", g.peer, strerror(errno), c->id);
    ep_ctl(EPOLL_CTL_ADD, c, EPOLLIN | EPOLLOUT);
}

static void open_more(void)
{
    while (g.opened < g.nconns && g.opened - g.ready < CONNECT_INFLIGHT)
        open_conn(g.conns[g.opened++]);
}

static void connect_done(struct conn *c)
{
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        err = errno;
    if (err)
        die("connect to %s failed: %s (%s connection %u)", g.peer, strerror(err), role_name(c), c->id);
    set_events(c, EPOLLIN);
    if (g.o.ws)
        send_ws_upgrade(c);
    else
        send_connect(c);
    flush(c);
}

static void send_subscribe(struct conn *c)
{
    char buf[256];
    wstr(c, "SUBSCRIBE\ndestination:");
    wstr(c, g.o.dest);
    int n = snprintf(buf, sizeof buf, "\nid:%u\nreceipt:sub-%u\n", c->idx, c->id);
    wappend(c, buf, (size_t)n);
    if (g.filter != F_NONE && c->role == R_SUB) {
        const char *h = g.o.filter_header;
        n = g.filter == F_FILTER     ? snprintf(buf, sizeof buf, "filter:%s=v%u\n", h, c->idx)
            : g.filter == F_SELECTOR ? snprintf(buf, sizeof buf, "selector:%s = 'v%u'\n", h, c->idx)
                                     : snprintf(buf, sizeof buf, "selector:%s LIKE 'v%u'\n", h, c->idx);
        wappend(c, buf, (size_t)n);
    }
    if (g.mode == M_QUEUE) {
        wstr(c, g.ackmode == ACK_AUTO ? "ack:auto\n"
                : g.ackmode == ACK_CLIENT ? "ack:client\n"
                                          : "ack:client-individual\n");
        if (g.o.have_prefetch) {
            n = snprintf(buf, sizeof buf, "prefetch-count:%ld\nactivemq.prefetchSize:%ld\n", g.o.prefetch,
                         g.o.prefetch);
            wappend(c, buf, (size_t)n);
        }
    }
    wappend(c, "\n", 2);
    wseal(c);
    c->state = S_WAIT_RECEIPT;
}

static void became_ready(struct conn *c)
{
    c->state = S_READY;
    g.ready++;
}

/* ------------------------------------------------------------------------------------------ */
/* client side: frames from the broker */

static void die_error_frame(struct conn *c, const struct frame *f) __attribute__((noreturn));
static void die_error_frame(struct conn *c, const struct frame *f)
{
    const struct sv *m = &f->h[H_MESSAGE];
    fprintf(stderr, "loadgen: ERROR frame from the broker on %s connection %u: message: %.*s\n",
            role_name(c), c->id, m->p ? (int)m->n : 9, m->p ? m->p : "(absent)");
    if (f->bodyl)
        fprintf(stderr, "loadgen: ERROR body: %.*s\n", (int)(f->bodyl > 2000 ? 2000 : f->bodyl), f->body);
    exit(2);
}

static void protocol_error(struct conn *c, const char *what, const struct frame *f) __attribute__((noreturn));
static void protocol_error(struct conn *c, const char *what, const struct frame *f)
{
    if (f)
        die("protocol error on %s connection %u: %s (frame %.*s)", role_name(c), c->id, what,
            (int)(f->cmd.n > 40 ? 40 : f->cmd.n), f->cmd.p);
    die("protocol error on %s connection %u: %s", role_name(c), c->id, what);
}

/* seq header value "P:N", on the wire "P\cN" (STOMP 1.2 escaping) or "P:N" (1.0 style) */
static bool parse_seq(const struct sv *v, uint64_t *p, uint64_t *n)
{
    if (!v->p)
        return false;
    const char *e = v->p + v->n, *q = v->p;
    while (q < e && *q >= '0' && *q <= '9')
        q++;
    size_t pl = (size_t)(q - v->p), sep;
    if (q < e && *q == ':')
        sep = 1;
    else if (q + 1 < e && q[0] == '\\' && q[1] == 'c')
        sep = 2;
    else
        return false;
    return parse_u64(v->p, pl, p) && parse_u64(q + sep, (size_t)(e - q) - sep, n);
}

static inline bool bit_test_set(uint64_t *bits, uint64_t n)
{
    uint64_t m = (uint64_t)1 << (n & 63);
    bool was = bits[n >> 6] & m;
    bits[n >> 6] |= m;
    return was;
}

/* Returns 0 new, 1 new but reordered, 2 duplicate. */
static int track_seen(struct track *t, uint64_t n, uint64_t total)
{
    if (!t->bits) {
        if (n == t->contig) {
            t->contig++;
            t->distinct++;
            t->highest = t->contig;
            return 0;
        }
        if (n < t->contig)
            return 2;
        t->bits = xcalloc((size_t)(total + 63) / 64, sizeof(uint64_t));
        for (uint64_t i = 0; i < t->contig / 64; i++)
            t->bits[i] = ~(uint64_t)0;
        for (uint64_t i = t->contig & ~(uint64_t)63; i < t->contig; i++)
            t->bits[i >> 6] |= (uint64_t)1 << (i & 63);
    }
    if (bit_test_set(t->bits, n))
        return 2;
    t->distinct++;
    if (n + 1 < t->highest)
        return 1;
    t->highest = n + 1;
    return 0;
}

static void append_ack(struct conn *c, const char *id, size_t idl)
{
    char *w = wreserve(c, idl + 16);
    memcpy(w, "ACK\nid:", 7);
    memcpy(w + 7, id, idl);
    memcpy(w + 7 + idl, "\n\n", 3);
    wcommit(c, idl + 10);
    wseal(c);
}

static void queue_ack(struct conn *c, const struct frame *f)
{
    if (g.ackmode == ACK_AUTO)
        return;
    const struct sv *a = f->h[H_ACK].p ? &f->h[H_ACK] : &f->h[H_MSGID];
    if (!a->p)
        protocol_error(c, "MESSAGE without ack and message-id headers in a client ack mode", f);
    if (g.ackmode == ACK_INDIVIDUAL) {
        append_ack(c, a->p, a->n);
        return;
    }
    if (a->n > c->ackidcap) {
        c->ackidcap = a->n * 2;
        c->ackid = xrealloc(c->ackid, c->ackidcap);
    }
    memcpy(c->ackid, a->p, a->n);
    c->ackidl = a->n;
    if (++c->unacked >= g.ack_every) {
        append_ack(c, c->ackid, c->ackidl);
        c->unacked = 0;
    }
}

static void flush_cumulative_acks(void)
{
    if (g.ackmode != ACK_CLIENT)
        return;
    for (size_t i = 0; i < g.nsub; i++) {
        struct conn *c = g.subc[i];
        if (c->unacked && c->fd >= 0) {
            append_ack(c, c->ackid, c->ackidl);
            c->unacked = 0;
        }
    }
}

static void on_message(struct conn *c, const struct frame *f)
{
    uint64_t p, n;
    if (c->state == S_CLOSING || c->role == R_IDLE)
        return;
    c->rx++;
    if (g.mode == M_QUEUE) {
        queue_ack(c, f);
        if (!f->h[H_RUN].p || f->h[H_RUN].n != g.runidl || memcmp(f->h[H_RUN].p, g.runid, g.runidl)) {
            g.stale++; /* not from this run: left in the queue by an earlier one */
            return;
        }
    }
    if (!parse_seq(&f->h[H_SEQ], &p, &n))
        protocol_error(c, "MESSAGE without a valid seq header", f);
    if (p >= g.npub || n >= (uint64_t)g.o.messages)
        protocol_error(c, "MESSAGE with a seq header out of range", f);
    g.delivered++;
    g.msg_in_batch = true;
    if (g.filter != F_NONE) {
        /* filtered fan-out: message n is for subscriber n mod S only */
        if (n % g.nsub != c->idx)
            g.misrouted++;
        struct track *t = &g.tr[(size_t)c->idx * g.npub + p];
        if (n + 1 < t->highest)
            g.reordered++;
        else
            t->highest = n + 1;
    }
    if (g.mode == M_QUEUE || g.filter != F_NONE) {
        if (bit_test_set(g.qbits[p], n)) {
            g.duplicated++;
        } else {
            g.qrecv[p]++;
            g.distinct_total++;
        }
        return;
    }
    int r = track_seen(&g.tr[(size_t)c->idx * g.npub + p], n, (uint64_t)g.o.messages);
    if (r == 2) {
        g.duplicated++;
        return;
    }
    g.distinct_total++;
    if (r == 1)
        g.reordered++;
    if (g.mode == M_LATENCY) {
        uint64_t ts;
        if (!f->h[H_TS].p || !parse_u64(f->h[H_TS].p, f->h[H_TS].n, &ts))
            protocol_error(c, "MESSAGE without a valid ts header", f);
        if (g.nsamples == g.capsamples) {
            g.capsamples = g.capsamples ? g.capsamples * 2 : 1 << 16;
            g.samples = xrealloc(g.samples, g.capsamples * sizeof *g.samples);
        }
        g.samples[g.nsamples++] = g.t_now_read > ts ? g.t_now_read - ts : 0;
    }
}

static void on_client_frame(struct conn *c, const struct frame *f)
{
    if (f->cmd.n == 0)
        return;
    if (CMD_IS(f, "MESSAGE")) {
        if (c->role == R_PUB || c->state < S_WAIT_RECEIPT)
            protocol_error(c, "unexpected MESSAGE", f);
        on_message(c, f);
    } else if (CMD_IS(f, "RECEIPT")) {
        if (c->state == S_WAIT_RECEIPT) {
            became_ready(c);
        } else if (c->state == S_CLOSING) {
            c->state = S_DONE;
        } else {
            protocol_error(c, "unexpected RECEIPT", f);
        }
    } else if (CMD_IS(f, "CONNECTED")) {
        if (c->state != S_WAIT_CONNECTED)
            protocol_error(c, "unexpected CONNECTED", f);
        g.connected_ok++;
        if (c->role == R_SUB || c->role == R_IDLE)
            send_subscribe(c);
        else
            became_ready(c);
    } else if (CMD_IS(f, "ERROR")) {
        die_error_frame(c, f);
    } else {
        protocol_error(c, "unknown frame from the broker", f);
    }
}

static void client_eof(struct conn *c, int err)
{
    if (c->state == S_CLOSING || c->state == S_DONE) {
        c->state = S_DONE;
        return;
    }
    if (err)
        die("%s connection %u to %s failed: %s", role_name(c), c->id, g.peer, strerror(err));
    if (c->ws_closed)
        die("%s connection %u: the broker (%s) closed the WebSocket without an ERROR frame (%s)", role_name(c),
            c->id, g.peer, c->ws_close[0] ? c->ws_close : "no close code");
    die("%s connection %u closed by the broker (%s) without an ERROR frame", role_name(c), c->id, g.peer);
}

/* --transport ws: the server's answer to the upgrade request. False while incomplete. */
static bool ws_handshake_done(struct conn *c)
{
    const char *b = c->rb + c->rs, *end = memmem(b, c->re - c->rs, "\r\n\r\n", 4);
    if (!end) {
        if (c->re - c->rs > 16384)
            protocol_error(c, "no end of the HTTP response to the WebSocket upgrade", NULL);
        return false;
    }
    if (c->re - c->rs < 12 || memcmp(b, "HTTP/1.1 101", 12)) {
        const char *eol = memchr(b, '\r', (size_t)(end - b));
        die("WebSocket upgrade refused by %s%s on %s connection %u: %.*s", g.peer, g.o.path, role_name(c), c->id,
            (int)(eol - b), b);
    }
    c->rs += (size_t)(end + 4 - b);
    c->rp = c->rs;
    send_connect(c);
    flush(c);
    return true;
}

/*
 * --transport ws: unwrap the server frames in [rp, re) in place. Payload bytes are moved
 * down to rp (each byte once), headers and control frames dropped; what is left after rp
 * is at most a partial header. A close frame sets ws_closed.
 */
static void ws_unwrap(struct conn *c)
{
    char *b = c->rb;
    size_t r = c->rp, w = c->rp, e = c->re;
    while (r < e) {
        if (c->ws_left) {
            size_t m = e - r < c->ws_left ? e - r : (size_t)c->ws_left;
            if (!c->ws_drop) {
                if (w != r)
                    memmove(b + w, b + r, m);
                w += m;
            }
            r += m;
            c->ws_left -= m;
            continue;
        }
        if (e - r < 2)
            break;
        unsigned char h0 = (unsigned char)b[r], h1 = (unsigned char)b[r + 1];
        size_t hl = 2;
        uint64_t len = h1 & 0x7f;
        if (h1 & 0x80)
            protocol_error(c, "the server sent a masked WebSocket frame", NULL);
        if (len == 126) {
            if (e - r < 4)
                break;
            len = (uint64_t)(unsigned char)b[r + 2] << 8 | (unsigned char)b[r + 3];
            hl = 4;
        } else if (len == 127) {
            if (e - r < 10)
                break;
            len = 0;
            for (int i = 2; i < 10; i++)
                len = len << 8 | (unsigned char)b[r + i];
            hl = 10;
        }
        int opcode = h0 & 0x0f;
        if (opcode >= 0x8) {
            c->ws_drop = true; /* ping, pong, close: xtomp never pings, so no pong is owed */
            if (opcode == 0x8) {
                c->ws_closed = true;
                if (len >= 2 && len <= 125 && e - r >= hl + len) {
                    unsigned code = (unsigned)(unsigned char)b[r + hl] << 8 | (unsigned char)b[r + hl + 1];
                    snprintf(c->ws_close, sizeof c->ws_close, "close code %u, reason '%.*s'", code,
                             (int)len - 2, b + r + hl + 2);
                }
            }
        } else {
            c->ws_drop = false;
        }
        c->ws_left = len;
        r += hl;
    }
    if (r < e && w != r)
        memmove(b + w, b + r, e - r);
    c->re = w + (e - r);
    c->rp = w;
}

/* Returns false at EOF / error (already handled). */
static bool client_read(struct conn *c)
{
    rroom(c, 0);
    ssize_t n = read(c->fd, c->rb + c->re, c->rcap - c->re);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return true;
        client_eof(c, errno);
        return false;
    }
    if (n == 0) {
        client_eof(c, 0);
        return false;
    }
    c->re += (size_t)n;
    g.t_now_read = now_ns();
    g.msg_in_batch = false;
    if (g.o.ws) {
        if (c->state == S_WS_HANDSHAKE && !ws_handshake_done(c))
            return true;
        ws_unwrap(c);
    }
    for (;;) {
        struct frame f;
        size_t need;
        ssize_t k = scan_frame(c->rb + c->rs, (g.o.ws ? c->rp : c->re) - c->rs, &f, &need);
        if (k < 0)
            protocol_error(c, scan_err, NULL);
        if (k == 0) {
            if (need)
                rroom(c, need);
            break;
        }
        c->rs += (size_t)k;
        on_client_frame(c, &f);
        if (c->fd < 0)
            return false;
    }
    if (c->rs == c->re)
        c->rs = c->re = c->rp = 0;
    if (g.msg_in_batch)
        g.t_last_msg = g.t_now_read;
    if (c->ws_closed) { /* the server ended the WebSocket: as good as EOF */
        client_eof(c, 0);
        return false;
    }
    return true;
}

/* A write failed: the broker may have sent an ERROR before closing; report it if so. */
static void client_write_failed(struct conn *c, int err)
{
    if (c->state == S_CLOSING || c->state == S_DONE) {
        c->state = S_DONE;
        close_client(c);
        return;
    }
    int fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {.tv_usec = 200000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint64_t until = now_ns() + 1000000000ull;
    while (now_ns() < until && client_read(c))
        ;
    die("write to %s failed on %s connection %u: %s", g.peer, role_name(c), c->id, strerror(err));
}

static void close_client(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* the client event loop */

static void stdin_read(void);
static void latency_tick(void);

static void pass(int timeout_ms)
{
    struct epoll_event ev[MAX_EVENTS];
    int n = epoll_wait(g.ep, ev, MAX_EVENTS, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return;
        die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        struct conn *c = ev[i].data.ptr;
        uint32_t e = ev[i].events;
        if (c->kind == K_TIMER) {
            latency_tick();
            continue;
        }
        if (c->kind == K_STDIN) {
            stdin_read();
            continue;
        }
        if (c->fd < 0)
            continue;
        if (c->state == S_CONNECTING) {
            connect_done(c);
            continue;
        }
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
            if (!client_read(c))
                continue;
        if ((e & EPOLLOUT) && c->fd >= 0)
            flush(c);
    }
    if (n == 0 && g.mode == M_QUEUE)
        flush_cumulative_acks();
}

static int ms_until(uint64_t t, uint64_t now)
{
    if (t <= now)
        return 0;
    uint64_t ms = (t - now + 999999) / 1000000;
    return ms > 1000 ? 1000 : (int)ms;
}

static void check_deadline(const char *phase)
{
    if (now_ns() > g.deadline)
        die("timeout: %.1f s passed (%s; --timeout)", g.o.timeout, phase);
}

static void setup_clients(size_t npub, size_t nsub, int role_for_subs, size_t rcap)
{
    g.npub = npub;
    g.nsub = nsub;
    g.nconns = npub + nsub;
    g.conns = xcalloc(g.nconns, sizeof *g.conns);
    g.pubc = xcalloc(npub, sizeof *g.pubc);
    g.subc = xcalloc(nsub, sizeof *g.subc);
    /* subscribers first, so they are subscribed before any publisher is ready */
    for (size_t i = 0; i < nsub; i++) {
        struct conn *c = new_conn(K_CLIENT, rcap);
        c->role = role_for_subs;
        c->idx = (uint32_t)i;
        c->id = (uint32_t)i;
        g.subc[i] = g.conns[i] = c;
    }
    for (size_t i = 0; i < npub; i++) {
        struct conn *c = new_conn(K_CLIENT, rcap);
        c->role = R_PUB;
        c->idx = (uint32_t)i;
        c->id = (uint32_t)(nsub + i);
        g.pubc[i] = g.conns[nsub + i] = c;
    }
    while (g.ready < g.nconns) {
        open_more();
        flush_dirty();
        check_deadline("connecting and subscribing");
        pass(ms_until(g.deadline, now_ns()));
        flush_dirty();
    }
}

/* Send DISCONNECT (after the last cumulative ACKs), wait for the receipts, close. */
static void teardown_clients(void)
{
    flush_cumulative_acks();
    for (size_t i = 0; i < g.nconns; i++) {
        struct conn *c = g.conns[i];
        if (c->fd < 0)
            continue;
        wstr(c, "DISCONNECT\nreceipt:bye\n\n");
        wappend(c, "", 1);
        wseal(c);
        c->state = S_CLOSING;
    }
    flush_dirty();
    uint64_t until = now_ns() + 3000000000ull;
    for (;;) {
        size_t open = 0;
        for (size_t i = 0; i < g.nconns; i++) {
            struct conn *c = g.conns[i];
            if (c->fd >= 0 && c->state == S_DONE)
                close_client(c);
            if (c->fd >= 0)
                open++;
        }
        if (!open)
            break;
        uint64_t now = now_ns();
        if (now > until) {
            warnx("%zu connections did not answer DISCONNECT within 3 s; closing them", open);
            break;
        }
        pass(ms_until(until, now));
        flush_dirty();
    }
    for (size_t i = 0; i < g.nconns; i++)
        close_client(g.conns[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* building SEND frames */

static void build_send_templates(bool with_run)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "SEND\ndestination:%s\ncontent-length:%ld\n%s%s%s", g.o.dest, g.o.size,
                     with_run ? "run:" : "", with_run ? g.runid : "", with_run ? "\n" : "");
    if (n < 0 || (size_t)n >= sizeof buf - 32)
        usage("destination too long");
    g.send_prefix = xmalloc((size_t)n + 8);
    memcpy(g.send_prefix, buf, (size_t)n);
    memcpy(g.send_prefix + n, "seq:", 4);
    g.send_prefix_len = (size_t)n + 4;
    g.send_suffix_len = 2 + (size_t)g.o.size + 1;
    g.send_suffix = xmalloc(g.send_suffix_len);
    g.send_suffix[0] = '\n';
    g.send_suffix[1] = '\n';
    for (long i = 0; i < g.o.size; i++)
        g.send_suffix[2 + i] = (char)('a' + i % 26);
    g.send_suffix[g.send_suffix_len - 1] = '\0';
    /* prefix + "P:" + n + "\nts:" + ts + suffix */
    g.frame_max = g.send_prefix_len + 21 + 20 + 4 + 20 + g.send_suffix_len;
    if (g.filter != F_NONE)
        g.frame_max += 1 + g.filter_name_len + 2 + 20; /* "\nNAME:v" + value */
}

/* Append k SEND frames for publisher p starting at sequence number n0 (--transport ws: each
 * in a masked WebSocket frame of its own, written after room for the largest header and
 * moved down once its length is known). */
static void build_sends(struct conn *c, uint64_t p, uint64_t n0, uint64_t k, uint64_t ts)
{
    size_t room = g.o.ws ? WS_HEAD_MAX : 0;
    char *w0 = wreserve(c, (size_t)k * (g.frame_max + room)), *w = w0;
    char pfx[24];
    size_t pl = u64dec(pfx, p);
    pfx[pl++] = '\\'; /* "P\cN": a colon in a header value is escaped in STOMP 1.2 */
    pfx[pl++] = 'c';
    for (uint64_t i = 0; i < k; i++) {
        char *start = w + room, *f = start;
        memcpy(f, g.send_prefix, g.send_prefix_len);
        f += g.send_prefix_len;
        memcpy(f, pfx, pl);
        f += pl;
        f += u64dec(f, n0 + i);
        if (g.filter != F_NONE) {
            *f++ = '\n';
            memcpy(f, g.o.filter_header, g.filter_name_len);
            f += g.filter_name_len;
            memcpy(f, ":v", 2);
            f += 2;
            f += u64dec(f, (n0 + i) % g.nsub);
        }
        if (ts) {
            memcpy(f, "\nts:", 4);
            f += 4;
            f += u64dec(f, ts);
        }
        memcpy(f, g.send_suffix, g.send_suffix_len);
        f += g.send_suffix_len;
        if (room) {
            size_t n = (size_t)(f - start), hl = ws_head_len(n);
            uint32_t key = ws_rand();
            memmove(w + hl, start, n);
            ws_head(w, n, key);
            ws_mask(w + hl, n, key);
            w += hl + n;
        } else {
            w = f;
        }
    }
    wcommit(c, (size_t)(w - w0));
    if (room)
        c->wsmark = c->wl;
}

static void start_measurement(void)
{
    g.running = true;
    g.t_first_send = g.t_last_msg = now_ns();
    g.cpu0 = cpu_seconds();
}

/* One round of sending (closed loop: within the window; --open-loop: all that fits in the
 * write buffers); returns true when it could send more right away. */
static bool generate_sends(void)
{
    bool busy = false;
    uint64_t total = (uint64_t)g.o.messages;
    uint64_t per_frame = g.frame_max;
    for (size_t p = 0; p < g.npub; p++) {
        struct conn *c = g.pubc[p];
        uint64_t s = g.sent[p];
        if (s >= total)
            continue;
        uint64_t window = (uint64_t)g.o.window, prog;
        if (g.o.open_loop) {
            window = total;
            prog = 0;
        } else if (g.mode == M_FANOUT && g.filter == F_NONE) {
            if (s >= g.minprog[p] + window) {
                uint64_t m = UINT64_MAX;
                for (size_t i = 0; i < g.nsub; i++) {
                    uint64_t h = g.tr[i * g.npub + p].highest;
                    if (h < m)
                        m = h;
                }
                g.minprog[p] = m;
            }
            prog = g.minprog[p];
        } else {
            window = window / g.npub ? window / g.npub : 1;
            prog = g.qrecv[p];
        }
        uint64_t limit = prog + window < total ? prog + window : total;
        if (s >= limit) {
            g.window_waits++;
            continue;
        }
        size_t pending = c->wl - c->wo;
        if (pending >= WRITE_HIGH)
            continue;
        uint64_t k = limit - s, room = (WRITE_HIGH - pending) / per_frame + 1;
        if (k > room)
            k = room;
        build_sends(c, p, s, k, 0);
        g.sent[p] = s + k;
        g.t_last_send = now_ns();
        flush(c);
        if (c->fd >= 0 && c->wl == 0 && g.sent[p] < limit)
            busy = true;
    }
    return busy;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON output */

static char json[8192];
static size_t jl;

static void jraw(const char *s)
{
    size_t n = strlen(s);
    if (jl + n >= sizeof json)
        die("JSON line too long");
    memcpy(json + jl, s, n);
    jl += n;
}

static void jkey(const char *k)
{
    jraw(jl > 1 ? ",\"" : "\"");
    jraw(k);
    jraw("\":");
}

static void jstr(const char *k, const char *v)
{
    char buf[1024];
    size_t n = 0;
    jkey(k);
    buf[n++] = '"';
    for (const char *p = v; *p && n < sizeof buf - 8; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)ch;
        } else if (ch < 0x20) {
            n += (size_t)snprintf(buf + n, 7, "\\u%04x", ch);
        } else {
            buf[n++] = (char)ch;
        }
    }
    buf[n++] = '"';
    buf[n] = 0;
    jraw(buf);
}

static void jint(const char *k, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    jkey(k);
    jraw(buf);
}

static void jdbl(const char *k, double v)
{
    char buf[64];
    if (!isfinite(v))
        snprintf(buf, sizeof buf, "null");
    else if (fabs(v) >= 1e5)
        snprintf(buf, sizeof buf, "%.0f", v);
    else
        snprintf(buf, sizeof buf, "%.6g", v);
    jkey(k);
    jraw(buf);
}

static void jbool(const char *k, bool v)
{
    jkey(k);
    jraw(v ? "true" : "false");
}

static void jbegin(const char *mode)
{
    jl = 0;
    jraw("{");
    jstr("mode", mode);
}

static void jcommon_target(void)
{
    jstr("host", g.o.host);
    jint("port", g.o.port);
    if (g.o.port2)
        jint("port2", g.o.port2);
    jstr("transport", g.o.ws ? "ws" : "tcp");
    if (g.o.ws)
        jstr("path", g.o.path);
}

static void jcpu(double elapsed, double cpu)
{
    jdbl("elapsed_s", elapsed);
    jdbl("loadgen_cpu_s", cpu);
    jdbl("loadgen_cpu_share", elapsed > 0 ? cpu / elapsed : 0.0);
}

/* fanout, queue: the pacing */
static void jwindow(void)
{
    jbool("open_loop", g.o.open_loop);
    if (g.o.open_loop)
        jraw(",\"window\":null");
    else
        jint("window", g.o.window);
}

static void jend(void)
{
    jraw("}\n");
    fwrite(json, 1, jl, stdout);
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------------ */
/* modes: fanout and queue */

/* A filtered fan-out is done once every subscriber has its own messages, but a broker that
 * misroutes may still have stray copies in flight: listen through a short quiet spell (0.2 s,
 * or the idle timeout if shorter) so that they are counted. A correct broker sends nothing
 * more, so the measured elapsed time (up to the last MESSAGE) does not change. */
static void drain_misrouted(uint64_t idle_ns)
{
    uint64_t quiet_ns = idle_ns < 200000000u ? idle_ns : 200000000u;
    for (;;) {
        uint64_t now = now_ns();
        if (now - g.t_last_msg >= quiet_ns)
            return;
        pass(ms_until(g.t_last_msg + quiet_ns, now));
    }
}

/* Every publisher has written all its SENDs to its socket: note when (publish_s). */
static void note_published(uint64_t now)
{
    for (size_t p = 0; p < g.npub; p++)
        if (g.sent[p] < (uint64_t)g.o.messages || g.pubc[p]->wl > g.pubc[p]->wo)
            return;
    g.t_pub_done = now;
}

static void run_load(void)
{
    bool queue = g.mode == M_QUEUE;
    uint64_t P = (uint64_t)g.o.pubs, S = (uint64_t)g.o.subs, N = (uint64_t)g.o.messages;
    g.sent = xcalloc(P, sizeof *g.sent);
    if (queue || g.filter != F_NONE) {
        g.qbits = xcalloc(P, sizeof *g.qbits);
        for (uint64_t p = 0; p < P; p++)
            g.qbits[p] = xcalloc((size_t)(N + 63) / 64, sizeof(uint64_t));
        g.qrecv = xcalloc(P, sizeof *g.qrecv);
        g.expected = P * N;
    }
    if (!queue) {
        g.minprog = xcalloc(P, sizeof *g.minprog);
        g.tr = xcalloc(P * S, sizeof *g.tr);
        if (g.filter == F_NONE)
            g.expected = P * S * N;
    }
    build_send_templates(queue);
    uint64_t t_setup = now_ns();
    setup_clients((size_t)P, (size_t)S, R_SUB, RBUF_DATA);
    double setup_s = (double)(now_ns() - t_setup) / 1e9;

    start_measurement();
    uint64_t idle_ns = (uint64_t)(g.o.idle_timeout * 1e9);
    for (;;) {
        bool busy = generate_sends();
        flush_dirty();
        uint64_t now = now_ns();
        if (!g.t_pub_done)
            note_published(now);
        if (g.distinct_total >= g.expected)
            break;
        check_deadline("running");
        /* quiet: no MESSAGE arrived and no SEND was written (room in a publisher's buffer) */
        uint64_t active = g.t_last_msg > g.t_last_send ? g.t_last_msg : g.t_last_send;
        if (now - active > idle_ns) {
            g.idle_hit = true;
            break;
        }
        int t = busy ? 0 : ms_until(active + idle_ns + 1, now);
        if (queue && g.ackmode == ACK_CLIENT && t > 50)
            t = 50;
        pass(t);
    }
    g.cpu1 = cpu_seconds();
    if (g.idle_hit)
        warnx("no message for %.1f s (--idle-timeout): %" PRIu64 " of %" PRIu64 " expected deliveries arrived",
              g.o.idle_timeout, g.distinct_total, g.expected);
    else if (g.filter != F_NONE)
        drain_misrouted(idle_ns);
    teardown_clients();

    uint64_t published = 0;
    for (uint64_t p = 0; p < P; p++)
        published += g.sent[p];
    double elapsed = (double)(g.t_last_msg - g.t_first_send) / 1e9;
    double cpu = g.cpu1 - g.cpu0;
    uint64_t lost = g.expected - g.distinct_total;
    double publish_s = g.t_pub_done ? (double)(g.t_pub_done - g.t_first_send) / 1e9 : NAN;
    if (!queue) {
        jbegin("fanout");
        jcommon_target();
        jint("publishers", (int64_t)P);
        jint("subscribers", (int64_t)S);
        jint("messages", (int64_t)N);
        jint("size", g.o.size);
        jstr("destination", g.o.dest);
        jwindow();
        jint("published", (int64_t)published);
        jint("expected", (int64_t)g.expected);
        jint("delivered", (int64_t)g.delivered);
        jint("lost", (int64_t)lost);
        jint("duplicated", (int64_t)g.duplicated);
        jint("reordered", (int64_t)g.reordered);
        if (g.filter != F_NONE) {
            jstr("filter_header", g.o.filter_header);
            jstr("filter_engine", g.o.filter_engine);
            jint("misrouted", (int64_t)g.misrouted);
        }
        jdbl("deliveries_per_s", elapsed > 0 ? (double)g.delivered / elapsed : 0.0);
        jdbl("messages_per_s", elapsed > 0 ? (double)published / elapsed : 0.0);
    } else {
        jbegin("queue");
        jcommon_target();
        jint("producers", (int64_t)P);
        jint("consumers", (int64_t)S);
        jint("messages", (int64_t)N);
        jint("size", g.o.size);
        jstr("destination", g.o.dest);
        jstr("ack", g.o.ack);
        if (g.o.have_prefetch)
            jint("prefetch", g.o.prefetch);
        else
            jraw(",\"prefetch\":null");
        jwindow();
        jint("sent", (int64_t)published);
        jint("received", (int64_t)g.delivered);
        jint("lost", (int64_t)lost);
        jint("duplicated", (int64_t)g.duplicated);
        jint("stale", (int64_t)g.stale);
        jdbl("msgs_per_s", elapsed > 0 ? (double)g.distinct_total / elapsed : 0.0);
        jkey("per_consumer");
        jraw("[");
        for (uint64_t i = 0; i < S; i++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%s%" PRIu64, i ? "," : "", g.subc[i]->rx);
            jraw(buf);
        }
        jraw("]");
    }
    jint("window_waits", (int64_t)g.window_waits);
    jint("send_blocked", (int64_t)g.send_blocked);
    jdbl("publish_s", publish_s);
    jbool("idle_timeout_hit", g.idle_hit);
    jdbl("setup_s", setup_s);
    jcpu(elapsed, cpu);
    jend();
}

/* ------------------------------------------------------------------------------------------ */
/* mode: latency */

static void latency_send_due(uint64_t now)
{
    struct conn *c = g.pubc[0];
    uint64_t due = (uint64_t)((double)(now - g.lat_t0) * (double)g.o.rate / 1e9) + 1;
    if (due > g.lat_total)
        due = g.lat_total;
    uint64_t s = g.sent[0];
    if (due <= s)
        return;
    if (c->wl - c->wo > ((size_t)64 << 20))
        return; /* the broker is not reading: do not grow without bound; these go later */
    uint64_t k = due - s;
    if (!g.t_first_send)
        g.t_first_send = now;
    /* large bursts (only after a stall) go out in pieces with fresh timestamps */
    while (k) {
        uint64_t b = k > 4096 ? 4096 : k;
        build_sends(c, 0, s, b, now_ns());
        s += b;
        k -= b;
    }
    g.sent[0] = s;
    g.t_last_send = now;
    flush(c);
    if (s >= g.lat_total) {
        struct itimerspec off = {0};
        timerfd_settime(g.tfd, 0, &off, NULL);
    }
}

static void latency_tick(void)
{
    uint64_t exp;
    if (read(g.tfd, &exp, sizeof exp) < 0 && errno != EAGAIN)
        die("timerfd read: %s", strerror(errno));
    if (g.sent[0] < g.lat_total)
        latency_send_due(now_ns());
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(double q)
{
    if (!g.nsamples)
        return NAN;
    size_t i = (size_t)ceil(q * (double)g.nsamples);
    if (i > 0)
        i--;
    if (i >= g.nsamples)
        i = g.nsamples - 1;
    return (double)g.samples[i] / 1e6;
}

static void run_latency(void)
{
    uint64_t S = (uint64_t)g.o.subs;
    g.lat_total = (uint64_t)llround((double)g.o.rate * g.o.duration);
    if (g.lat_total == 0)
        usage("--rate x --duration gives no messages");
    g.o.messages = (long)g.lat_total; /* seq range check */
    g.sent = xcalloc(1, sizeof *g.sent);
    g.tr = xcalloc(S, sizeof *g.tr);
    g.expected = S * g.lat_total;
    g.capsamples = (size_t)g.expected;
    g.samples = xmalloc(g.capsamples * sizeof *g.samples);
    build_send_templates(false);
    uint64_t t_setup = now_ns();
    setup_clients(1, (size_t)S, R_SUB, RBUF_DATA);
    double setup_s = (double)(now_ns() - t_setup) / 1e9;

    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g.tfd < 0)
        die("timerfd_create: %s", strerror(errno));
    timer_conn.fd = g.tfd;
    ep_ctl(EPOLL_CTL_ADD, &timer_conn, EPOLLIN);
    start_measurement();
    g.t_first_send = 0;
    g.lat_t0 = now_ns();
    g.deadline += (uint64_t)(g.o.duration * 1e9); /* --timeout counts beyond the schedule */
    struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
    timerfd_settime(g.tfd, 0, &its, NULL);
    latency_send_due(g.lat_t0);
    flush_dirty();

    uint64_t idle_ns = (uint64_t)(g.o.idle_timeout * 1e9);
    for (;;) {
        if (g.sent[0] >= g.lat_total && g.distinct_total >= g.expected)
            break;
        uint64_t now = now_ns();
        check_deadline("running");
        if (now - g.t_last_msg > idle_ns) {
            g.idle_hit = true;
            break;
        }
        pass(ms_until(g.t_last_msg + idle_ns + 1, now));
        flush_dirty();
    }
    g.cpu1 = cpu_seconds();
    if (g.idle_hit)
        warnx("no message for %.1f s (--idle-timeout): %" PRIu64 " of %" PRIu64 " expected deliveries arrived",
              g.o.idle_timeout, g.distinct_total, g.expected);
    ep_ctl(EPOLL_CTL_DEL, &timer_conn, 0);
    close(g.tfd);
    teardown_clients();

    qsort(g.samples, g.nsamples, sizeof *g.samples, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < g.nsamples; i++)
        sum += (double)g.samples[i];
    uint64_t sent = g.sent[0];
    double send_span = (double)(g.t_last_send - g.t_first_send) / 1e9;
    double elapsed = (double)(g.t_last_msg - g.lat_t0) / 1e9;
    jbegin("latency");
    jcommon_target();
    jint("rate", g.o.rate);
    jint("subscribers", (int64_t)S);
    jdbl("duration", g.o.duration);
    jint("size", g.o.size);
    jstr("destination", g.o.dest);
    jint("sent", (int64_t)sent);
    jdbl("achieved_rate", sent > 1 && send_span > 0 ? (double)(sent - 1) / send_span : 0.0);
    jint("count", (int64_t)g.nsamples);
    jint("lost", (int64_t)(g.expected - g.distinct_total));
    jint("duplicated", (int64_t)g.duplicated);
    jint("reordered", (int64_t)g.reordered);
    jdbl("min_ms", g.nsamples ? (double)g.samples[0] / 1e6 : NAN);
    jdbl("mean_ms", g.nsamples ? sum / (double)g.nsamples / 1e6 : NAN);
    jdbl("p50_ms", pct_ms(0.50));
    jdbl("p99_ms", pct_ms(0.99));
    jdbl("p999_ms", pct_ms(0.999));
    jdbl("max_ms", g.nsamples ? (double)g.samples[g.nsamples - 1] / 1e6 : NAN);
    jbool("idle_timeout_hit", g.idle_hit);
    jdbl("setup_s", setup_s);
    jcpu(elapsed, g.cpu1 - g.cpu0);
    jend();
}

/* ------------------------------------------------------------------------------------------ */
/* mode: connections */

static void stdin_read(void)
{
    char buf[4096];
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        g.stdin_eof = true;
        epoll_ctl(g.ep, EPOLL_CTL_DEL, 0, NULL);
    }
}

static void run_connections(void)
{
    uint64_t t0 = now_ns();
    double cpu0 = cpu_seconds();
    setup_clients(0, (size_t)g.o.count, R_IDLE, RBUF_IDLE);
    double elapsed = (double)(now_ns() - t0) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    jbegin("connections");
    jcommon_target();
    jint("count", g.o.count);
    jstr("destination", g.o.dest);
    jint("connected", (int64_t)g.ready);
    jdbl("connects_per_s", elapsed > 0 ? (double)g.ready / elapsed : 0.0);
    jcpu(elapsed, cpu);
    jbool("ready", true);
    jend();

    /* hold: until stdin reaches EOF or --hold-seconds pass */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_conn};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, 0, &ev) < 0) {
        /* a regular file or /dev/null is not pollable: with --hold-seconds it is ignored */
        if (!g.o.have_hold) {
            char buf[4096];
            while (read(0, buf, sizeof buf) > 0)
                ;
            g.stdin_eof = true;
        }
    }
    uint64_t until = g.o.have_hold ? now_ns() + (uint64_t)(g.o.hold * 1e9) : UINT64_MAX;
    while (!g.stdin_eof) {
        uint64_t now = now_ns();
        if (now >= until)
            break;
        pass(until == UINT64_MAX ? -1 : ms_until(until, now));
        flush_dirty();
    }
    for (size_t i = 0; i < g.nconns; i++)
        close_client(g.conns[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* mode: sink, a trivial broker */

struct sinkdest {
    char *name;
    size_t namel;
    bool queue;
    struct sinksub **subs;
    size_t n, cap, rr;
};

struct sinksub {
    struct conn *c;
    struct sinkdest *d;
    size_t pos;     /* index in d->subs */
    char *id;
    size_t idl;
    char *prefix;   /* "MESSAGE\nsubscription:<id>\nmessage-id:" */
    size_t prefixl;
    bool ack;       /* client modes: add an ack header */
};

static struct sinkdest **sdests;
static size_t nsdests, capsdests;

static struct sinkdest *sink_dest(const char *name, size_t n, bool create)
{
    for (size_t i = 0; i < nsdests; i++)
        if (sdests[i]->namel == n && !memcmp(sdests[i]->name, name, n))
            return sdests[i];
    if (!create)
        return NULL;
    struct sinkdest *d = xcalloc(1, sizeof *d);
    d->name = xmalloc(n + 1);
    memcpy(d->name, name, n);
    d->name[n] = 0;
    d->namel = n;
    d->queue = n >= 7 && !memcmp(name, "/queue/", 7);
    if (nsdests == capsdests) {
        capsdests = capsdests ? capsdests * 2 : 16;
        sdests = xrealloc(sdests, capsdests * sizeof *sdests);
    }
    sdests[nsdests++] = d;
    return d;
}

static void sink_unsub(struct sinksub *s)
{
    struct sinkdest *d = s->d;
    d->subs[s->pos] = d->subs[--d->n];
    d->subs[s->pos]->pos = s->pos;
    free(s->id);
    free(s->prefix);
    free(s);
}

/* Sink: pause or resume the senders' reads when the backlog crossed a threshold. */
static void sink_pace(void)
{
    bool pause = g.sink_over > 0;
    if (pause == g.sink_paused)
        return;
    g.sink_paused = pause;
    g.sink_pauses += pause;
    for (size_t i = 0; i < g.nsenders; i++) {
        struct conn *c = g.senders[i];
        set_events(c, in_events(c) | (c->events & EPOLLOUT));
    }
}

static void sink_add_sender(struct conn *c)
{
    if (g.nsenders == g.capsenders) {
        g.capsenders = g.capsenders ? g.capsenders * 2 : 16;
        g.senders = xrealloc(g.senders, g.capsenders * sizeof *g.senders);
    }
    g.senders[g.nsenders++] = c;
    c->sender = true;
    set_events(c, in_events(c) | (c->events & EPOLLOUT));
}

static void sink_close(struct conn *c)
{
    if (c->fd < 0)
        return;
    for (size_t i = 0; i < c->nsubs; i++)
        sink_unsub(c->subs[i]);
    c->nsubs = 0;
    if (c->over) {
        c->over = false;
        g.sink_over--;
    }
    if (c->sender) {
        for (size_t i = 0; i < g.nsenders; i++)
            if (g.senders[i] == c) {
                g.senders[i] = g.senders[--g.nsenders];
                break;
            }
        c->sender = false;
    }
    close(c->fd);
    c->fd = -1;
    c->next_dead = g.graveyard;
    g.graveyard = c;
}

static void sink_error(struct conn *c, const char *msg)
{
    wstr(c, "ERROR\nmessage:");
    wstr(c, msg);
    wappend(c, "\n\n", 3);
    c->closing = true;
}

static void sink_disconnect(struct conn *c)
{
    c->closing = true;
    mark_dirty(c);
}

static void sink_receipt(struct conn *c, const struct frame *f)
{
    const struct sv *r = &f->h[H_RECEIPT];
    if (!r->p)
        return;
    char *w = wreserve(c, r->n + 32);
    memcpy(w, "RECEIPT\nreceipt-id:", 19);
    memcpy(w + 19, r->p, r->n);
    memcpy(w + 19 + r->n, "\n\n", 3);
    wcommit(c, r->n + 22);
}

static char *stail;
static size_t stailcap;

static void sink_deliver(struct sinksub *s, const char *mid, size_t midl, const char *tail, size_t taill)
{
    char *w0 = wreserve(s->c, s->prefixl + 2 * midl + 8 + taill), *w = w0;
    memcpy(w, s->prefix, s->prefixl);
    w += s->prefixl;
    memcpy(w, mid, midl);
    w += midl;
    *w++ = '\n';
    if (s->ack) {
        memcpy(w, "ack:", 4);
        w += 4;
        memcpy(w, mid, midl);
        w += midl;
        *w++ = '\n';
    }
    memcpy(w, tail, taill);
    w += taill;
    wcommit(s->c, (size_t)(w - w0));
    g.sink_out++;
}

static void sink_send(struct conn *c, const struct frame *f, const char *frame_end)
{
    const struct sv *dn = &f->h[H_DEST];
    g.sink_in++;
    if (!c->sender)
        sink_add_sender(c);
    if (!dn->p) {
        sink_error(c, "SEND without destination");
        return;
    }
    struct sinkdest *d = sink_dest(dn->p, dn->n, false);
    if (!d || !d->n) {
        g.sink_dropped++;
        sink_receipt(c, f);
        return;
    }
    /* the part after the per-subscription headers: SEND's header lines, blank line, body, NUL */
    const char *tail;
    size_t taill;
    if (!f->rl && f->h[H_CL].p) {
        tail = f->hb;
        taill = (size_t)(frame_end - f->hb);
    } else {
        size_t need = (size_t)(f->he - f->hb) + 40 + f->bodyl;
        if (need > stailcap) {
            stailcap = need * 2;
            stail = xrealloc(stail, stailcap);
        }
        char *w = stail;
        if (f->rl) {
            memcpy(w, f->hb, (size_t)(f->rl - f->hb));
            w += f->rl - f->hb;
            memcpy(w, f->rle, (size_t)(f->he - f->rle));
            w += f->he - f->rle;
        } else {
            memcpy(w, f->hb, (size_t)(f->he - f->hb));
            w += f->he - f->hb;
        }
        if (!f->h[H_CL].p) {
            memcpy(w, "content-length:", 15);
            w += 15;
            w += u64dec(w, f->bodyl);
            *w++ = '\n';
        }
        *w++ = '\n';
        memcpy(w, f->body, f->bodyl);
        w += f->bodyl;
        *w++ = '\0';
        tail = stail;
        taill = (size_t)(w - stail);
    }
    char mid[24];
    size_t midl = u64dec(mid, ++g.sink_msgid);
    size_t from = 0, count = d->n;
    if (d->queue) {
        from = d->rr++ % d->n;
        count = 1;
    }
    for (size_t j = 0; j < count; j++) {
        struct sinksub *s = d->subs[(from + j) % d->n];
        int copies = 1;
        if (g.o.drop_every || g.o.dup_every) {
            uint64_t k = ++g.sink_faulted;
            if (g.o.drop_every && k % (uint64_t)g.o.drop_every == 0)
                copies = 0;
            else if (g.o.dup_every && k % (uint64_t)g.o.dup_every == 0)
                copies = 2;
        }
        for (int copy = 0; copy < copies; copy++)
            sink_deliver(s, mid, midl, tail, taill);
    }
    sink_receipt(c, f);
}

static void sink_subscribe(struct conn *c, const struct frame *f)
{
    const struct sv *dn = &f->h[H_DEST], *id = &f->h[H_ID], *ack = &f->h[H_ACK];
    if (!dn->p || !id->p) {
        sink_error(c, "SUBSCRIBE needs destination and id");
        return;
    }
    struct sinkdest *d = sink_dest(dn->p, dn->n, true);
    struct sinksub *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->d = d;
    s->id = xmalloc(id->n + 1);
    memcpy(s->id, id->p, id->n);
    s->idl = id->n;
    s->ack = ack->p && !(ack->n == 4 && !memcmp(ack->p, "auto", 4));
    s->prefix = xmalloc(id->n + 48);
    s->prefixl = (size_t)sprintf(s->prefix, "MESSAGE\nsubscription:%.*s\nmessage-id:", (int)id->n, id->p);
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->subs = xrealloc(d->subs, d->cap * sizeof *d->subs);
    }
    s->pos = d->n;
    d->subs[d->n++] = s;
    if (c->nsubs == c->capsubs) {
        c->capsubs = c->capsubs ? c->capsubs * 2 : 4;
        c->subs = xrealloc(c->subs, c->capsubs * sizeof *c->subs);
    }
    c->subs[c->nsubs++] = s;
    sink_receipt(c, f);
}

static void sink_unsubscribe(struct conn *c, const struct frame *f)
{
    const struct sv *id = &f->h[H_ID];
    for (size_t i = 0; id->p && i < c->nsubs; i++) {
        struct sinksub *s = c->subs[i];
        if (s->idl == id->n && !memcmp(s->id, id->p, id->n)) {
            c->subs[i] = c->subs[--c->nsubs];
            sink_unsub(s);
            break;
        }
    }
    sink_receipt(c, f);
}

/* With --login/--passcode the sink checks CONNECT's credentials (to test ERROR handling). */
static bool sink_header_is(const struct frame *f, const char *key, const char *want)
{
    size_t kl = strlen(key), wl = strlen(want);
    for (const char *q = f->hb; q < f->he;) {
        const char *le = memchr(q, '\n', (size_t)(f->he - q));
        if (!le)
            break;
        if ((size_t)(le - q) > kl && !memcmp(q, key, kl) && q[kl] == ':') {
            size_t vl = (size_t)(le - q) - kl - 1;
            if (vl && q[kl + vl] == '\r')
                vl--;
            return vl == wl && !memcmp(q + kl + 1, want, wl);
        }
        q = le + 1;
    }
    return false;
}

static bool sink_auth_ok(const struct frame *f)
{
    return (!g.o.login || sink_header_is(f, "login", g.o.login)) &&
           (!g.o.passcode || sink_header_is(f, "passcode", g.o.passcode));
}

static void sink_frame(struct conn *c, const struct frame *f, const char *frame_end)
{
    if (f->cmd.n == 0)
        return;
    if (CMD_IS(f, "SEND")) {
        sink_send(c, f, frame_end);
    } else if (CMD_IS(f, "ACK") || CMD_IS(f, "NACK") || CMD_IS(f, "BEGIN") || CMD_IS(f, "COMMIT") ||
               CMD_IS(f, "ABORT")) {
        sink_receipt(c, f);
    } else if (CMD_IS(f, "SUBSCRIBE")) {
        sink_subscribe(c, f);
    } else if (CMD_IS(f, "UNSUBSCRIBE")) {
        sink_unsubscribe(c, f);
    } else if (CMD_IS(f, "CONNECT") || CMD_IS(f, "STOMP")) {
        if (!sink_auth_ok(f)) {
            sink_error(c, "auth err - wrong login or passcode");
            return;
        }
        wstr(c, "CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:loadgen-sink\n\n");
        wappend(c, "", 1);
    } else if (CMD_IS(f, "DISCONNECT")) {
        sink_receipt(c, f);
        sink_disconnect(c);
    } else {
        sink_error(c, "unknown command");
    }
}

static void sink_read(struct conn *c)
{
    rroom(c, 0);
    ssize_t n = read(c->fd, c->rb + c->re, c->rcap - c->re);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        sink_close(c);
        return;
    }
    if ((size_t)n == c->rcap - c->re && c->rcap < RBUF_DATA) {
        /* a connection that sends a lot gets the large buffer for its next read */
        c->re += (size_t)n;
        rroom(c, RBUF_DATA + c->re - c->rs);
    } else {
        c->re += (size_t)n;
    }
    while (!c->closing) {
        struct frame f;
        size_t need;
        ssize_t k = scan_frame(c->rb + c->rs, c->re - c->rs, &f, &need);
        if (k < 0) {
            sink_error(c, scan_err);
            break;
        }
        if (k == 0) {
            if (need)
                rroom(c, need);
            break;
        }
        const char *fe = c->rb + c->rs + k;
        c->rs += (size_t)k;
        sink_frame(c, &f, fe);
    }
    if (c->rs == c->re)
        c->rs = c->re = 0;
}

static void on_signal(int sig)
{
    (void)sig;
    g.stop = 1;
}

static void run_sink(void)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char port[16];
    snprintf(port, sizeof port, "%ld", g.o.port);
    int rc = getaddrinfo(g.o.host, port, &hints, &res);
    if (rc)
        die("cannot resolve %s: %s", g.o.host, gai_strerror(rc));
    int lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, res->ai_addr, res->ai_addrlen) < 0)
        die("bind %s:%ld: %s", g.o.host, g.o.port, strerror(errno));
    freeaddrinfo(res);
    if (listen(lfd, 4096) < 0)
        die("listen: %s", strerror(errno));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(lfd, (struct sockaddr *)&ss, &sl);
    int actual = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct conn lconn = {.fd = lfd, .kind = K_LISTEN};
    ep_ctl(EPOLL_CTL_ADD, &lconn, EPOLLIN);
    fprintf(stderr, "loadgen sink: listening on %s:%d\n", g.o.host, actual);
    double cpu0 = cpu_seconds();
    uint64_t t0 = now_ns();

    struct epoll_event ev[MAX_EVENTS];
    while (!g.stop) {
        int n = epoll_wait(g.ep, ev, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c->kind == K_LISTEN) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                            warnx("accept: %s", strerror(errno));
                        break;
                    }
                    set_nodelay(fd);
                    struct conn *nc = new_conn(K_SINK, RBUF_IDLE);
                    nc->fd = fd;
                    nc->id = (uint32_t)g.sink_accepted++;
                    ep_ctl(EPOLL_CTL_ADD, nc, EPOLLIN);
                }
                continue;
            }
            if (c->fd < 0)
                continue;
            if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                sink_read(c);
            if ((ev[i].events & EPOLLOUT) && c->fd >= 0)
                flush(c);
        }
        flush_dirty();
        sink_pace();
        while (g.graveyard) {
            struct conn *c = g.graveyard;
            g.graveyard = c->next_dead;
            free(c->rb);
            free(c->wb);
            free(c->subs);
            free(c);
        }
    }
    double cpu = cpu_seconds() - cpu0;
    double elapsed = (double)(now_ns() - t0) / 1e9;
    jbegin("sink");
    jstr("host", g.o.host);
    jint("port", actual);
    jint("connections", (int64_t)g.sink_accepted);
    jint("sends", (int64_t)g.sink_in);
    jint("messages_out", (int64_t)g.sink_out);
    jint("dropped", (int64_t)g.sink_dropped);
    jint("pauses", (int64_t)g.sink_pauses);
    if (g.o.drop_every)
        jint("drop_every", g.o.drop_every);
    if (g.o.dup_every)
        jint("dup_every", g.o.dup_every);
    jcpu(elapsed, cpu);
    jend();
}

/* ------------------------------------------------------------------------------------------ */
/* options and main */

static long opt_long(const char *name, const char *v, long min)
{
    char *e;
    errno = 0;
    long x = strtol(v, &e, 10);
    if (errno || *e || e == v || x < min)
        usage("%s needs an integer >= %ld, not '%s'", name, min, v);
    return x;
}

static double opt_double(const char *name, const char *v, double min)
{
    char *e;
    errno = 0;
    double x = strtod(v, &e);
    if (errno || *e || e == v || !(x >= min))
        usage("%s needs a number >= %g, not '%s'", name, min, v);
    return x;
}

static void parse_args(int argc, char **argv)
{
    struct opts *o = &g.o;
    if (argc < 2)
        usage("missing mode");
    o->mode = argv[1];
    o->host = "127.0.0.1";
    o->port = 61613;
    o->pubs = 1;
    o->subs = 1;
    o->messages = 100000;
    o->size = 100;
    o->window = 1000;
    o->rate = 1000;
    o->duration = 10;
    o->count = 1000;
    o->timeout = 60;
    o->idle_timeout = 5;
    o->ack = "auto";
    o->path = "/ws";
    if (!strcmp(o->mode, "fanout"))
        g.mode = M_FANOUT;
    else if (!strcmp(o->mode, "queue"))
        g.mode = M_QUEUE;
    else if (!strcmp(o->mode, "latency"))
        g.mode = M_LATENCY;
    else if (!strcmp(o->mode, "connections"))
        g.mode = M_CONNECTIONS;
    else if (!strcmp(o->mode, "sink"))
        g.mode = M_SINK;
    else
        usage("unknown mode '%s'", o->mode);
    for (int i = 2; i < argc; i++) {
        char *a = argv[i], *v;
        if (strncmp(a, "--", 2))
            usage("unexpected argument '%s'", a);
        if (!strcmp(a, "--open-loop") && (g.mode == M_FANOUT || g.mode == M_QUEUE)) {
            o->open_loop = true; /* the one option without a value */
            continue;
        }
        char name[64];
        char *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 >= argc)
                usage("%s needs a value", a);
            v = argv[++i];
        }
        if (!strcmp(name, "--host"))
            o->host = v;
        else if (!strcmp(name, "--port"))
            o->port = opt_long(name, v, 0);
        else if (!strcmp(name, "--port2"))
            o->port2 = opt_long(name, v, 1);
        else if (!strcmp(name, "--publishers") || !strcmp(name, "--producers"))
            o->pubs = opt_long(name, v, 1), o->have_pubs = true;
        else if (!strcmp(name, "--subscribers") || !strcmp(name, "--consumers"))
            o->subs = opt_long(name, v, 1), o->have_subs = true;
        else if (!strcmp(name, "--messages"))
            o->messages = opt_long(name, v, 1);
        else if (!strcmp(name, "--size"))
            o->size = opt_long(name, v, 0);
        else if (!strcmp(name, "--destination"))
            o->dest = v;
        else if (!strcmp(name, "--window"))
            o->window = opt_long(name, v, 1), o->have_window = true;
        else if (!strcmp(name, "--ack"))
            o->ack = v;
        else if (!strcmp(name, "--prefetch"))
            o->prefetch = opt_long(name, v, 1), o->have_prefetch = true;
        else if (!strcmp(name, "--rate"))
            o->rate = opt_long(name, v, 1);
        else if (!strcmp(name, "--duration"))
            o->duration = opt_double(name, v, 0.001);
        else if (!strcmp(name, "--count"))
            o->count = opt_long(name, v, 1);
        else if (!strcmp(name, "--hold-seconds"))
            o->hold = opt_double(name, v, 0), o->have_hold = true;
        else if (!strcmp(name, "--timeout"))
            o->timeout = opt_double(name, v, 0.001);
        else if (!strcmp(name, "--idle-timeout"))
            o->idle_timeout = opt_double(name, v, 0.001);
        else if (!strcmp(name, "--login"))
            o->login = v;
        else if (!strcmp(name, "--transport")) {
            if (strcmp(v, "tcp") && strcmp(v, "ws"))
                usage("--transport must be tcp or ws, not '%s'", v);
            o->ws = !strcmp(v, "ws");
        } else if (!strcmp(name, "--path")) {
            if (v[0] != '/' || strpbrk(v, " \r\n"))
                usage("--path must start with / and hold no space or newline");
            o->path = v;
        } else if (!strcmp(name, "--vhost"))
            o->vhost = v;
        else if (!strcmp(name, "--passcode"))
            o->passcode = v;
        else if (!strcmp(name, "--filter-header") && g.mode == M_FANOUT)
            o->filter_header = v;
        else if (!strcmp(name, "--filter-engine") && g.mode == M_FANOUT)
            o->filter_engine = v;
        else if (!strcmp(name, "--drop-every") && g.mode == M_SINK)
            o->drop_every = opt_long(name, v, 1);
        else if (!strcmp(name, "--dup-every") && g.mode == M_SINK)
            o->dup_every = opt_long(name, v, 1);
        else
            usage("unknown option %s", name);
    }
    if (o->open_loop && o->have_window)
        usage("--open-loop publishes without a window: drop --window");
    if (o->ws && g.mode == M_SINK)
        usage("the sink speaks plain STOMP only: --transport ws is for the client modes");
    if (o->port > 65535 || (o->port == 0 && g.mode != M_SINK))
        usage("--port out of range");
    if (o->size > 256L * 1024 * 1024)
        usage("--size too large");
    if (!o->dest)
        o->dest = g.mode == M_QUEUE         ? "/queue/bench"
                  : g.mode == M_LATENCY     ? "/topic/bench-latency"
                  : g.mode == M_CONNECTIONS ? "/topic/bench-idle"
                                            : "/topic/bench";
    if (strpbrk(o->dest, "\n\r:"))
        usage("--destination must not contain a newline or colon");
    if (g.mode == M_FANOUT && !o->have_subs)
        o->subs = 10;
    if (g.mode == M_LATENCY && !o->have_subs)
        o->subs = 10;
    if (g.mode == M_LATENCY && o->have_pubs && o->pubs != 1)
        usage("latency mode has one publisher");
    if (!strcmp(o->ack, "auto"))
        g.ackmode = ACK_AUTO;
    else if (!strcmp(o->ack, "client"))
        g.ackmode = ACK_CLIENT;
    else if (!strcmp(o->ack, "client-individual"))
        g.ackmode = ACK_INDIVIDUAL;
    else
        usage("--ack must be auto, client or client-individual");
    if (o->filter_engine && !o->filter_header)
        usage("--filter-engine needs --filter-header");
    if (o->filter_header) {
        const char *engine = o->filter_engine ? o->filter_engine : "filter";
        o->filter_engine = engine;
        if (!strcmp(engine, "filter"))
            g.filter = F_FILTER;
        else if (!strcmp(engine, "selector"))
            g.filter = F_SELECTOR;
        else if (!strcmp(engine, "selector-like"))
            g.filter = F_SELECTOR_LIKE;
        else
            usage("--filter-engine must be filter, selector or selector-like");
        g.filter_name_len = strlen(o->filter_header);
        if (!g.filter_name_len || g.filter_name_len > 100 ||
            strspn(o->filter_header, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
                g.filter_name_len)
            usage("--filter-header must be 1 to 100 letters, digits or _");
    }
    g.ack_every = o->have_prefetch ? (uint64_t)(o->prefetch / 2 ? o->prefetch / 2 : 1) : 50;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            warnx("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    g.t_proc = now_ns();
    g.deadline = g.t_proc + (uint64_t)(g.o.timeout * 1e9);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.ep < 0)
        die("epoll_create1: %s", strerror(errno));
    g.runidl = (size_t)snprintf(g.runid, sizeof g.runid, "%" PRIx64,
                                (uint64_t)((now_ns() ^ ((uint64_t)getpid() << 40)) & 0xffffffffffffull));
    if (g.mode == M_SINK) {
        run_sink();
        return 0;
    }
    if (g.mode == M_CONNECTIONS) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)g.o.count + 16 > rl.rlim_cur)
            die("--count %ld needs more open files than RLIMIT_NOFILE allows (%llu)", g.o.count,
                (unsigned long long)rl.rlim_cur);
    }
    resolve();
    switch (g.mode) {
    case M_FANOUT:
    case M_QUEUE:
        run_load();
        break;
    case M_LATENCY:
        run_latency();
        break;
    case M_CONNECTIONS:
        run_connections();
        break;
    }
    return 0;
}
