/*
 * net.c - the network behind the CC3000: its sockets on host sockets
 * (--net, --cloud). The CC3000 model (peripherals/ext/cc3000.c) calls the
 * struct cc3000_net below on the emulator thread and never blocks: every call
 * only looks at or changes this adapter's buffers. One I/O thread moves the
 * bytes between those buffers and the host sockets with poll(), and tells the
 * model through the host's mailbox when anything changed.
 *
 * What may leave (docs/net.md): --net none, nothing (connects fail as through
 * an access point without an uplink); --net cloud, only the cloud connection
 * (a TCP connect to port 5683, whatever address the firmware chose), which
 * goes to --cloud HOST:PORT. In both, every name resolves to a placeholder
 * address without a query leaving; --net host, everything, to the addresses the firmware asked
 * for, with the cloud connection still sent to --cloud when it is given.
 *
 * Design decision (time): while any host socket or name lookup exists, the
 * machine is paced in real time (machine_hold_realtime), so the firmware's
 * 20 s handshake time-out and 15 s / 10 s keepalives are seconds the peer
 * lives through too. Holding virtual time instead would need the firmware's
 * time-outs known to the emulator; pacing needs nothing and is what the
 * hardware does.
 */
#include "host.h"

#include "peripherals/ext/cc3000.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NET_CLOUD_PORT 5683 /* SPARK_SERVER_PORT: the connection to it is the cloud's */
#define NET_HANDLES 8       /* the CC3000 has 7 sockets; one more may still be closing */
#define NET_RX_MAX 8192     /* bytes buffered from a peer before we stop reading it */
#define NET_TX_MAX 8192
#define NET_DATAGRAM_MAX 1500
#define NET_NAME_MAX 64
/* With nothing but the cloud allowed out, every name resolves here (the firmware's own fallback). */
#define NET_PLACEHOLDER_IP 0x36D0E504u /* 54.208.229.4 */

struct net_sock {
    bool used, udp, closing;
    int fd;
    bool held; /* counted in the machine's real-time holds */
    enum cc3000_net_state state;
    uint8_t rx[NET_RX_MAX];
    size_t rx_len;
    uint32_t rx_from_ip; /* UDP: the source of the datagram in rx */
    uint16_t rx_from_port;
    uint8_t tx[NET_TX_MAX];
    size_t tx_len;
};

struct net {
    struct host *h;
    struct machine *m;
    enum net_mode mode;
    struct sockaddr_in cloud; /* --cloud, resolved at start-up */
    bool have_cloud;

    pthread_mutex_t lock;
    pthread_t thread;
    bool thread_started;
    bool quit;
    int wake[2];
    int notify_posted; /* atomic: a notify message is in the mailbox */

    struct net_sock socks[NET_HANDLES];

    /* one name lookup at a time (the firmware's gethostbyname blocks) */
    char dns_name[NET_NAME_MAX];
    enum { DNS_IDLE, DNS_PENDING, DNS_DONE, DNS_FAILED } dns_state;
    uint32_t dns_ip;
    bool dns_held;
};

static const struct cc3000_net net_ops;

/* ---- to the emulator thread ------------------------------------------------ */

static void notify_message(struct host *h, void *arg)
{
    struct net *n = arg;
    __atomic_store_n(&n->notify_posted, 0, __ATOMIC_RELEASE);
    spark_core_net_changed(h->board);
}

/* Any thread: have the CC3000 look again. One message at most is ever waiting. */
static void notify(struct net *n)
{
    if (__atomic_exchange_n(&n->notify_posted, 1, __ATOMIC_ACQ_REL))
        return;
    if (host_post(n->h, notify_message, n))
        __atomic_store_n(&n->notify_posted, 0, __ATOMIC_RELEASE);
}

static void wake_thread(struct net *n)
{
    char c = 0;
    if (write(n->wake[1], &c, 1) < 0 && errno != EAGAIN)
        fprintf(stderr, "spark-emu: net: cannot wake the I/O thread: %s\n", strerror(errno));
}

