/*
 * cc3000.h - a TI CC3000 WiFi module stub on SPI2 (chip select PB12): the SPI
 * framing and IRQ handshake of the TI/Spark host driver, the HCI commands the
 * Spark firmware sends, an NVMEM file store, and a scripted network (N stored
 * profiles => connect + DHCP after auto-connect), and sockets: on a network
 * behind struct cc3000_net (emu/host/net.c puts host sockets there), or, with
 * none attached, scripted ones that connect and never receive data.
 *
 * Design decision: every response is a queued packet with the virtual time at
 * which it becomes ready, kept in time order; IRQ is a pure function of
 * (powered, chip select, head of the queue ready), re-evaluated by one event.
 * So unsolicited events scheduled long in advance (connect, DHCP) and command
 * replies interleave the way the chip would deliver them.
 */
#ifndef PERIPHERALS_EXT_CC3000_H
#define PERIPHERALS_EXT_CC3000_H

#include <stdbool.h>
#include <stdint.h>

#include "emu/periph.h"

/* HCI packet types (first byte of an HCI packet). */
#define CC3000_HCI_TYPE_CMND 0x01
#define CC3000_HCI_TYPE_DATA 0x02
#define CC3000_HCI_TYPE_PATCH 0x03
#define CC3000_HCI_TYPE_EVNT 0x04

/* SPI operation bytes (first byte of a chip-select cycle). */
#define CC3000_SPI_WRITE 0x01
#define CC3000_SPI_READ 0x03
#define CC3000_SPI_HEADER_SIZE 5

/* HCI opcodes (TI host driver names). */
enum cc3000_opcode {
    CC3000_HCI_CMND_WLAN_CONNECT = 0x0001,
    CC3000_HCI_CMND_WLAN_DISCONNECT = 0x0002,
    CC3000_HCI_CMND_WLAN_IOCTL_SET_SCANPARAM = 0x0003,
    CC3000_HCI_CMND_WLAN_IOCTL_SET_CONNECTION_POLICY = 0x0004,
    CC3000_HCI_CMND_WLAN_IOCTL_ADD_PROFILE = 0x0005,
    CC3000_HCI_CMND_WLAN_IOCTL_DEL_PROFILE = 0x0006,
    CC3000_HCI_CMND_WLAN_IOCTL_GET_SCAN_RESULTS = 0x0007,
    CC3000_HCI_CMND_EVENT_MASK = 0x0008,
    CC3000_HCI_CMND_WLAN_IOCTL_STATUSGET = 0x0009,
    CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_START = 0x000A,
    CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_STOP = 0x000B,
    CC3000_HCI_CMND_WLAN_IOCTL_SIMPLE_CONFIG_SET_PREFIX = 0x000C,
    CC3000_HCI_CMND_WLAN_CONFIGURE_PATCH = 0x000D,
    CC3000_HCI_CMND_NVMEM_READ = 0x0201,
    CC3000_HCI_EVNT_NVMEM_WRITE = 0x0202,
    CC3000_HCI_CMND_NVMEM_CREATE_ENTRY = 0x0203,
    CC3000_HCI_CMND_NVMEM_WRITE_PATCH = 0x0204,
    CC3000_HCI_CMND_NVMEM_SWAP_ENTRY = 0x0205,
    CC3000_HCI_CMND_READ_SP_VERSION = 0x0207,
    CC3000_HCI_EVNT_PATCHES_REQ = 0x1000,
    CC3000_HCI_CMND_SOCKET = 0x1001,
    CC3000_HCI_CMND_BIND = 0x1002,
    CC3000_HCI_EVNT_SEND = 0x1003,
    CC3000_HCI_CMND_RECV = 0x1004,
    CC3000_HCI_CMND_ACCEPT = 0x1005,
    CC3000_HCI_CMND_LISTEN = 0x1006,
    CC3000_HCI_CMND_CONNECT = 0x1007,
    CC3000_HCI_CMND_BSD_SELECT = 0x1008,
    CC3000_HCI_CMND_SETSOCKOPT = 0x1009,
    CC3000_HCI_CMND_GETSOCKOPT = 0x100A,
    CC3000_HCI_CMND_CLOSE_SOCKET = 0x100B,
    CC3000_HCI_CMND_RECVFROM = 0x100D,
    CC3000_HCI_EVNT_SENDTO = 0x100F,
    CC3000_HCI_CMND_GETHOSTNAME = 0x1010, /* gethostbyname */
    CC3000_HCI_CMND_MDNS_ADVERTISE = 0x1011,
    CC3000_HCI_CMND_GETMSSVALUE = 0x1012,
    CC3000_HCI_NETAPP_DHCP = 0x2001,
    CC3000_HCI_NETAPP_PING_SEND = 0x2002,
    CC3000_HCI_NETAPP_PING_REPORT = 0x2003,
    CC3000_HCI_NETAPP_PING_STOP = 0x2004,
    CC3000_HCI_NETAPP_IPCONFIG = 0x2005,
    CC3000_HCI_NETAPP_ARP_FLUSH = 0x2006,
    CC3000_HCI_NETAPP_SET_DEBUG_LEVEL = 0x2008,
    CC3000_HCI_NETAPP_SET_TIMERS = 0x2009,
    CC3000_HCI_CMND_SIMPLE_LINK_START = 0x4000,
    CC3000_HCI_CMND_READ_BUFFER_SIZE = 0x400B,
    CC3000_HCI_EVNT_DATA_UNSOL_FREE_BUFF = 0x4100,
    CC3000_HCI_EVNT_WLAN_UNSOL_CONNECT = 0x8001,
    CC3000_HCI_EVNT_WLAN_UNSOL_DISCONNECT = 0x8002,
    CC3000_HCI_EVNT_WLAN_UNSOL_DHCP = 0x8010,
    CC3000_HCI_EVNT_BSD_TCP_CLOSE_WAIT = 0x8800,
};

