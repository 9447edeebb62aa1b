/*
 * cc3000.c - TI CC3000 model: SPI framing, IRQ handshake, HCI replies, NVMEM,
 * a scripted WiFi network (listening mode without profiles, connect + DHCP
 * with them) and BSD sockets on the network behind struct cc3000_net (host
 * sockets through emu/host/net.c; see "sockets" below and docs/net.md).
 *
 * SPI: a chip-select cycle starting with 0x01 is a host write
 * (01 LEN_hi LEN_lo 00 00, then LEN bytes of HCI packet and padding); one
 * starting with 0x03 is a read: we answer 02 00 00 LEN_hi LEN_lo, then the
 * packet, then zero padding for as long as the host clocks. Because MISO of
 * byte 0 leaves before the opcode is known, it is always 0x02.
 *
 * IRQ (the handshake the Spark driver needs): low a moment after WLAN_EN
 * rises; low shortly after CS falls while it was high (ready for a write);
 * high on every CS rise and for a short gap after it; low whenever CS is high
 * and a queued packet is ready; high while WLAN_EN is low.
 *
 * Design decision: replies are queued with the virtual time they become ready
 * (a few hundred microseconds for commands, tens of milliseconds for network
 * round trips, hundreds for connect/DHCP), so the firmware sees the latencies
 * of a real module, and every HCI command or data packet the host writes is a
 * "cc3000" trace record whose "op" is the command opcode or, for data packets,
 * the one-byte data opcode (0x0090 NVMEM_WRITE, 0x0081 SEND, 0x0083 SENDTO).
 */
#include "cc3000.h"

#include "emu/snapshot.h"

#include <string.h>

#define HCI_CMND_HEADER_SIZE 4   /* type, opcode (2), argument length */
#define HCI_DATA_HEADER_SIZE 5   /* type, opcode, argument length, total length (2) */
#define HCI_EVENT_HEADER_SIZE 5  /* type, opcode (2), length, status */
#define HCI_EVENT_PARAMS_MAX 250
#define READ_REPLY_BYTE0 0x02
#define MISO_UNPOWERED 0xFF
#define MISO_FILLER 0x00

#define STATUS_OK 0
#define STATUS_ERROR 1
#define RESULT_ERROR (-1)
#define SOC_LOOKUP_OK 1 /* gethostbyname: positive on success */

/* READ_BUFFER_SIZE reply: free buffers and their size. */
#define FREE_BUFFERS 6
#define BUFFER_LENGTH 1468
#define MSS_VALUE 1460

/* WLAN_IOCTL_STATUSGET values. */
#define WLAN_STATUS_DISCONNECTED 0
#define WLAN_STATUS_CONNECTING 2
#define WLAN_STATUS_CONNECTED 3

/* DEL_PROFILE index meaning "all profiles". */
#define DEL_ALL_PROFILES 255

/* Service pack version reported by READ_SP_VERSION (a stub value, not measured). */
#define SP_PACKAGE_ID 1
#define SP_BUILD 29

/* The scripted network, host byte order (a<<24 | b<<16 | c<<8 | d). */
#define IPV4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))
#define NET_IP IPV4(192, 168, 1, 100)
#define NET_MASK IPV4(255, 255, 255, 0)
#define NET_GATEWAY IPV4(192, 168, 1, 1)
#define NET_DHCP_SERVER IPV4(192, 168, 1, 1)
#define NET_DNS IPV4(192, 168, 1, 1)
/* Every name resolves to the address the firmware itself falls back to for device.spark.io. */
#define NET_RESOLVED IPV4(54, 208, 229, 4)
#define NET_SSID "spark-emu"

/* NETAPP_IPCONFIG reply layout: IP, mask, GW, DHCP, DNS (4 each), MAC (6), SSID (32). */
#define IPCONFIG_MAC_OFFSET 20
#define IPCONFIG_SSID_OFFSET 26
#define IPCONFIG_SSID_LEN 32
#define IPCONFIG_LEN (IPCONFIG_SSID_OFFSET + IPCONFIG_SSID_LEN)
#define DHCP_EVENT_LEN 20

/* Argument offsets of the commands we read (all little-endian u32). */
#define NVMEM_ARG_FILE 0
#define NVMEM_READ_ARG_LEN 4
#define NVMEM_READ_ARG_OFFSET 8
#define NVMEM_CREATE_ARG_LEN 4
#define NVMEM_WRITE_ARG_LEN 8
#define NVMEM_WRITE_ARG_OFFSET 12
#define POLICY_ARG_USE_PROFILES 8
#define SELECT_ARG_BLOCKING 20
#define SELECT_ARG_SEC 36
#define SELECT_ARG_USEC 40
#define SOCKET_ARG_SD 0
#define SEND_ARG_LEN 8
#define GETSCAN_REPLY_LEN 50
#define PING_REPORT_LEN 20
#define ACCEPT_REPLY_LEN 16

/* ---- little-endian helpers -------------------------------------------- */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A u32 argument, or 0 when the host sent fewer bytes. */
static uint32_t arg_u32(const uint8_t *args, uint32_t nargs, uint32_t offset)
{
    if (offset + 4 > nargs)
        return 0;
    return (uint32_t)args[offset] | (uint32_t)args[offset + 1] << 8 |
           (uint32_t)args[offset + 2] << 16 | (uint32_t)args[offset + 3] << 24;
}

/* ---- the packet queue -------------------------------------------------- */

static struct cc3000_packet *queue_insert(struct cc3000 *dev, uint64_t ready_at)
{
    if (dev->queue_count == CC3000_QUEUE_LEN) {
        sim_log(dev->sim, LOG_WARN, "cc3000: reply queue full, a packet for the host was dropped");
        return NULL;
    }
    int i = dev->queue_count++;
    while (i > 0 && dev->queue[i - 1].ready_at > ready_at) {
        dev->queue[i] = dev->queue[i - 1];
        i--;
    }
    dev->queue[i].ready_at = ready_at;
    dev->queue[i].len = 0;
    return &dev->queue[i];
}

static void queue_remove(struct cc3000 *dev, int index)
{
    dev->queue_count--;
    memmove(&dev->queue[index], &dev->queue[index + 1],
            (size_t)(dev->queue_count - index) * sizeof dev->queue[0]);
}

static bool head_ready(const struct cc3000 *dev)
{
    return dev->queue_count > 0 && dev->queue[0].ready_at <= sim_now(dev->sim);
}

static void irq_update(struct cc3000 *dev);

static void queue_event(struct cc3000 *dev, uint64_t delay, uint16_t opcode, uint8_t status,
                        const uint8_t *params, size_t n)
{
    if (n > HCI_EVENT_PARAMS_MAX)
        n = HCI_EVENT_PARAMS_MAX;
    struct cc3000_packet *p = queue_insert(dev, sim_now(dev->sim) + delay);
    if (!p)
        return;
    p->data[0] = CC3000_HCI_TYPE_EVNT;
    put_le16(&p->data[1], opcode);
    p->data[3] = (uint8_t)(1 + n); /* the status byte and the parameters */
    p->data[4] = status;
    if (n)
        memcpy(&p->data[HCI_EVENT_HEADER_SIZE], params, n);
    p->len = (uint16_t)(HCI_EVENT_HEADER_SIZE + n);
    irq_update(dev);
}

static void queue_event_i32(struct cc3000 *dev, uint64_t delay, uint16_t opcode, int32_t value)
{
    uint8_t params[4];
    put_le32(params, (uint32_t)value);
    queue_event(dev, delay, opcode, STATUS_OK, params, sizeof params);
}

