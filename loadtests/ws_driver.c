/*
 * The load driver of loadtests/ws_bench.py, in C so that it is never what
 * limits a Python server (its ceiling is the benchmark's `trivial` row).
 * ws_bench.py compiles it with `cc -O2` on first use.
 *
 *   ws_driver echo PORT CONNECTIONS SIZE WARMUP DURATION
 *       CONNECTIONS WebSockets to /echo; each sends a SIZE-byte text message
 *       and waits for its echo before sending the next.
 *   ws_driver broadcast PORT SUBSCRIBERS SIZE WARMUP DURATION
 *       SUBSCRIBERS WebSockets to /subscribe and one to /publish; the
 *       publisher sends a message, every subscriber must get it, then the
 *       next one goes.
 *
 * Prints one line of JSON: rates over DURATION seconds after WARMUP, and
 * the p50 and p99 of round trips (echo) or deliveries (broadcast), in ms.
 * Server pings are answered; anything unexpected ends the run (exit 1).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAYLOAD 125
#define BUFFER 65536
#define BATCH 256

static const unsigned char MASK[4] = {0x12, 0x34, 0x56, 0x78};

typedef struct {
    int fd;
    size_t used;
    double sent_at;
    long round;              /* broadcast: the last round received */
    int registered;          /* broadcast: got a probe */
    unsigned char buffer[BUFFER];
} Conn;

typedef struct {
    double *values;
    size_t count, capacity;
} Samples;

static void die(const char *what) {
    fprintf(stderr, "ws_driver: %s (%s)\n", what, errno ? strerror(errno) : "");
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void add_sample(Samples *s, double value) {
    if (s->count == s->capacity) {
        s->capacity = s->capacity ? 2 * s->capacity : 1 << 16;
        s->values = realloc(s->values, s->capacity * sizeof(double));
        if (!s->values) die("out of memory");
    }
    s->values[s->count++] = value;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(Samples *s, double pct) {
    if (!s->count) return -1;
    size_t index = (size_t)(s->count * pct / 100);
    if (index >= s->count) index = s->count - 1;
    return 1000 * s->values[index];
}

/* A masked client frame of a payload under 126 bytes. */
static size_t client_frame(unsigned char *out, int opcode, const unsigned char *payload, size_t size) {
    out[0] = 0x80 | opcode;
    out[1] = 0x80 | (unsigned char)size;
    memcpy(out + 2, MASK, 4);
    for (size_t i = 0; i < size; i++) out[6 + i] = payload[i] ^ MASK[i % 4];
    return 6 + size;
}

static void send_all(int fd, const unsigned char *data, size_t size) {
    while (size) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("send");
        }
        data += n;
        size -= (size_t)n;
    }
}

/* Connect and send the handshake; the answer is read by finish_handshake. */
static void start_handshake(Conn *c, int port, const char *path) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) die("socket");
    if (connect(c->fd, (struct sockaddr *)&address, sizeof address) < 0) die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char request[512];
    int size = snprintf(request, sizeof request,
                        "GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n", path);
    send_all(c->fd, (unsigned char *)request, (size_t)size);
    c->used = 0;
}

static void finish_handshake(Conn *c) {
    char *end;
    while (!(c->used && (end = memmem(c->buffer, c->used, "\r\n\r\n", 4)))) {
        ssize_t n = recv(c->fd, c->buffer + c->used, BUFFER - c->used, 0);
        if (n <= 0) die("the server closed a handshake");
        c->used += (size_t)n;
    }
    if (memcmp(c->buffer, "HTTP/1.1 101", 12) != 0) die("a handshake was refused");
    size_t head = (size_t)(end + 4 - (char *)c->buffer);
    memmove(c->buffer, c->buffer + head, c->used - head);
    c->used -= head;
}