/* One-byte opcodes of data packets. */
#define CC3000_HCI_CMND_SEND 0x81
#define CC3000_HCI_CMND_SENDTO 0x83
#define CC3000_HCI_DATA_RECV 0x85
#define CC3000_HCI_CMND_NVMEM_WRITE 0x90
#define CC3000_HCI_DATA_NVMEM 0x91

/* NVMEM files the Spark firmware uses. */
#define CC3000_NVMEM_MAC_FILEID 6
#define CC3000_NVMEM_AES128_KEY_FILEID 12
#define CC3000_NVMEM_SPARK_FILEID 14 /* byte 0 = number of stored WiFi profiles */
#define CC3000_NVMEM_FILES 16
#define CC3000_NVMEM_FILE_MAX 512
#define CC3000_MAC_LEN 6
#define CC3000_SPARK_FILE_LEN 16
#define CC3000_AES_KEY_LEN 16

#define CC3000_MAX_PROFILES 7
#define CC3000_MAX_SOCKETS 7   /* descriptors 0-6 */
/* The TI driver's "socket inactive" result (recv, send), after the peer closed. */
#define CC3000_ERROR_SOCKET_INACTIVE (-57)
/* Largest HCI packet either way: a full send buffer plus headers. */
#define CC3000_PACKET_MAX 1600
#define CC3000_QUEUE_LEN 16

/* Timing (virtual time). */
#define CC3000_POWER_UP_TIME SIM_MS(5)        /* WLAN_EN rising -> IRQ low */
#define CC3000_WRITE_READY_DELAY SIM_US(10)   /* CS low -> IRQ low for a write */
#define CC3000_IRQ_GAP SIM_US(20)             /* IRQ high after each transfer */
#define CC3000_RESPONSE_LATENCY SIM_US(300)   /* command -> its event */
#define CC3000_NETWORK_LATENCY SIM_MS(20)     /* DNS and TCP connect round trip */
#define CC3000_CONNECT_DELAY SIM_MS(500)      /* auto-connect policy -> 0x8001 */
#define CC3000_DHCP_DELAY SIM_MS(200)         /* 0x8001 -> 0x8010 */
#define CC3000_SELECT_MAX_WAIT SIM_S(1)       /* a blocking select answers "none" */
/*
 * Not measured on silicon: how long the module waits for a TCP connect that
 * nobody answers (a SYN and its first retransmission, as TCP's 1 s initial
 * time-out would send them) or a DNS query before failing.
 */
#define CC3000_CONNECT_TIMEOUT SIM_S(2)
#define CC3000_DNS_TIMEOUT SIM_S(2)
/* A lone byte waits this long for its successor before select reports it (see cc3000.c). */
#define CC3000_COALESCE_TIME SIM_MS(20)

/*
 * The network behind the module: called on the emulator thread, never
 * blocking. `h` is the network's handle for a socket. Results that take time
 * (connect, resolve, data) are polled; the network calls cc3000_net_changed
 * when something may have changed.
 */
enum cc3000_net_state {
    CC3000_NET_IDLE = 0,     /* opened, not connected (UDP sockets stay here) */
    CC3000_NET_CONNECTING,
    CC3000_NET_CONNECTED,
    CC3000_NET_REFUSED,      /* the peer answered the connect with a reset */
    CC3000_NET_UNREACHABLE,  /* nothing answers, or no route: the connect fails at CC3000_CONNECT_TIMEOUT */
    CC3000_NET_PEER_CLOSED,  /* FIN received (buffered data can still be read) */
    CC3000_NET_FAILED,       /* reset or error after connecting */
};