static void reply_status(struct cc3000 *dev, uint16_t opcode, uint8_t status)
{
    queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, status, NULL, 0);
}

static void reply_i32(struct cc3000 *dev, uint16_t opcode, int32_t value)
{
    queue_event_i32(dev, CC3000_RESPONSE_LATENCY, opcode, value);
}

/* Data packet: 02, opcode, argument length, total length (LE), arguments, data. */
static void queue_data_args(struct cc3000 *dev, uint64_t delay, uint8_t opcode, const uint8_t *args,
                            size_t nargs, const uint8_t *data, size_t n)
{
    if (n > CC3000_PACKET_MAX - HCI_DATA_HEADER_SIZE - nargs)
        n = CC3000_PACKET_MAX - HCI_DATA_HEADER_SIZE - nargs;
    struct cc3000_packet *p = queue_insert(dev, sim_now(dev->sim) + delay);
    if (!p)
        return;
    p->data[0] = CC3000_HCI_TYPE_DATA;
    p->data[1] = opcode;
    p->data[2] = (uint8_t)nargs; /* the host takes total length - argument length as data */
    put_le16(&p->data[3], (uint16_t)(nargs + n));
    if (nargs)
        memcpy(&p->data[HCI_DATA_HEADER_SIZE], args, nargs);
    if (n)
        memcpy(&p->data[HCI_DATA_HEADER_SIZE + nargs], data, n);
    p->len = (uint16_t)(HCI_DATA_HEADER_SIZE + nargs + n);
    irq_update(dev);
}

static void queue_data(struct cc3000 *dev, uint64_t delay, uint8_t opcode, const uint8_t *data, size_t n)
{
    queue_data_args(dev, delay, opcode, NULL, 0, data, n);
}

/* ---- IRQ ---------------------------------------------------------------- */

static void drive_irq(struct cc3000 *dev, bool low)
{
    if (low == dev->irq_low)
        return;
    dev->irq_low = low;
    line_set(&dev->irq, !low);
}

static void irq_update(struct cc3000 *dev)
{
    if (!dev->enabled || !dev->booted) {
        drive_irq(dev, false);
        return;
    }
    if (dev->selected)
        return; /* held through a transfer; write_ready_fn lowers it for a write */
    if (dev->boot_ready) {
        drive_irq(dev, true);
        return;
    }
    if (dev->queue_count == 0) {
        drive_irq(dev, false);
        return;
    }
    uint64_t when = dev->queue[0].ready_at;
    if (when < dev->irq_quiet_until)
        when = dev->irq_quiet_until;
    if (when <= sim_now(dev->sim)) {
        drive_irq(dev, true);
    } else {
        drive_irq(dev, false);
        event_schedule(dev->sim, &dev->irq_event, when);
    }
}

static void irq_event_fn(struct sim *sim, void *opaque)
{
    (void)sim;
    irq_update(opaque);
}

static void boot_done(struct sim *sim, void *opaque)
{
    (void)sim;
    struct cc3000 *dev = opaque;
    dev->booted = true;
    dev->boot_ready = true;
    irq_update(dev);
}

static void write_ready_fn(struct sim *sim, void *opaque)
{
    (void)sim;
    struct cc3000 *dev = opaque;
    if (dev->selected && dev->booted)
        drive_irq(dev, true);
}

/* ---- the scripted network ---------------------------------------------- */

static bool wlan_connected(const struct cc3000 *dev)
{
    return sim_now(dev->sim) >= dev->connected_at;
}

static bool wlan_has_ip(const struct cc3000 *dev)
{
    return sim_now(dev->sim) >= dev->dhcp_at;
}

static void close_all_sockets(struct cc3000 *dev, const char *by);

static void start_connecting(struct cc3000 *dev)
{
    if (dev->connected_at != UINT64_MAX)
        return; /* already connected or on the way */
    uint64_t now = sim_now(dev->sim);
    dev->connected_at = now + CC3000_CONNECT_DELAY;
    dev->dhcp_at = dev->connected_at + CC3000_DHCP_DELAY;
    queue_event(dev, CC3000_CONNECT_DELAY, CC3000_HCI_EVNT_WLAN_UNSOL_CONNECT, STATUS_OK, NULL, 0);

    /* IP, mask, gateway, DHCP server, DNS: each little-endian, as the host copies them. */
    uint8_t dhcp[DHCP_EVENT_LEN];
    put_le32(&dhcp[0], NET_IP);
    put_le32(&dhcp[4], NET_MASK);
    put_le32(&dhcp[8], NET_GATEWAY);
    put_le32(&dhcp[12], NET_DHCP_SERVER);
    put_le32(&dhcp[16], NET_DNS);
    queue_event(dev, CC3000_CONNECT_DELAY + CC3000_DHCP_DELAY, CC3000_HCI_EVNT_WLAN_UNSOL_DHCP,
                STATUS_OK, dhcp, sizeof dhcp);
}

static uint16_t packet_event_opcode(const struct cc3000_packet *p)
{
    if (p->data[0] != CC3000_HCI_TYPE_EVNT)
        return 0;
    return (uint16_t)(p->data[1] | p->data[2] << 8);
}

static void disconnect(struct cc3000 *dev)
{
    if (dev->connected_at == UINT64_MAX)
        return;
    bool was_connected = wlan_connected(dev);
    /* Connect/DHCP events not yet read will never happen now. */
    for (int i = dev->queue_count - 1; i >= 0; i--) {
        uint16_t op = packet_event_opcode(&dev->queue[i]);
        if (op == CC3000_HCI_EVNT_WLAN_UNSOL_CONNECT || op == CC3000_HCI_EVNT_WLAN_UNSOL_DHCP)
            queue_remove(dev, i);
    }
    dev->connected_at = dev->dhcp_at = UINT64_MAX;
    close_all_sockets(dev, "network");
    if (was_connected)
        queue_event(dev, CC3000_RESPONSE_LATENCY, CC3000_HCI_EVNT_WLAN_UNSOL_DISCONNECT, STATUS_OK,
                    NULL, 0);
}

/* ---- NVMEM --------------------------------------------------------------- */

static void nvmem_read(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    uint32_t file = arg_u32(args, nargs, NVMEM_ARG_FILE);
    uint32_t len = arg_u32(args, nargs, NVMEM_READ_ARG_LEN);
    uint32_t offset = arg_u32(args, nargs, NVMEM_READ_ARG_OFFSET);
    uint8_t status = STATUS_ERROR;
    const uint8_t *data = NULL;
    uint32_t n = 0;

    if (file < CC3000_NVMEM_FILES && offset < dev->nvmem[file].size) {
        const struct cc3000_nvmem_file *f = &dev->nvmem[file];
        n = f->size - offset < len ? f->size - offset : len;
        status = n == len ? STATUS_OK : STATUS_ERROR;
        data = f->data + offset;
    }
    /* The Spark driver waits for the data packet even after an error status. */
    reply_status(dev, CC3000_HCI_CMND_NVMEM_READ, status);
    queue_data(dev, CC3000_RESPONSE_LATENCY, CC3000_HCI_DATA_NVMEM, data, n);
}

