/*
 * cc3000.c - TI CC3000 stub: SPI framing, IRQ handshake, HCI replies, NVMEM
 * and a scripted WiFi network, enough for the unmodified Spark firmware to
 * reach listening mode (no profiles) or its cloud handshake (profiles).
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
static void queue_data(struct cc3000 *dev, uint64_t delay, uint8_t opcode, const uint8_t *data,
                       size_t n)
{
    if (n > CC3000_PACKET_MAX - HCI_DATA_HEADER_SIZE)
        n = CC3000_PACKET_MAX - HCI_DATA_HEADER_SIZE;
    struct cc3000_packet *p = queue_insert(dev, sim_now(dev->sim) + delay);
    if (!p)
        return;
    p->data[0] = CC3000_HCI_TYPE_DATA;
    p->data[1] = opcode;
    p->data[2] = 0; /* no arguments: the host takes total length - argument length as data */
    put_le16(&p->data[3], (uint16_t)n);
    if (n)
        memcpy(&p->data[HCI_DATA_HEADER_SIZE], data, n);
    p->len = (uint16_t)(HCI_DATA_HEADER_SIZE + n);
    irq_update(dev);
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

static void close_all_sockets(struct cc3000 *dev)
{
    memset(dev->sockets, 0, sizeof dev->sockets);
}

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
    close_all_sockets(dev);
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

static bool socket_valid(const struct cc3000 *dev, uint32_t sd)
{
    return sd < CC3000_MAX_SOCKETS && dev->sockets[sd];
}

static void socket_open(struct cc3000 *dev)
{
    int32_t sd = RESULT_ERROR;
    for (int i = 0; i < CC3000_MAX_SOCKETS; i++) {
        if (!dev->sockets[i]) {
            dev->sockets[i] = true;
            sd = i;
            break;
        }
    }
    reply_i32(dev, CC3000_HCI_CMND_SOCKET, sd);
}

static void socket_connect(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    uint32_t sd = arg_u32(args, nargs, SOCKET_ARG_SD);
    int32_t result = socket_valid(dev, sd) && wlan_has_ip(dev) ? 0 : RESULT_ERROR;
    queue_event_i32(dev, CC3000_NETWORK_LATENCY, CC3000_HCI_CMND_CONNECT, result);
}

static void socket_close(struct cc3000 *dev, const uint8_t *args, uint32_t nargs)
{
    uint32_t sd = arg_u32(args, nargs, SOCKET_ARG_SD);
    int32_t result = RESULT_ERROR;
    if (socket_valid(dev, sd)) {
        dev->sockets[sd] = false;
        result = 0;
    }
    reply_i32(dev, CC3000_HCI_CMND_CLOSE_SOCKET, result);
}

/* Nothing ever arrives: answer "no descriptor ready" when the timeout expires. */
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
    uint8_t params[16] = {0}; /* status 0, read/write/except sets empty */
    queue_event(dev, wait, CC3000_HCI_CMND_BSD_SELECT, STATUS_OK, params, sizeof params);
}

static void socket_recv(struct cc3000 *dev, uint16_t opcode, const uint8_t *args, uint32_t nargs)
{
    uint8_t params[12] = {0}; /* descriptor, 0 bytes, flags 0: no data ever arrives */
    put_le32(params, arg_u32(args, nargs, SOCKET_ARG_SD));
    queue_event(dev, CC3000_RESPONSE_LATENCY, opcode, STATUS_OK, params, sizeof params);
}

static void resolve_host_name(struct cc3000 *dev)
{
    uint8_t params[8];
    bool ok = wlan_has_ip(dev);
    put_le32(&params[0], ok ? SOC_LOOKUP_OK : (uint32_t)RESULT_ERROR);
    put_le32(&params[4], ok ? NET_RESOLVED : 0);
    queue_event(dev, CC3000_NETWORK_LATENCY, CC3000_HCI_CMND_GETHOSTNAME, STATUS_OK, params,
                sizeof params);
}

/* SEND/SENDTO: the bytes are accepted and the buffer is given back at once. */
static void socket_send(struct cc3000 *dev, uint16_t reply_opcode, const uint8_t *args,
                        uint32_t nargs)
{
    uint32_t sd = arg_u32(args, nargs, SOCKET_ARG_SD);
    uint8_t params[8];
    put_le32(&params[0], sd);
    put_le32(&params[4], socket_valid(dev, sd) ? arg_u32(args, nargs, SEND_ARG_LEN)
                                               : (uint32_t)RESULT_ERROR);
    queue_event(dev, CC3000_RESPONSE_LATENCY, reply_opcode, STATUS_OK, params, sizeof params);

    /* Flow control: one handle, (handle, freed buffers). */
    uint8_t free_buf[6];
    put_le16(&free_buf[0], 1);
    put_le16(&free_buf[2], (uint16_t)sd);
    put_le16(&free_buf[4], 1);
    queue_event(dev, CC3000_RESPONSE_LATENCY, CC3000_HCI_EVNT_DATA_UNSOL_FREE_BUFF, STATUS_OK,
                free_buf, sizeof free_buf);
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
        socket_open(dev);
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
        resolve_host_name(dev);
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
        socket_send(dev, CC3000_HCI_EVNT_SEND, args, nargs);
        break;
    case CC3000_HCI_CMND_SENDTO:
        socket_send(dev, CC3000_HCI_EVNT_SENDTO, args, nargs);
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
    close_all_sockets(dev);
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