static void hold(struct net *n, bool *held, bool on)
{
    if (*held == on)
        return;
    *held = on;
    machine_hold_realtime(n->m, on);
}

/* ---- the interface the CC3000 calls (emulator thread, lock taken inside) -- */

static int net_open(void *ctx, bool udp)
{
    struct net *n = ctx;
    int found = -1;
    pthread_mutex_lock(&n->lock);
    for (int i = 0; i < NET_HANDLES; i++) {
        struct net_sock *s = &n->socks[i];
        if (s->used)
            continue;
        memset(s, 0, offsetof(struct net_sock, rx));
        s->used = true;
        s->udp = udp;
        s->fd = -1;
        s->state = CC3000_NET_IDLE;
        s->rx_len = s->tx_len = 0;
        found = i;
        break;
    }
    pthread_mutex_unlock(&n->lock);
    return found;
}

static bool cloud_allowed(const struct net *n, uint16_t port)
{
    return n->mode != NET_MODE_NONE && n->have_cloud && port == NET_CLOUD_PORT;
}

static bool net_connect(void *ctx, int h, uint32_t ip, uint16_t port)
{
    struct net *n = ctx;
    struct net_sock *s = &n->socks[h];
    bool cloud = cloud_allowed(n, port);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip)};
    if (cloud)
        to = n->cloud;
    pthread_mutex_lock(&n->lock);
    if (s->udp || s->fd >= 0 || (!cloud && n->mode != NET_MODE_HOST)) {
        s->state = s->udp || s->fd >= 0 ? CC3000_NET_FAILED : CC3000_NET_UNREACHABLE;
        pthread_mutex_unlock(&n->lock);
        return cloud;
    }
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        s->state = CC3000_NET_FAILED;
        pthread_mutex_unlock(&n->lock);
        return cloud;
    }
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    hold(n, &s->held, true);
    if (connect(s->fd, (struct sockaddr *)&to, sizeof to) == 0)
        s->state = CC3000_NET_CONNECTED;
    else if (errno == EINPROGRESS)
        s->state = CC3000_NET_CONNECTING;
    else if (errno == ECONNREFUSED)
        s->state = CC3000_NET_REFUSED;
    else if (errno == ENETUNREACH || errno == EHOSTUNREACH)
        s->state = CC3000_NET_UNREACHABLE;
    else
        s->state = CC3000_NET_FAILED;
    pthread_mutex_unlock(&n->lock);
    wake_thread(n);
    return cloud;
}

static enum cc3000_net_state net_state(void *ctx, int h)
{
    struct net *n = ctx;
    pthread_mutex_lock(&n->lock);
    enum cc3000_net_state st = n->socks[h].state;
    pthread_mutex_unlock(&n->lock);
    return st;
}

static size_t net_available(void *ctx, int h)
{
    struct net *n = ctx;
    pthread_mutex_lock(&n->lock);
    size_t len = n->socks[h].rx_len;
    pthread_mutex_unlock(&n->lock);
    return len;
}

static size_t net_recv(void *ctx, int h, uint8_t *buf, size_t max, uint32_t *from_ip, uint16_t *from_port)
{
    struct net *n = ctx;
    struct net_sock *s = &n->socks[h];
    pthread_mutex_lock(&n->lock);
    bool was_full = s->rx_len == NET_RX_MAX || (s->udp && s->rx_len > 0);
    size_t got = s->rx_len < max ? s->rx_len : max;
    memcpy(buf, s->rx, got);
    *from_ip = s->rx_from_ip;
    *from_port = s->rx_from_port;
    if (s->udp)
        s->rx_len = 0; /* the rest of a datagram that did not fit is lost, as with recvfrom */
    else
        memmove(s->rx, s->rx + got, s->rx_len -= got);
    pthread_mutex_unlock(&n->lock);
    if (was_full && got)
        wake_thread(n); /* it stopped reading this socket */
    return got;
}