static Conn *open_websockets(int port, const char *path, int count) {
    Conn *conns = calloc((size_t)count, sizeof(Conn));
    if (!conns) die("out of memory");
    for (int start = 0; start < count; start += BATCH) {
        int stop = start + BATCH < count ? start + BATCH : count;
        for (int i = start; i < stop; i++) start_handshake(&conns[i], port, path);
        for (int i = start; i < stop; i++) finish_handshake(&conns[i]);
    }
    return conns;
}

/* The next whole frame in c's buffer: its opcode (-1 if none yet), and its
 * payload copied out. */
static int next_frame(Conn *c, unsigned char *payload, size_t *size) {
    if (c->used < 2) return -1;
    size_t length = c->buffer[1] & 0x7F, start = 2;
    if (length == 126) {
        if (c->used < 4) return -1;
        length = (size_t)c->buffer[2] << 8 | c->buffer[3];
        start = 4;
    } else if (length == 127) {
        die("a frame too large for the benchmark");
    }
    if (c->used < start + length) return -1;
    if (length > MAX_PAYLOAD) die("a frame larger than the benchmark's messages");
    int opcode = c->buffer[0] & 0x0F;
    memcpy(payload, c->buffer + start, length);
    *size = length;
    memmove(c->buffer, c->buffer + start + length, c->used - start - length);
    c->used -= start + length;
    return opcode;
}

static int read_into(Conn *c) {
    ssize_t n = recv(c->fd, c->buffer + c->used, BUFFER - c->used, 0);
    if (n == 0) die("the server closed a connection");
    if (n < 0) {
        if (errno == EAGAIN) return 0;
        die("recv");
    }
    c->used += (size_t)n;
    return 1;
}

static void answer_ping(Conn *c, const unsigned char *payload, size_t size) {
    unsigned char frame[6 + MAX_PAYLOAD];
    send_all(c->fd, frame, client_frame(frame, 0xA, payload, size));
}

static int watch(Conn *conns, int count) {
    int epoll = epoll_create1(0);
    if (epoll < 0) die("epoll_create1");
    for (int i = 0; i < count; i++) {
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = &conns[i]};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, conns[i].fd, &event) < 0) die("epoll_ctl");
    }
    return epoll;
}

static int echo(int port, int count, size_t size, double warmup, double duration) {
    Conn *conns = open_websockets(port, "/echo", count);
    int epoll = watch(conns, count);
    unsigned char message[MAX_PAYLOAD], frame[6 + MAX_PAYLOAD], payload[MAX_PAYLOAD];
    memset(message, 'm', size);
    size_t frame_size = client_frame(frame, 0x1, message, size);
    Samples rtts = {0};
    long counted = 0;
    double start = now(), measure_from = start + warmup, end = measure_from + duration;
    for (int i = 0; i < count; i++) {
        conns[i].sent_at = now();
        send_all(conns[i].fd, frame, frame_size);
    }
    struct epoll_event events[256];
    double t = start;
    while (t < end) {
        int ready = epoll_wait(epoll, events, 256, 1000);
        for (int e = 0; e < ready; e++) {
            Conn *c = events[e].data.ptr;
            read_into(c);
            size_t got;
            int opcode;
            while ((opcode = next_frame(c, payload, &got)) >= 0) {
                if (opcode == 0x9) {
                    answer_ping(c, payload, got);
                    continue;
                }
                if (opcode != 0x1 || got != size || memcmp(payload, message, size) != 0)
                    die("a wrong echo");
                t = now();
                if (t >= measure_from) {
                    counted++;
                    add_sample(&rtts, t - c->sent_at);
                }
                c->sent_at = t;
                send_all(c->fd, frame, frame_size);
            }
        }
        t = now();
    }
    qsort(rtts.values, rtts.count, sizeof(double), compare);
    printf("{\"messages_per_s\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"messages\": %ld}\n",
           counted / duration, percentile(&rtts, 50), percentile(&rtts, 99), counted);
    return 0;
}