static void nvmem_create_entry(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    uint32_t file = arg_u32(args, nargs, NVMEM_ARG_FILE);
    uint32_t len = arg_u32(args, nargs, NVMEM_CREATE_ARG_LEN);
    uint8_t status = STATUS_ERROR;
    if (file < CC3000_NVMEM_FILES && len <= CC3000_NVMEM_FILE_MAX) {
        dev->nvmem[file].size = (uint16_t)len;
        memset(dev->nvmem[file].data, 0, sizeof dev->nvmem[file].data);
        status = STATUS_OK;
    }
    reply_status(dev, CC3000_HCI_CMND_NVMEM_CREATE_ENTRY, status);
}

static void nvmem_write(struct cc3000 *dev, const uint8_t *args, uint32_t nargs, const uint8_t *data,
                        uint32_t ndata)
{
    uint32_t file = arg_u32(args, nargs, NVMEM_ARG_FILE);
    uint32_t len = arg_u32(args, nargs, NVMEM_WRITE_ARG_LEN);
    uint32_t offset = arg_u32(args, nargs, NVMEM_WRITE_ARG_OFFSET);
    int32_t result = RESULT_ERROR;
    if (len > ndata)
        len = ndata;
    if (file < CC3000_NVMEM_FILES && (uint64_t)offset + len <= CC3000_NVMEM_FILE_MAX) {
        struct cc3000_nvmem_file *f = &dev->nvmem[file];
        memcpy(f->data + offset, data, len);
        if (offset + len > f->size)
            f->size = (uint16_t)(offset + len);
        result = 0;
    }
    reply_i32(dev, CC3000_HCI_EVNT_NVMEM_WRITE, result);
}

static void set_mac(struct cc3000 *dev, const uint8_t mac[CC3000_MAC_LEN])
{
    memcpy(dev->mac, mac, CC3000_MAC_LEN);
    struct cc3000_nvmem_file *f = &dev->nvmem[CC3000_NVMEM_MAC_FILEID];
    memcpy(f->data, mac, CC3000_MAC_LEN);
    f->size = CC3000_MAC_LEN;
}

void cc3000_set_mac_seed(struct cc3000 *dev, uint32_t seed)
{
    /* An integer mix, so neighbouring seeds give unrelated-looking addresses. */
    uint32_t x = seed ^ 0x5350524Bu;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    uint8_t mac[CC3000_MAC_LEN] = {0x08, 0x00, 0x28, (uint8_t)(x >> 16), (uint8_t)(x >> 8),
                                   (uint8_t)x};
    set_mac(dev, mac);
}

/* ---- sockets ------------------------------------------------------------- */
/*
 * With a network attached (cc3000_set_net), every socket is one of its
 * handles, and the three requests that wait (connect, select, gethostbyname)
 * are answered when the network has the answer or the module's own time limit
 * expires; the host driver can have only one of them outstanding. Without a
 * network the sockets are scripted: they connect and never receive data.
 *
 * Framing: the firmware's idle poll reads a 2-byte length with one
 * non-blocking recv and drops a lone byte, so select does not report a socket
 * readable while exactly one byte is waiting, until CC3000_COALESCE_TIME has
 * passed without its successor (a peer that writes the prefix in two TCP
 * segments still gets it read in one piece).
 */

#define SOCK_TYPE_DGRAM 2
#define SOCKET_ARG_TYPE 4
#define CONNECT_ARG_ADDR 12      /* sockaddr: family (LE), port (BE), IPv4 a.b.c.d */
#define SOCKADDR_LEN 8
#define SELECT_ARG_NFDS 0
#define SELECT_ARG_READ 24
#define SELECT_ARG_WRITE 28
#define SELECT_ARG_EXCEPT 32
#define RECV_ARG_LEN 4
#define RESOLVE_ARG_LEN 4
#define RESOLVE_ARG_NAME 8
#define SENDTO_ARGS 24
#define RECVFROM_ARG_FROMLEN 4   /* in the data packet's arguments */
#define RECVFROM_ARG_FROM 16
/* Largest recv payload: well inside the host driver's SPI receive buffer. */
#define RECV_MAX 1000
/* What the wire shows of the 0.7.0 handshake (docs/net.md). */
#define CLOUD_NONCE_LEN 40
#define CLOUD_KEY_BLOCK_LEN 256
#define CLOUD_SESSION_KEY_LEN 384
#define CLOUD_HELLO_LEN 18