struct cc3000_net {
    /* A socket: a handle >= 0, or -1 if the network has no room. */
    int (*open)(void *ctx, bool udp);
    /* Start a TCP connect to ip:port (ip as a << 24 | b << 16 | c << 8 | d); true if it is the cloud's. */
    bool (*connect)(void *ctx, int h, uint32_t ip, uint16_t port);
    enum cc3000_net_state (*state)(void *ctx, int h);
    /* Bytes waiting to be read. */
    size_t (*available)(void *ctx, int h);
    /* Take up to n received bytes (UDP: one datagram and its source); the count. */
    size_t (*recv)(void *ctx, int h, uint8_t *buf, size_t n, uint32_t *from_ip, uint16_t *from_port);
    /* Queue bytes for the peer (UDP: one datagram to ip:port); the count taken, or < 0. */
    int (*send)(void *ctx, int h, const uint8_t *data, size_t n, uint32_t ip, uint16_t port);
    void (*close)(void *ctx, int h);
    /* Resolve a host name: 0 still pending (poll again after a change), 1 done (*ip), -1 failed. */
    int (*resolve)(void *ctx, const char *name, uint32_t *ip);
};

struct cc3000_packet {
    uint64_t ready_at;
    uint16_t len;
    uint8_t data[CC3000_PACKET_MAX];
};

struct cc3000_nvmem_file {
    uint16_t size;
    uint8_t data[CC3000_NVMEM_FILE_MAX];
};

enum cc3000_transfer { CC3000_XFER_NONE = 0, CC3000_XFER_WRITE, CC3000_XFER_READ, CC3000_XFER_OTHER };

struct cc3000 {
    struct sim *sim;
    struct line irq; /* to PB11: low = the CC3000 wants service or is ready */

    /* Non-volatile: survives WLAN_EN power cycles and chip resets. */
    struct cc3000_nvmem_file nvmem[CC3000_NVMEM_FILES];
    int profiles;     /* WiFi profiles stored in the module */
    uint8_t mac[CC3000_MAC_LEN];

    /* Power and the IRQ handshake. */
    bool enabled;     /* WLAN_EN level */
    bool booted;      /* power-up finished */
    bool boot_ready;  /* IRQ held low after power-up until the first transfer */
    bool irq_low;     /* the level we drive */
    bool selected;
    uint64_t irq_quiet_until; /* IRQ stays high until then after a transfer */
    struct event boot_event, irq_event, write_ready_event;

    /* The transfer of the current chip-select cycle. */
    enum cc3000_transfer xfer;
    uint32_t xfer_count;
    uint16_t read_len;    /* payload length announced in the read header */
    uint8_t rx[CC3000_SPI_HEADER_SIZE + CC3000_PACKET_MAX];
    uint32_t rx_len;

    /* Packets for the host, in ready_at order. */
    struct cc3000_packet queue[CC3000_QUEUE_LEN];
    int queue_count;

    /* The WiFi network (scripted) and the sockets (on `net`, if attached). */
    uint64_t connected_at, dhcp_at; /* UINT64_MAX: not scheduled */
    const struct cc3000_net *net;
    void *net_ctx;
    struct cc3000_socket {
        bool open, udp, cloud;
        int handle;              /* the network's, or -1 */
        bool connected;
        bool close_wait_sent;    /* 0x8800 told the host the peer closed */
        uint64_t lone_byte_since; /* UINT64_MAX: not exactly one byte waiting */
        /* the cloud connection, as far as the wire shows it (trace "cloud") */
        uint64_t sent, received;
        bool handshake_traced, hello_sent, online, closed_traced;
    } sockets[CC3000_MAX_SOCKETS];
    /* the one blocking request the host driver can have outstanding */
    enum { CC3000_WAIT_NONE, CC3000_WAIT_CONNECT, CC3000_WAIT_SELECT, CC3000_WAIT_RESOLVE } wait;
    int wait_sd;
    uint32_t select_masks[3]; /* read, write, except */
    uint32_t select_nfds;
    uint64_t wait_deadline;
    char resolve_name[64];
    struct event wait_event;
};

void cc3000_init(struct cc3000 *dev, struct sim *sim, int wifi_profiles);
/*
 * Any reset powers the module off (the STM32 reset releases PB8, so WLAN_EN
 * falls); NVMEM and the stored profiles are kept.
 */
void cc3000_reset(struct cc3000 *dev, enum reset_cause cause);
/*
 * After a snapshot is loaded: the host sockets behind open sockets are gone.
 * Each one is reported to the firmware as closed by its peer (0x8800).
 */
void cc3000_sockets_lost(struct cc3000 *dev);
/* Replace the MAC (NVMEM file 6) by 08:00:28 (TI's OUI) + 3 bytes mixed from seed. */
void cc3000_set_mac_seed(struct cc3000 *dev, uint32_t seed);
/* Line handler for WLAN_EN (PB8): high = powered. */
void cc3000_enable_in(void *opaque, int n, bool level);

/* Put the sockets on a network (NULL: scripted sockets). Before power-on. */
void cc3000_set_net(struct cc3000 *dev, const struct cc3000_net *net, void *ctx);
/* Emulator thread: something on the network changed (a connect finished, data came, a peer closed). */
void cc3000_net_changed(struct cc3000 *dev);

extern const struct spi_slave_ops cc3000_spi_ops;

/* Snapshots (emu/snapshot.h): this block's state, field by field. */
struct snap_writer;
struct snap_reader;
void cc3000_save(const struct cc3000 *d, struct snap_writer *w);
void cc3000_load(struct cc3000 *d, struct snap_reader *r);

#endif