static int broadcast(int port, int count, size_t size, double warmup, double duration) {
    Conn *subs = open_websockets(port, "/subscribe", count);
    Conn *publisher = open_websockets(port, "/publish", 1);
    int epoll = watch(subs, count);
    unsigned char message[MAX_PAYLOAD], frame[6 + MAX_PAYLOAD], payload[MAX_PAYLOAD];
    struct epoll_event events[256];
    size_t got;
    int opcode;

    /* A handler registers its subscriber after the 101: probe until every
     * one got a message. Probes still in flight later are skipped. */
    memset(message, 'p', size);
    memcpy(message, "probe", 5);
    size_t probe_size = client_frame(frame, 0x1, message, size);
    int registered = 0;
    double give_up = now() + 60;
    while (registered < count) {
        if (now() > give_up) die("not every subscriber registered");
        send_all(publisher->fd, frame, probe_size);
        double until = now() + 0.2;
        while (now() < until) {
            int ready = epoll_wait(epoll, events, 256, 50);
            for (int e = 0; e < ready; e++) {
                Conn *c = events[e].data.ptr;
                read_into(c);
                while ((opcode = next_frame(c, payload, &got)) >= 0) {
                    if (opcode == 0x9) answer_ping(c, payload, got);
                    else if (!c->registered && memcmp(payload, "probe", 5) == 0) {
                        c->registered = 1;
                        registered++;
                    }
                }
            }
        }
    }

    Samples latencies = {0};
    long deliveries = 0, rounds = 0, round = 0;
    double start = now(), measure_from = start + warmup, end = measure_from + duration;
    while (now() < end) {
        round++;
        memset(message, 'b', size);
        char digits[24];
        snprintf(digits, sizeof digits, "%016ld", round);
        memcpy(message, digits, 16);
        size_t frame_size = client_frame(frame, 0x1, message, size);
        double sent = now();
        int counted = sent >= measure_from, waiting = count;
        send_all(publisher->fd, frame, frame_size);
        while (waiting) {
            int ready = epoll_wait(epoll, events, 256, 10000);
            if (ready == 0) die("a subscriber did not get its message");
            for (int e = 0; e < ready; e++) {
                Conn *c = events[e].data.ptr;
                read_into(c);
                while ((opcode = next_frame(c, payload, &got)) >= 0) {
                    if (opcode == 0x9) {
                        answer_ping(c, payload, got);
                    } else if (memcmp(payload, "probe", 5) == 0) {
                        continue;
                    } else if (got == size && memcmp(payload, message, size) == 0 && c->round != round) {
                        c->round = round;
                        waiting--;
                        if (counted) add_sample(&latencies, now() - sent);
                    } else {
                        die("a subscriber got another message than the one published");
                    }
                }
            }
        }
        if (counted) {
            deliveries += count;
            rounds++;
        }
    }
    double elapsed = now() - measure_from;
    qsort(latencies.values, latencies.count, sizeof(double), compare);
    printf("{\"deliveries_per_s\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"rounds\": %ld}\n",
           deliveries / elapsed, percentile(&latencies, 50), percentile(&latencies, 99), rounds);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s echo|broadcast PORT CONNECTIONS SIZE WARMUP DURATION\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[2]), count = atoi(argv[3]);
    size_t size = (size_t)atoi(argv[4]);
    double warmup = atof(argv[5]), duration = atof(argv[6]);
    if (size < 16 || size > MAX_PAYLOAD || count < 1) {
        fprintf(stderr, "ws_driver: SIZE must be 16-125 bytes, CONNECTIONS positive\n");
        return 2;
    }
    if (strcmp(argv[1], "echo") == 0) return echo(port, count, size, warmup, duration);
    if (strcmp(argv[1], "broadcast") == 0) return broadcast(port, count, size, warmup, duration);
    fprintf(stderr, "ws_driver: unknown mode %s\n", argv[1]);
    return 2;
}