static int net_send(void *ctx, int h, const uint8_t *data, size_t len, uint32_t ip, uint16_t port)
{
    struct net *n = ctx;
    struct net_sock *s = &n->socks[h];
    int result;
    pthread_mutex_lock(&n->lock);
    if (s->udp) {
        /* A datagram: out only with --net host; otherwise it goes where no one listens. */
        result = (int)len;
        if (n->mode == NET_MODE_HOST) {
            if (s->fd < 0) {
                s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (s->fd >= 0)
                    hold(n, &s->held, true);
            }
            struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port),
                                     .sin_addr.s_addr = htonl(ip)};
            if (s->fd < 0 || sendto(s->fd, data, len, MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof to) < 0)
                result = -1;
        }
    } else if (s->state != CC3000_NET_CONNECTED) {
        result = -1;
    } else {
        size_t room = NET_TX_MAX - s->tx_len;
        size_t take = len < room ? len : room;
        memcpy(s->tx + s->tx_len, data, take);
        s->tx_len += take;
        result = (int)take;
    }
    pthread_mutex_unlock(&n->lock);
    wake_thread(n);
    return result;
}

static void net_close(void *ctx, int h)
{
    struct net *n = ctx;
    struct net_sock *s = &n->socks[h];
    pthread_mutex_lock(&n->lock);
    hold(n, &s->held, false);
    if (s->fd >= 0)
        s->closing = true; /* the I/O thread sends what is queued and closes it */
    else
        s->used = false;
    pthread_mutex_unlock(&n->lock);
    wake_thread(n);
}

struct lookup {
    struct net *n;
    char name[NET_NAME_MAX];
};

static void *lookup_thread(void *arg)
{
    struct lookup *l = arg;
    struct net *n = l->n;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(l->name, NULL, &hints, &res);
    pthread_mutex_lock(&n->lock);
    if (strcmp(n->dns_name, l->name) == 0 && n->dns_state == DNS_PENDING) {
        if (rc == 0 && res) {
            n->dns_ip = ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
            n->dns_state = DNS_DONE;
        } else {
            n->dns_state = DNS_FAILED;
        }
    }
    bool quit = n->quit;
    pthread_mutex_unlock(&n->lock);
    if (res)
        freeaddrinfo(res);
    free(l);
    if (!quit)
        notify(n);
    return NULL;
}

static int net_resolve(void *ctx, const char *name, uint32_t *ip)
{
    struct net *n = ctx;
    if (n->mode != NET_MODE_HOST) {
        /* No query leaves: a placeholder, so that the firmware goes on to connect (docs/net.md). */
        *ip = NET_PLACEHOLDER_IP;
        return 1;
    }
    int result = 0;
    pthread_mutex_lock(&n->lock);
    if (n->dns_state != DNS_IDLE && strcmp(n->dns_name, name) != 0)
        n->dns_state = DNS_IDLE; /* a different question: the old answer no longer matters */
    switch (n->dns_state) {
    case DNS_IDLE: {
        struct lookup *l = calloc(1, sizeof *l);
        pthread_t t;
        snprintf(n->dns_name, sizeof n->dns_name, "%s", name);
        if (!l) {
            result = -1;
            break;
        }
        l->n = n;
        snprintf(l->name, sizeof l->name, "%s", name);
        n->dns_state = DNS_PENDING;
        if (pthread_create(&t, NULL, lookup_thread, l)) {
            free(l);
            n->dns_state = DNS_IDLE;
            result = -1;
            break;
        }
        pthread_detach(t);
        hold(n, &n->dns_held, true);
        break;
    }
    case DNS_PENDING:
        break;
    case DNS_DONE:
        *ip = n->dns_ip;
        result = 1;
        break;
    case DNS_FAILED:
        result = -1;
        break;
    }
    if (result != 0) {
        n->dns_state = DNS_IDLE;
        hold(n, &n->dns_held, false);
    }
    pthread_mutex_unlock(&n->lock);
    return result;
}