static bool socket_valid(const struct cc3000 *dev, uint32_t sd)
{
    return sd < CC3000_MAX_SOCKETS && dev->sockets[sd].open;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static const char *cloud_stage(const struct cc3000_socket *s)
{
    if (s->received < CLOUD_NONCE_LEN)
        return "nonce";
    if (!s->hello_sent)
        return "session-key";
    return "hello";
}

/* The cloud connection ended: `by` the core (it closed), the peer, or the network (WiFi lost, reset). */
static void cloud_closed(struct cc3000 *dev, struct cc3000_socket *s, const char *by)
{
    if (!s->cloud || !s->connected || s->closed_traced)
        return;
    s->closed_traced = true;
    if (!s->online)
        sim_trace(dev->sim, "cloud", "\"event\":\"error\",\"stage\":\"%s\",\"by\":\"%s\"", cloud_stage(s), by);
    sim_trace(dev->sim, "cloud", "\"event\":\"closed\",\"by\":\"%s\",\"sent\":%llu,\"received\":%llu", by,
              (unsigned long long)s->sent, (unsigned long long)s->received);
}

/* The peer has closed socket sd: tell the host driver (once), and the trace. */
static void send_close_wait(struct cc3000 *dev, struct cc3000_socket *s, int sd, const char *why)
{
    s->close_wait_sent = true;
    cloud_closed(dev, s, why);
    uint8_t params[4];
    put_le32(params, (uint32_t)sd);
    queue_event(dev, CC3000_RESPONSE_LATENCY, CC3000_HCI_EVNT_BSD_TCP_CLOSE_WAIT, STATUS_OK, params, sizeof params);
}

/*
 * What the Core sends shows how far the handshake got: its 256-byte key block
 * answers the nonce; after the 384-byte session key its Hello is one 18-byte
 * frame (00 10 + one AES block), sent only if the session key decrypted and
 * verified; anything it sends after that, once the server has sent more than
 * the session key (its Hello), is sent only after it accepted that Hello.
 */
static void cloud_sent(struct cc3000 *dev, struct cc3000_socket *s, const uint8_t *data, size_t n)
{
    if (!s->cloud)
        return;
    bool after_session_key = s->received >= CLOUD_NONCE_LEN + CLOUD_SESSION_KEY_LEN;
    bool first_after_key = after_session_key && s->sent <= CLOUD_KEY_BLOCK_LEN;
    s->sent += n;
    if (!s->handshake_traced && s->received >= CLOUD_NONCE_LEN && s->sent >= CLOUD_KEY_BLOCK_LEN) {
        s->handshake_traced = true;
        sim_trace(dev->sim, "cloud", "\"event\":\"handshake\"");
    }
    if (first_after_key) {
        s->hello_sent = n == CLOUD_HELLO_LEN && data[0] == 0 && data[1] == CLOUD_HELLO_LEN - 2;
        return;
    }
    if (!s->online && s->hello_sent && s->received > CLOUD_NONCE_LEN + CLOUD_SESSION_KEY_LEN) {
        s->online = true;
        sim_trace(dev->sim, "cloud", "\"event\":\"online\"");
    }
}

static void close_wait_check(struct cc3000 *dev);

static void socket_free(struct cc3000 *dev, int sd, const char *by)
{
    struct cc3000_socket *s = &dev->sockets[sd];
    cloud_closed(dev, s, by);
    if (dev->net && s->handle >= 0)
        dev->net->close(dev->net_ctx, s->handle);
    memset(s, 0, sizeof *s);
    s->handle = -1;
    s->lone_byte_since = UINT64_MAX;
}

static void close_all_sockets(struct cc3000 *dev, const char *by)
{
    for (int i = 0; i < CC3000_MAX_SOCKETS; i++)
        if (dev->sockets[i].open)
            socket_free(dev, i, by);
}

static void wait_end(struct cc3000 *dev)
{
    dev->wait = CC3000_WAIT_NONE;
    event_cancel(dev->sim, &dev->wait_event);
}

static void wait_until(struct cc3000 *dev, uint64_t when)
{
    if (when < sim_now(dev->sim))
        when = sim_now(dev->sim);
    event_schedule(dev->sim, &dev->wait_event, when);
}

static void socket_open(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    int32_t sd = RESULT_ERROR;
    bool udp = arg_u32(args, nargs, SOCKET_ARG_TYPE) == SOCK_TYPE_DGRAM;
    for (int i = 0; i < CC3000_MAX_SOCKETS; i++) {
        if (dev->sockets[i].open)
            continue;
        struct cc3000_socket *s = &dev->sockets[i];
        int handle = dev->net ? dev->net->open(dev->net_ctx, udp) : -1;
        if (dev->net && handle < 0)
            break;
        memset(s, 0, sizeof *s);
        s->open = true;
        s->udp = udp;
        s->handle = handle;
        s->lone_byte_since = UINT64_MAX;
        sd = i;
        break;
    }
    reply_i32(dev, CC3000_HCI_CMND_SOCKET, sd);
}

static void connect_poll(struct cc3000 *dev)
{
    struct cc3000_socket *s = &dev->sockets[dev->wait_sd];
    enum cc3000_net_state st = dev->net->state(dev->net_ctx, s->handle);
    bool expired = sim_now(dev->sim) >= dev->wait_deadline;
    int32_t result;
    switch (st) {
    case CC3000_NET_CONNECTED:
    case CC3000_NET_PEER_CLOSED: /* connected, and the peer already said goodbye */
        result = 0;
        break;
    case CC3000_NET_REFUSED:
    case CC3000_NET_FAILED:
        result = RESULT_ERROR;
        break;
    default: /* connecting, or no route: the module keeps trying until its time limit */
        if (!expired) {
            wait_until(dev, dev->wait_deadline);
            return;
        }
        result = RESULT_ERROR;
        break;
    }
    wait_end(dev);
    sim_log(dev->sim, LOG_DEBUG, "cc3000: connect of socket %d: state %d, result %d", dev->wait_sd, (int)st,
            (int)result);
    if (result == 0) {
        s->connected = true;
        if (s->cloud)
            sim_trace(dev->sim, "cloud", "\"event\":\"connect\"");
    }
    reply_i32(dev, CC3000_HCI_CMND_CONNECT, result);
}

static void socket_connect(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    uint32_t sd = arg_u32(args, nargs, SOCKET_ARG_SD);
    if (!socket_valid(dev, sd) || !wlan_has_ip(dev) || nargs < CONNECT_ARG_ADDR + SOCKADDR_LEN) {
        queue_event_i32(dev, CC3000_NETWORK_LATENCY, CC3000_HCI_CMND_CONNECT, RESULT_ERROR);
        return;
    }
    struct cc3000_socket *s = &dev->sockets[sd];
    if (!dev->net) {
        s->connected = true;
        queue_event_i32(dev, CC3000_NETWORK_LATENCY, CC3000_HCI_CMND_CONNECT, 0);
        return;
    }
    const uint8_t *addr = args + CONNECT_ARG_ADDR;
    uint16_t port = (uint16_t)(addr[2] << 8 | addr[3]);
    s->cloud = dev->net->connect(dev->net_ctx, s->handle, get_be32(addr + 4), port);
    dev->wait = CC3000_WAIT_CONNECT;
    dev->wait_sd = (int)sd;
    dev->wait_deadline = sim_now(dev->sim) + CC3000_CONNECT_TIMEOUT;
    connect_poll(dev);
}

static void socket_close(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    uint32_t sd = arg_u32(args, nargs, SOCKET_ARG_SD);
    int32_t result = RESULT_ERROR;
    if (socket_valid(dev, sd)) {
        socket_free(dev, (int)sd, "core");
        result = 0;
    }
    reply_i32(dev, CC3000_HCI_CMND_CLOSE_SOCKET, result);
}

static bool peer_gone(enum cc3000_net_state st)
{
    return st == CC3000_NET_PEER_CLOSED || st == CC3000_NET_FAILED;
}

/* Readable for select; *recheck moves earlier if a lone byte will become readable by waiting. */
static bool socket_readable(struct cc3000 *dev, struct cc3000_socket *s, uint64_t *recheck)
{
    if (!dev->net || s->handle < 0)
        return false;
    size_t avail = dev->net->available(dev->net_ctx, s->handle);
    enum cc3000_net_state st = dev->net->state(dev->net_ctx, s->handle);
    if (avail != 1 || s->udp) {
        s->lone_byte_since = UINT64_MAX;
        return avail > 0 || (s->connected && peer_gone(st));
    }
    if (peer_gone(st))
        return true;
    uint64_t now = sim_now(dev->sim);
    if (s->lone_byte_since == UINT64_MAX)
        s->lone_byte_since = now;
    if (now >= s->lone_byte_since + CC3000_COALESCE_TIME)
        return true;
    if (s->lone_byte_since + CC3000_COALESCE_TIME < *recheck)
        *recheck = s->lone_byte_since + CC3000_COALESCE_TIME;
    return false;
}

static void select_poll(struct cc3000 *dev)
{
    uint32_t ready[3] = {0};
    uint64_t recheck = dev->wait_deadline;
    int count = 0;
    for (uint32_t sd = 0; sd < dev->select_nfds && sd < CC3000_MAX_SOCKETS; sd++) {
        struct cc3000_socket *s = &dev->sockets[sd];
        uint32_t bit = 1u << sd;
        if (!s->open)
            continue;
        if ((dev->select_masks[0] & bit) && socket_readable(dev, s, &recheck)) {
            ready[0] |= bit;
            count++;
        }
        if ((dev->select_masks[1] & bit) && (s->connected || s->udp)) {
            ready[1] |= bit;
            count++;
        }
    }
    if (count == 0 && sim_now(dev->sim) < dev->wait_deadline) {
        wait_until(dev, recheck);
        return;
    }
    wait_end(dev);
    uint8_t params[16];
    put_le32(&params[0], (uint32_t)count);
    put_le32(&params[4], ready[0]);
    put_le32(&params[8], ready[1]);
    put_le32(&params[12], ready[2]);
    /* A time-out is answered when it expires; a ready socket after the usual latency. */
    queue_event(dev, count ? CC3000_RESPONSE_LATENCY : 0, CC3000_HCI_CMND_BSD_SELECT, STATUS_OK, params,
                sizeof params);
}

static void socket_select(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    uint64_t wait = CC3000_SELECT_MAX_WAIT;
    if (!arg_u32(args, nargs, SELECT_ARG_BLOCKING)) {
        uint64_t us = (uint64_t)arg_u32(args, nargs, SELECT_ARG_SEC) * 1000000u +
                      arg_u32(args, nargs, SELECT_ARG_USEC);
        wait = SIM_US(us);
        if (wait < CC3000_RESPONSE_LATENCY)
            wait = CC3000_RESPONSE_LATENCY;
        if (wait > CC3000_SELECT_MAX_WAIT)
            wait = CC3000_SELECT_MAX_WAIT;
    }
    dev->wait = CC3000_WAIT_SELECT;
    dev->select_nfds = arg_u32(args, nargs, SELECT_ARG_NFDS);
    dev->select_masks[0] = arg_u32(args, nargs, SELECT_ARG_READ);
    dev->select_masks[1] = arg_u32(args, nargs, SELECT_ARG_WRITE);
    dev->select_masks[2] = arg_u32(args, nargs, SELECT_ARG_EXCEPT);
    dev->wait_deadline = sim_now(dev->sim) + wait;
    select_poll(dev);
}

/* RECV/RECVFROM: the event (descriptor, count, flags), then a data packet with the bytes. */
static void socket_recv(struct cc3000 *dev, uint16_t opcode, const uint8_t *args, uint32_t nargs)
{
    uint32_t sd = arg_u32(args, nargs, SOCKET_ARG_SD);
    size_t want = arg_u32(args, nargs, RECV_ARG_LEN);
    uint8_t params[12] = {0};
    put_le32(params, sd);
    if (!socket_valid(dev, sd)) {
        put_le32(&params[4], (uint32_t)RESULT_ERROR);
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        return;
    }
    struct cc3000_socket *s = &dev->sockets[sd];
    if (!dev->net || s->handle < 0) {
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        return;
    }
    uint8_t data[RECV_MAX];
    uint32_t from_ip = 0;
    uint16_t from_port = 0;
    size_t got = dev->net->recv(dev->net_ctx, s->handle, data, want < RECV_MAX ? want : RECV_MAX, &from_ip,
                                &from_port);
    if (got == 0) {
        /* Nothing: 0, or the TI driver's "inactive" once the peer has closed. */
        if (s->connected && peer_gone(dev->net->state(dev->net_ctx, s->handle)))
            put_le32(&params[4], (uint32_t)CC3000_ERROR_SOCKET_INACTIVE);
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        return;
    }
    if (s->cloud)
        s->received += got;
    s->lone_byte_since = UINT64_MAX;
    put_le32(&params[4], (uint32_t)got);
    queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
    if (opcode == CC3000_HCI_CMND_RECVFROM) {
        uint8_t from[SENDTO_ARGS] = {0};
        put_le32(&from[0], sd);
        put_le32(&from[RECVFROM_ARG_FROMLEN], SOCKADDR_LEN);
        put_le16(&from[RECVFROM_ARG_FROM], 2); /* AF_INET */
        from[RECVFROM_ARG_FROM + 2] = (uint8_t)(from_port >> 8);
        from[RECVFROM_ARG_FROM + 3] = (uint8_t)from_port;
        put_be32(&from[RECVFROM_ARG_FROM + 4], from_ip);
        queue_data_args(dev, CC3000_RESPONSE_LATENCY, CC3000_HCI_DATA_RECV, from, sizeof from, data, got);
    } else {
        queue_data(dev, CC3000_RESPONSE_LATENCY, CC3000_HCI_DATA_RECV, data, got);
    }
    close_wait_check(dev); /* that may have been the last byte from a peer that closed */
}

static void resolve_poll(struct cc3000 *dev)
{
    uint32_t ip = 0;
    int r = dev->net->resolve(dev->net_ctx, dev->resolve_name, &ip);
    bool expired = sim_now(dev->sim) >= dev->wait_deadline;
    if ((r == 0 || r == -2) && !expired) {
        wait_until(dev, dev->wait_deadline);
        return;
    }
    wait_end(dev);
    uint8_t params[8];
    put_le32(&params[0], r == 1 ? SOC_LOOKUP_OK : (uint32_t)RESULT_ERROR);
    put_le32(&params[4], r == 1 ? ip : 0);
    queue_event(dev, CC3000_NETWORK_LATENCY, CC3000_HCI_CMND_GETHOSTNAME, STATUS_OK, params, sizeof params);
}

static void resolve_host_name(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    uint8_t params[8];
    bool ok = wlan_has_ip(dev);
    if (ok && dev->net) {
        uint32_t len = arg_u32(args, nargs, RESOLVE_ARG_LEN);
        if (nargs < RESOLVE_ARG_NAME)
            len = 0;
        else if (len > nargs - RESOLVE_ARG_NAME)
            len = nargs - RESOLVE_ARG_NAME;
        if (len >= sizeof dev->resolve_name)
            len = sizeof dev->resolve_name - 1;
        memcpy(dev->resolve_name, args + RESOLVE_ARG_NAME, len);
        dev->resolve_name[len] = 0;
        dev->wait = CC3000_WAIT_RESOLVE;
        dev->wait_deadline = sim_now(dev->sim) + CC3000_DNS_TIMEOUT;
        resolve_poll(dev);
        return;
    }
    put_le32(&params[0], ok ? SOC_LOOKUP_OK : (uint32_t)RESULT_ERROR);
    put_le32(&params[4], ok ? NET_RESOLVED : 0);
    queue_event(dev, CC3000_NETWORK_LATENCY, CC3000_HCI_CMND_GETHOSTNAME, STATUS_OK, params,
                sizeof params);
}

/*
 * SEND (args: descriptor, 12, length, flags; then the data) and SENDTO (args:
 * descriptor, 20, length, flags, address offset, address length; then the
 * data, then the address). The buffer is given back at once (0x4100).
 */
static void socket_send(struct cc3000 *dev, uint16_t reply_opcode, const uint8_t *args, uint32_t nargs,
                        const uint8_t *data, uint32_t ndata)
{
    uint32_t sd = arg_u32(args, nargs, SOCKET_ARG_SD);
    uint32_t len = arg_u32(args, nargs, SEND_ARG_LEN);
    if (len > ndata)
        len = ndata;
    int32_t result = RESULT_ERROR;
    if (socket_valid(dev, sd)) {
        struct cc3000_socket *s = &dev->sockets[sd];
        if (!dev->net || s->handle < 0) {
            result = (int32_t)len;
        } else if (reply_opcode == CC3000_HCI_EVNT_SENDTO) {
            uint32_t ip = 0;
            uint16_t port = 0;
            if (ndata >= len + SOCKADDR_LEN) {
                const uint8_t *to = data + len;
                port = (uint16_t)(to[2] << 8 | to[3]);
                ip = get_be32(to + 4);
            }
            result = dev->net->send(dev->net_ctx, s->handle, data, len, ip, port);
        } else if (!s->connected) {
            result = RESULT_ERROR;
        } else if (peer_gone(dev->net->state(dev->net_ctx, s->handle))) {
            result = CC3000_ERROR_SOCKET_INACTIVE;
        } else {
            result = dev->net->send(dev->net_ctx, s->handle, data, len, 0, 0);
            if (result > 0)
                cloud_sent(dev, s, data, (size_t)result);
        }
    }
    uint8_t params[8];
    put_le32(&params[0], sd);
    put_le32(&params[4], (uint32_t)result);
    queue_event(dev, CC3000_RESPONSE_LATENCY, reply_opcode, STATUS_OK, params, sizeof params);

    /* Flow control: one handle, (handle, freed buffers). */
    uint8_t free_buf[6];
    put_le16(&free_buf[0], 1);
    put_le16(&free_buf[2], (uint16_t)sd);
    put_le16(&free_buf[4], 1);
    queue_event(dev, CC3000_RESPONSE_LATENCY, CC3000_HCI_EVNT_DATA_UNSOL_FREE_BUFF, STATUS_OK,
                free_buf, sizeof free_buf);
}

/* Look again at the request the host waits for. */
static void wait_poll(struct cc3000 *dev)
{
    switch (dev->wait) {
    case CC3000_WAIT_CONNECT:
        connect_poll(dev);
        break;
    case CC3000_WAIT_SELECT:
        select_poll(dev);
        break;
    case CC3000_WAIT_RESOLVE:
        resolve_poll(dev);
        break;
    default:
        break;
    }
}

static void wait_event_fn(struct sim *sim, void *opaque)
{
    (void)sim;
    wait_poll(opaque);
}

/*
 * A peer that closed, once its last byte was read: the 0x8800 close-wait
 * event, so the host driver marks the socket inactive (the firmware gives up
 * on it only then). After a connect's reply, never before it.
 */
static void close_wait_check(struct cc3000 *dev)
{
    for (int sd = 0; sd < CC3000_MAX_SOCKETS; sd++) {
        struct cc3000_socket *s = &dev->sockets[sd];
        if (!s->open || !s->connected || s->close_wait_sent || s->handle < 0)
            continue;
        if (!peer_gone(dev->net->state(dev->net_ctx, s->handle)) ||
            dev->net->available(dev->net_ctx, s->handle) > 0)
            continue;
        send_close_wait(dev, s, sd, "peer");
    }
}

void cc3000_sockets_lost(struct cc3000 *dev)
{
    for (int sd = 0; sd < CC3000_MAX_SOCKETS; sd++) {
        struct cc3000_socket *s = &dev->sockets[sd];
        if (!s->open || s->handle < 0)
            continue;
        s->handle = -1;
        if (!s->connected || s->close_wait_sent)
            continue;
        send_close_wait(dev, s, sd, "snapshot");
    }
}

void cc3000_net_changed(struct cc3000 *dev)
{
    if (!dev->net || !dev->booted)
        return;
    wait_poll(dev);
    close_wait_check(dev);
}

void cc3000_set_net(struct cc3000 *dev, const struct cc3000_net *net, void *ctx)
{
    dev->net = net;
    dev->net_ctx = ctx;
}

/* ---- HCI dispatch -------------------------------------------------------- */

static void ipconfig(struct cc3000 *dev)
{
    uint8_t params[IPCONFIG_LEN] = {0};
    if (wlan_has_ip(dev)) {
        put_le32(&params[0], NET_IP);
        put_le32(&params[4], NET_MASK);
        put_le32(&params[8], NET_GATEWAY);
        put_le32(&params[12], NET_DHCP_SERVER);
        put_le32(&params[16], NET_DNS);
        memcpy(&params[IPCONFIG_SSID_OFFSET], NET_SSID, sizeof NET_SSID - 1);
    }
    memcpy(&params[IPCONFIG_MAC_OFFSET], dev->mac, CC3000_MAC_LEN);
    queue_event(dev, CC3000_RESPONSE_LATENCY, CC3000_HCI_NETAPP_IPCONFIG, STATUS_OK, params,
                sizeof params);
}

static void handle_command(struct cc3000 *dev, uint16_t opcode, const uint8_t *args, uint32_t nargs)
{
    sim_trace(dev->sim, "cc3000", "\"op\":\"0x%04x\"", opcode);
    switch (opcode) {
    case CC3000_HCI_CMND_SIMPLE_LINK_START:
        reply_status(dev, opcode, STATUS_OK);
        break;
    case CC3000_HCI_CMND_READ_BUFFER_SIZE: {
        uint8_t params[3] = {FREE_BUFFERS};
        put_le16(&params[1], BUFFER_LENGTH);
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        break;
    }
    case CC3000_HCI_CMND_WLAN_IOCTL_SET_CONNECTION_POLICY:
        reply_i32(dev, opcode, 0);
        if (arg_u32(args, nargs, POLICY_ARG_USE_PROFILES) && dev->profiles > 0)
            start_connecting(dev);
        break;
    case CC3000_HCI_CMND_WLAN_CONNECT:
        reply_i32(dev, opcode, 0);
        start_connecting(dev);
        break;
    case CC3000_HCI_CMND_WLAN_DISCONNECT:
        reply_i32(dev, opcode, 0);
        disconnect(dev);
        break;
    case CC3000_HCI_CMND_WLAN_IOCTL_ADD_PROFILE:
        reply_i32(dev, opcode, dev->profiles < CC3000_MAX_PROFILES ? dev->profiles++ : RESULT_ERROR);
        break;
    case CC3000_HCI_CMND_WLAN_IOCTL_DEL_PROFILE: {
        uint32_t index = arg_u32(args, nargs, 0);
        int32_t result = 0;
        if (index == DEL_ALL_PROFILES)
            dev->profiles = 0;
        else if (index < (uint32_t)dev->profiles)
            dev->profiles--;
        else
            result = RESULT_ERROR;
        reply_i32(dev, opcode, result);
        break;
    }
    case CC3000_HCI_CMND_WLAN_IOCTL_STATUSGET:
        reply_i32(dev, opcode,
                  wlan_connected(dev) ? WLAN_STATUS_CONNECTED
                  : dev->connected_at != UINT64_MAX ? WLAN_STATUS_CONNECTING
                                                     : WLAN_STATUS_DISCONNECTED);
        break;
    case CC3000_HCI_CMND_WLAN_IOCTL_GET_SCAN_RESULTS: {
        uint8_t params[GETSCAN_REPLY_LEN] = {0}; /* no networks in range */
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        break;
    }
    case CC3000_HCI_CMND_EVENT_MASK:
    case CC3000_HCI_CMND_WLAN_IOCTL_SET_SCANPARAM:
    case CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_START:
    case CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_STOP:
    case CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_SET_PREFIX:
    case CC3000_HCI_CMND_SETSOCKOPT:
    case CC3000_HCI_CMND_BIND:
    case CC3000_HCI_CMND_LISTEN:
        reply_i32(dev, opcode, 0);
        break;
    case CC3000_HCI_CMND_WLAN_CONFIGURE_PATCH:
    case CC3000_HCI_CMND_NVMEM_WRITE_PATCH:
    case CC3000_HCI_CMND_NVMEM_SWAP_ENTRY:
    case CC3000_HCI_NETAPP_DHCP:
    case CC3000_HCI_NETAPP_PING_SEND:
    case CC3000_HCI_NETAPP_PING_STOP:
    case CC3000_HCI_NETAPP_ARP_FLUSH:
    case CC3000_HCI_NETAPP_SET_DEBUG_LEVEL:
    case CC3000_HCI_NETAPP_SET_TIMERS:
    case CC3000_HCI_CMND_MDNS_ADVERTISE:
        reply_status(dev, opcode, STATUS_OK);
        break;
    case CC3000_HCI_NETAPP_PING_REPORT: {
        uint8_t params[PING_REPORT_LEN] = {0};
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        break;
    }
    case CC3000_HCI_NETAPP_IPCONFIG:
        ipconfig(dev);
        break;
    case CC3000_HCI_CMND_NVMEM_READ:
        nvmem_read(dev, args, nargs);
        break;
    case CC3000_HCI_CMND_NVMEM_CREATE_ENTRY:
        nvmem_create_entry(dev, args, nargs);
        break;
    case CC3000_HCI_CMND_READ_SP_VERSION: {
        uint8_t params[4] = {0, 0, SP_PACKAGE_ID, SP_BUILD};
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        break;
    }
    case CC3000_HCI_CMND_SOCKET:
        socket_open(dev, args, nargs);
        break;
    case CC3000_HCI_CMND_CONNECT:
        socket_connect(dev, args, nargs);
        break;
    case CC3000_HCI_CMND_CLOSE_SOCKET:
        socket_close(dev, args, nargs);
        break;
    case CC3000_HCI_CMND_BSD_SELECT:
        socket_select(dev, args, nargs);
        break;
    case CC3000_HCI_CMND_RECV:
    case CC3000_HCI_CMND_RECVFROM:
        socket_recv(dev, opcode, args, nargs);
        break;
    case CC3000_HCI_CMND_ACCEPT: {
        uint8_t params[ACCEPT_REPLY_LEN] = {0}; /* nobody connects: descriptor and status -1 */
        put_le32(&params[0], (uint32_t)RESULT_ERROR);
        put_le32(&params[4], (uint32_t)RESULT_ERROR);
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        break;
    }
    case CC3000_HCI_CMND_GETHOSTNAME:
        resolve_host_name(dev, args, nargs);
        break;
    case CC3000_HCI_CMND_GETSOCKOPT: {
        uint8_t params[4] = {0};
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        break;
    }
    case CC3000_HCI_CMND_GETMSSVALUE: {
        uint8_t params[2];
        put_le16(params, MSS_VALUE);
        queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
        break;
    }
    default:
        sim_warn_once(dev->sim, "cc3000 HCI command", opcode, true,
                      "is not modelled; answered with a status-0 command complete");
        reply_i32(dev, opcode, 0);
        break;
    }
}

static void handle_data(struct cc3000 *dev, uint8_t opcode, const uint8_t *args, uint32_t nargs,
                        const uint8_t *data, uint32_t ndata)
{
    sim_trace(dev->sim, "cc3000", "\"op\":\"0x%04x\"", opcode);
    switch (opcode) {
    case CC3000_HCI_CMND_NVMEM_WRITE:
        nvmem_write(dev, args, nargs, data, ndata);
        break;
    case CC3000_HCI_CMND_SEND:
        socket_send(dev, CC3000_HCI_EVNT_SEND, args, nargs, data, ndata);
        break;
    case CC3000_HCI_CMND_SENDTO:
        socket_send(dev, CC3000_HCI_EVNT_SENDTO, args, nargs, data, ndata);
        break;
    default:
        sim_warn_once(dev->sim, "cc3000 HCI data", opcode, true,
                      "is not modelled; answered with a status-0 command complete");
        reply_i32(dev, opcode, 0);
        break;
    }
}

/* A complete host write: 01 LEN_hi LEN_lo 00 00, then the HCI packet. */
static void process_write(struct cc3000 *dev)
{
    if (dev->rx_len < CC3000_SPI_HEADER_SIZE + 1)
        return;
    uint32_t spi_len = (uint32_t)dev->rx[1] << 8 | dev->rx[2];
    uint32_t n = dev->rx_len - CC3000_SPI_HEADER_SIZE;
    if (spi_len < n)
        n = spi_len;
    const uint8_t *hci = dev->rx + CC3000_SPI_HEADER_SIZE;

    switch (hci[0]) {
    case CC3000_HCI_TYPE_CMND: {
        if (n < HCI_CMND_HEADER_SIZE)
            break;
        uint32_t nargs = hci[3];
        if (nargs > n - HCI_CMND_HEADER_SIZE)
            nargs = n - HCI_CMND_HEADER_SIZE;
        handle_command(dev, (uint16_t)(hci[1] | hci[2] << 8), hci + HCI_CMND_HEADER_SIZE, nargs);
        return;
    }
    case CC3000_HCI_TYPE_DATA: {
        if (n < HCI_DATA_HEADER_SIZE)
            break;
        uint32_t avail = n - HCI_DATA_HEADER_SIZE;
        uint32_t nargs = hci[2];
        uint32_t total = (uint32_t)(hci[3] | hci[4] << 8);
        if (total > avail)
            total = avail;
        if (nargs > total)
            nargs = total;
        const uint8_t *args = hci + HCI_DATA_HEADER_SIZE;
        handle_data(dev, hci[1], args, nargs, args + nargs, total - nargs);
        return;
    }
    default:
        sim_warn_once(dev->sim, "cc3000 HCI packet type", hci[0], true,
                      "is not modelled; packet ignored");
        return;
    }
    sim_log(dev->sim, LOG_WARN, "cc3000: host wrote a truncated HCI packet (%u bytes)", (unsigned)n);
}

/* ---- SPI slave ----------------------------------------------------------- */

static uint8_t read_reply_byte(struct cc3000 *dev, uint32_t index)
{
    switch (index) {
    case 0:
        return READ_REPLY_BYTE0;
    case 1:
    case 2:
        return MISO_FILLER;
    case 3:
        dev->read_len = head_ready(dev) ? dev->queue[0].len : 0;
        return (uint8_t)(dev->read_len >> 8);
    case 4:
        return (uint8_t)dev->read_len;
    default: {
        uint32_t k = index - CC3000_SPI_HEADER_SIZE;
        return k < dev->read_len ? dev->queue[0].data[k] : MISO_FILLER; /* then padding */
    }
    }
}

static uint8_t cc3000_exchange(void *opaque, uint8_t mosi)
{
    struct cc3000 *dev = opaque;
    if (!dev->enabled || !dev->booted)
        return MISO_UNPOWERED;
    uint32_t index = dev->xfer_count++;
    if (index == 0) {
        dev->xfer = mosi == CC3000_SPI_WRITE  ? CC3000_XFER_WRITE
                    : mosi == CC3000_SPI_READ ? CC3000_XFER_READ
                                              : CC3000_XFER_OTHER;
        dev->read_len = 0;
        dev->rx_len = 0;
    }
    switch (dev->xfer) {
    case CC3000_XFER_WRITE:
        if (index < sizeof dev->rx)
            dev->rx[dev->rx_len++] = mosi;
        return index == 0 ? READ_REPLY_BYTE0 : MISO_FILLER;
    case CC3000_XFER_READ:
        /* MOSI after the 0x03 is whatever the host's DMA sends; it means nothing. */
        return read_reply_byte(dev, index);
    default:
        return index == 0 ? READ_REPLY_BYTE0 : MISO_FILLER;
    }
}

static void transfer_end(struct cc3000 *dev)
{
    if (dev->xfer_count > 0)
        dev->boot_ready = false;
    if (dev->xfer == CC3000_XFER_WRITE)
        process_write(dev);
    else if (dev->xfer == CC3000_XFER_READ && dev->xfer_count >= CC3000_SPI_HEADER_SIZE &&
             dev->read_len > 0)
        queue_remove(dev, 0);
    dev->xfer = CC3000_XFER_NONE;
    dev->xfer_count = 0;
    dev->read_len = 0;
}

static void cc3000_select(void *opaque, bool selected)
{
    struct cc3000 *dev = opaque;
    if (selected == dev->selected)
        return;
    dev->selected = selected;
    if (selected) {
        dev->xfer = CC3000_XFER_NONE;
        dev->xfer_count = 0;
        if (dev->enabled && dev->booted && !dev->irq_low)
            event_schedule_in(dev->sim, &dev->write_ready_event, CC3000_WRITE_READY_DELAY);
        return;
    }
    event_cancel(dev->sim, &dev->write_ready_event);
    if (dev->enabled && dev->booted) {
        /* Set first, so replies queued by this write cannot lower IRQ inside the gap. */
        dev->irq_quiet_until = sim_now(dev->sim) + CC3000_IRQ_GAP;
        transfer_end(dev);
    }
    irq_update(dev);
}

const struct spi_slave_ops cc3000_spi_ops = {
    .name = "cc3000",
    .exchange = cc3000_exchange,
    .select = cc3000_select,
};

/* ---- power --------------------------------------------------------------- */

static void power_off(struct cc3000 *dev)
{
    dev->enabled = false;
    dev->booted = false;
    dev->boot_ready = false;
    event_cancel(dev->sim, &dev->boot_event);
    event_cancel(dev->sim, &dev->irq_event);
    event_cancel(dev->sim, &dev->write_ready_event);
    dev->queue_count = 0;
    dev->xfer = CC3000_XFER_NONE;
    dev->xfer_count = 0;
    dev->connected_at = dev->dhcp_at = UINT64_MAX;
    close_all_sockets(dev, "reset");
    dev->wait = CC3000_WAIT_NONE;
    event_cancel(dev->sim, &dev->wait_event);
    drive_irq(dev, false);
}

void cc3000_enable_in(void *opaque, int n, bool level)
{
    (void)n;
    struct cc3000 *dev = opaque;
    if (level == dev->enabled)
        return;
    if (!level) {
        power_off(dev);
        return;
    }
    dev->enabled = true;
    event_schedule_in(dev->sim, &dev->boot_event, CC3000_POWER_UP_TIME);
}

void cc3000_init(struct cc3000 *dev, struct sim *sim, int wifi_profiles)
{
    memset(dev, 0, sizeof *dev);
    dev->sim = sim;
    event_init(&dev->boot_event, boot_done, dev, "cc3000-boot");
    event_init(&dev->irq_event, irq_event_fn, dev, "cc3000-irq");
    event_init(&dev->write_ready_event, write_ready_fn, dev, "cc3000-write-ready");
    event_init(&dev->wait_event, wait_event_fn, dev, "cc3000-socket-wait");
    for (int i = 0; i < CC3000_MAX_SOCKETS; i++) {
        dev->sockets[i].handle = -1;
        dev->sockets[i].lone_byte_since = UINT64_MAX;
    }
    dev->connected_at = dev->dhcp_at = UINT64_MAX;

    if (wifi_profiles < 0)
        wifi_profiles = 0;
    if (wifi_profiles > CC3000_MAX_PROFILES)
        wifi_profiles = CC3000_MAX_PROFILES;
    dev->profiles = wifi_profiles;

    /* TI's system files exist, zero-filled; the Spark file records the profile count. */
    for (int i = 0; i < CC3000_NVMEM_FILES; i++)
        dev->nvmem[i].size = CC3000_NVMEM_FILE_MAX;
    dev->nvmem[CC3000_NVMEM_AES128_KEY_FILEID].size = CC3000_AES_KEY_LEN;
    dev->nvmem[CC3000_NVMEM_SPARK_FILEID].size = CC3000_SPARK_FILE_LEN;
    dev->nvmem[CC3000_NVMEM_SPARK_FILEID].data[0] = (uint8_t)wifi_profiles;
    dev->nvmem[CC3000_NVMEM_FILES - 1].size = 0; /* the second user file is not created */
    cc3000_set_mac_seed(dev, 0);
}

void cc3000_reset(struct cc3000 *dev, enum reset_cause cause)
{
    (void)cause;
    power_off(dev);
    /* Tell the pin our level even if it did not change: the GPIO may have reset too. */
    line_set(&dev->irq, true);
}

/* ---- snapshot (emu/snapshot.h): every field that is state, none that is wiring ---- */

static void cc3000_fields(struct cc3000 *d, struct snap_io *io)
{
    for (int i = 0; i < CC3000_NVMEM_FILES; i++) {
        snap_io_u16(io, &d->nvmem[i].size);
        snap_io_bytes(io, d->nvmem[i].data, sizeof d->nvmem[i].data);
    }
    snap_io_int(io, &d->profiles); /* --wifi-profiles is the snapshot's */
    snap_io_bytes(io, d->mac, sizeof d->mac);
    snap_io_bool(io, &d->enabled);
    snap_io_bool(io, &d->booted);
    snap_io_bool(io, &d->boot_ready);
    snap_io_bool(io, &d->irq_low);
    snap_io_bool(io, &d->selected);
    snap_io_u64(io, &d->irq_quiet_until);
    snap_io_event(io, &d->boot_event);
    snap_io_event(io, &d->irq_event);
    snap_io_event(io, &d->write_ready_event);
    int xfer = (int)d->xfer;
    snap_io_int(io, &xfer);
    snap_io_check(io, xfer >= CC3000_XFER_NONE && xfer <= CC3000_XFER_OTHER, "unknown transfer");
    d->xfer = (enum cc3000_transfer)xfer;
    snap_io_u32(io, &d->xfer_count);
    snap_io_u16(io, &d->read_len);
    snap_io_u32(io, &d->rx_len);
    if (!snap_io_check(io, d->rx_len <= sizeof d->rx, "a transfer longer than its buffer"))
        return;
    snap_io_bytes(io, d->rx, d->rx_len);
    snap_io_int(io, &d->queue_count);
    if (!snap_io_check(io, d->queue_count >= 0 && d->queue_count <= CC3000_QUEUE_LEN, "too many queued packets"))
        return;
    for (int i = 0; i < d->queue_count; i++) {
        struct cc3000_packet *p = &d->queue[i];
        snap_io_u64(io, &p->ready_at);
        snap_io_u16(io, &p->len);
        if (!snap_io_check(io, p->len <= CC3000_PACKET_MAX, "a packet longer than the CC3000's"))
            return;
        snap_io_bytes(io, p->data, p->len);
    }
    snap_io_u64(io, &d->connected_at);
    snap_io_u64(io, &d->dhcp_at);
    for (int i = 0; i < CC3000_MAX_SOCKETS; i++) {
        struct cc3000_socket *s = &d->sockets[i];
        snap_io_bool(io, &s->open);
        snap_io_bool(io, &s->udp);
        snap_io_bool(io, &s->cloud);
        snap_io_int(io, &s->handle);
        snap_io_bool(io, &s->connected);
        snap_io_bool(io, &s->close_wait_sent);
        snap_io_u64(io, &s->lone_byte_since);
        snap_io_u64(io, &s->sent);
        snap_io_u64(io, &s->received);
        snap_io_bool(io, &s->handshake_traced);
        snap_io_bool(io, &s->hello_sent);
        snap_io_bool(io, &s->online);
        snap_io_bool(io, &s->closed_traced);
    }
    int wait = (int)d->wait;
    snap_io_int(io, &wait);
    snap_io_check(io, wait >= CC3000_WAIT_NONE && wait <= CC3000_WAIT_RESOLVE, "unknown blocking request");
    d->wait = wait;
    snap_io_int(io, &d->wait_sd);
    SNAP_IO_U32S(io, d->select_masks);
    snap_io_u32(io, &d->select_nfds);
    snap_io_u64(io, &d->wait_deadline);
    snap_io_bytes(io, d->resolve_name, sizeof d->resolve_name);
    snap_io_event(io, &d->wait_event);
}

SNAP_DEFINE_PAIR(cc3000, struct cc3000, cc3000_fields)