static const struct cc3000_net net_ops = {
    .open = net_open,
    .connect = net_connect,
    .state = net_state,
    .available = net_available,
    .recv = net_recv,
    .send = net_send,
    .close = net_close,
    .resolve = net_resolve,
};

/* ---- the I/O thread -------------------------------------------------------- */

/* Lock held. One socket's poll result; true if the CC3000 should look again. */
static bool service(struct net_sock *s, short revents)
{
    bool changed = false;
    if (s->state == CC3000_NET_CONNECTING && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        s->state = err == 0               ? CC3000_NET_CONNECTED
                   : err == ECONNREFUSED  ? CC3000_NET_REFUSED
                   : err == ENETUNREACH || err == EHOSTUNREACH || err == ETIMEDOUT ? CC3000_NET_UNREACHABLE
                                          : CC3000_NET_FAILED;
        return true;
    }
    if (s->udp) {
        if ((revents & POLLIN) && s->rx_len == 0) {
            struct sockaddr_in from;
            socklen_t flen = sizeof from;
            ssize_t r = recvfrom(s->fd, s->rx, NET_DATAGRAM_MAX, 0, (struct sockaddr *)&from, &flen);
            if (r > 0) {
                s->rx_len = (size_t)r;
                s->rx_from_ip = ntohl(from.sin_addr.s_addr);
                s->rx_from_port = ntohs(from.sin_port);
                changed = true;
            }
        }
        return changed;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && s->state == CC3000_NET_CONNECTED &&
        s->rx_len < NET_RX_MAX) {
        ssize_t r = recv(s->fd, s->rx + s->rx_len, NET_RX_MAX - s->rx_len, MSG_DONTWAIT);
        if (r > 0) {
            s->rx_len += (size_t)r;
        } else if (r == 0) {
            s->state = CC3000_NET_PEER_CLOSED;
        } else if (errno != EAGAIN && errno != EINTR) {
            s->state = CC3000_NET_FAILED;
        }
        changed = true;
    }
    if ((revents & POLLOUT) && s->tx_len > 0 &&
        (s->state == CC3000_NET_CONNECTED || s->state == CC3000_NET_PEER_CLOSED)) {
        ssize_t w = send(s->fd, s->tx, s->tx_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            memmove(s->tx, s->tx + w, s->tx_len -= (size_t)w);
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            s->state = CC3000_NET_FAILED;
            s->tx_len = 0;
            changed = true;
        }
    }
    return changed;
}

static void *io_thread(void *arg)
{
    struct net *n = arg;
    struct pollfd pfd[NET_HANDLES + 1];
    int which[NET_HANDLES + 1];
    for (;;) {
        int count = 0;
        pfd[count++] = (struct pollfd){.fd = n->wake[0], .events = POLLIN};
        pthread_mutex_lock(&n->lock);
        if (n->quit) {
            pthread_mutex_unlock(&n->lock);
            break;
        }
        for (int i = 0; i < NET_HANDLES; i++) {
            struct net_sock *s = &n->socks[i];
            if (!s->used || s->fd < 0)
                continue;
            if (s->closing) {
                /* Closed by the firmware: what it sent goes out first (best effort), then FIN. */
                if (s->tx_len && s->state == CC3000_NET_CONNECTED)
                    (void)!send(s->fd, s->tx, s->tx_len, MSG_DONTWAIT | MSG_NOSIGNAL);
                close(s->fd);
                s->fd = -1;
                s->used = false;
                continue;
            }
            short ev = 0;
            if (s->state == CC3000_NET_CONNECTING)
                ev |= POLLOUT;
            if (s->tx_len && (s->state == CC3000_NET_CONNECTED || s->state == CC3000_NET_PEER_CLOSED))
                ev |= POLLOUT;
            if (s->udp ? s->rx_len == 0 : (s->state == CC3000_NET_CONNECTED && s->rx_len < NET_RX_MAX))
                ev |= POLLIN;
            if (!ev)
                continue;
            which[count] = i;
            pfd[count++] = (struct pollfd){.fd = s->fd, .events = ev};
        }
        pthread_mutex_unlock(&n->lock);

        if (poll(pfd, (nfds_t)count, -1) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            char buf[64];
            while (read(n->wake[0], buf, sizeof buf) > 0) {
            }
        }
        bool changed = false;
        pthread_mutex_lock(&n->lock);
        for (int k = 1; k < count; k++) {
            struct net_sock *s = &n->socks[which[k]];
            if (pfd[k].revents && s->used && !s->closing && s->fd == pfd[k].fd)
                changed |= service(s, pfd[k].revents);
        }
        pthread_mutex_unlock(&n->lock);
        if (changed)
            notify(n);
    }
    return NULL;
}

/* ---- the adapter -------------------------------------------------------------- */

static int parse_cloud(struct net *n, const char *arg, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof host || !colon[1]) {
        snprintf(err, errlen, "--cloud %s: expected HOST:PORT, e.g. 127.0.0.1:5683", arg);
        return -1;
    }
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535) {
        snprintf(err, errlen, "--cloud %s: the port must be 1-65535", arg);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc || !res) {
        snprintf(err, errlen, "--cloud %s: cannot resolve %s: %s", arg, host, gai_strerror(rc));
        return -1;
    }
    n->cloud = *(struct sockaddr_in *)res->ai_addr;
    n->cloud.sin_port = htons((uint16_t)port);
    n->have_cloud = true;
    freeaddrinfo(res);
    return 0;
}

static int net_create(struct host *h, void **self, char *err, size_t errlen)
{
    struct net *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n->h = h;
    n->wake[0] = n->wake[1] = -1;
    n->mode = h->opt->net_mode;
    if (h->opt->cloud && parse_cloud(n, h->opt->cloud, err, errlen)) {
        free(n);
        return -1;
    }
    if (n->mode == NET_MODE_DEFAULT)
        n->mode = n->have_cloud ? NET_MODE_CLOUD : NET_MODE_NONE;
    if (pthread_mutex_init(&n->lock, NULL)) {
        free(n);
        snprintf(err, errlen, "net: cannot create a mutex");
        return -1;
    }
    if (pipe2(n->wake, O_NONBLOCK | O_CLOEXEC)) {
        snprintf(err, errlen, "net: cannot create a pipe: %s", strerror(errno));
        pthread_mutex_destroy(&n->lock);
        free(n);
        return -1;
    }
    *self = n;
    return 0;
}

static int net_attach(struct host *h, void *self, char *err, size_t errlen)
{
    struct net *n = self;
    n->m = h->m;
    spark_core_set_net(h->board, &net_ops, n);
    if (pthread_create(&n->thread, NULL, io_thread, n)) {
        snprintf(err, errlen, "net: cannot start the I/O thread");
        return -1;
    }
    n->thread_started = true;
    return 0;
}

static void net_stop(struct host *h, void *self)
{
    (void)h;
    struct net *n = self;
    if (!n->thread_started)
        return;
    pthread_mutex_lock(&n->lock);
    n->quit = true;
    pthread_mutex_unlock(&n->lock);
    wake_thread(n);
    pthread_join(n->thread, NULL);
    n->thread_started = false;
}

static void net_destroy(struct host *h, void *self)
{
    struct net *n = self;
    net_stop(h, self);
    for (int i = 0; i < NET_HANDLES; i++)
        if (n->socks[i].used && n->socks[i].fd >= 0)
            close(n->socks[i].fd);
    close(n->wake[0]);
    close(n->wake[1]);
    /* A lookup thread may still be running; it holds `n`, so it is left allocated. */
    if (n->dns_state != DNS_PENDING) {
        pthread_mutex_destroy(&n->lock);
        free(n);
    }
}

const struct host_adapter host_net = {
    .name = "net",
    .create = net_create,
    .attach = net_attach,
    .stop = net_stop,
    .destroy = net_destroy,
};
