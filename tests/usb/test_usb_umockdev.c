/*
 * test_usb_umockdev.c - the umockdev bridge against real, unmodified libusb
 * programs: a fake device on the virtual USB host (a DfuSe-looking 1d50:607f,
 * and a CDC ACM 1d50:607d it re-enumerates as), virtual time paced against
 * the wall clock on an "emulator" thread of its own, and dfu-util, lsusb and
 * a ctypes libusb client run as children with the bridge's environment.
 *
 * Pins: the device is listed with its alternates' exact names; lsusb shows
 * its descriptors and strings; a DfuSe upload moves the device's bytes; a
 * stall, a time-out (DISCARDURB) and bulk transfers give libusb's results;
 * detach + attach with a new address is seen by new processes, the tty of
 * the CDC device carries bytes; a client killed mid-transfer leaves nothing
 * in flight; stopping removes the testbed directory.
 *
 *   test_usb_umockdev PYTHON3 LIBUSB_CLIENT_PY
 */
#include "emu/host/usb_umockdev.h"
#include "emu/usb_host.h"
#include "tests/common/fake_usb_device.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- a fake device: DfuSe in DFU mode, the CDC ACM function of tests/common in "firmware" mode ---- */

static const uint8_t dfu_device[18] = {18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x50, 0x1d, 0x7f, 0x60, 0x00, 0x02, 1, 2, 3, 1};
static const uint8_t dfu_config[] = {
    9, 2, 36, 0, 1, 1, 0, 0xC0, 50,
    9, 4, 0, 0, 0, 0xFE, 1, 2, 4,                   /* DFU, alt 0: internal flash */
    9, 4, 0, 1, 0, 0xFE, 1, 2, 5,                   /* DFU, alt 1: SPI flash */
    9, 0x21, 0x0b, 0xff, 0x00, 0x00, 0x04, 0x1a, 0x01, /* DFU functional: 1024-byte transfers, DfuSe 1.1a */
};
static const char *const dfu_strings[] = {NULL, "Spark Devices", "CORE DFU", "8D7A3B6C5449",
                                          "@Internal Flash  /0x08000000/20*001Ka,108*001Kg",
                                          "@SPI Flash : SST25x/0x00000000/512*04Kg"};
static const char *const cdc_strings[] = {NULL, "Spark Devices", "Spark Core with WiFi", "8D7A3B6C5449"};

enum { DFU_IDLE = 2, DFU_DNLOAD_SYNC = 3, DFU_DNBUSY = 4, DFU_DNLOAD_IDLE = 5, DFU_UPLOAD_IDLE = 9 };

struct core {
    struct fake_usb usb;
    int dfu_state;
    uint32_t dfu_address;
    struct fake_usb_fifo echo;   /* CDC: what bulk OUT brings comes back on bulk IN */
    struct fake_usb_fifo notify; /* CDC: nothing fills it, the notification endpoint NAKs */
};

static uint8_t flash_byte(uint32_t a) { return (uint8_t)(a * 7u + 3u); }

/* What both modes answer alike. */
static bool common_setup(struct fake_usb *u, const uint8_t p[8])
{
    if (p[0] == 0x80 && p[1] == USB_REQ_GET_STATUS) {
        u->reply[0] = 1; /* self-powered */
        u->reply[1] = 0;
        u->reply_len = 2;
    } else if (p[0] == 1 && p[1] == USB_REQ_SET_INTERFACE) {
        fake_usb_reset_toggles(u);
    } else if (p[0] == 0x02 && p[1] == USB_REQ_CLEAR_FEATURE) {
        /* endpoint halt: nothing halts here */
    } else if (p[0] == 0xC0 && p[1] == 0x42) {
        u->ep0_nak_forever = true; /* a request that never answers: time-outs and dying clients */
    } else {
        return false;
    }
    return true;
}

static void dfu_status(struct core *c)
{
    if (c->dfu_state == DFU_DNLOAD_SYNC)
        c->dfu_state = DFU_DNBUSY;
    else if (c->dfu_state == DFU_DNBUSY)
        c->dfu_state = DFU_DNLOAD_IDLE;
    uint8_t st[6] = {0, 0, 0, 0, (uint8_t)c->dfu_state, 0};
    memcpy(c->usb.reply, st, 6);
    c->usb.reply_len = 6;
}

static bool dfu_setup(struct fake_usb *u, const uint8_t p[8])
{
    struct core *c = u->ctx;
    uint16_t value = (uint16_t)(p[2] | p[3] << 8), len = (uint16_t)(p[6] | p[7] << 8);
    if (common_setup(u, p)) {
        /* done */
    } else if (p[0] == 0xA1 && p[1] == 3) {
        dfu_status(c);
    } else if (p[0] == 0xA1 && p[1] == 5) {
        u->reply[0] = (uint8_t)c->dfu_state;
        u->reply_len = 1;
    } else if (p[0] == 0x21 && (p[1] == 4 || p[1] == 6)) {
        c->dfu_state = DFU_IDLE; /* CLRSTATUS, ABORT */
    } else if (p[0] == 0x21 && p[1] == 1) {
        c->dfu_state = DFU_DNLOAD_SYNC; /* DNLOAD: the command arrives in the data stage */
    } else if (p[0] == 0xA1 && p[1] == 2 && value >= 2) {
        uint32_t base = c->dfu_address + (uint32_t)(value - 2) * 1024u;
        for (unsigned i = 0; i < len && i < sizeof u->reply; i++)
            u->reply[i] = flash_byte(base + i);
        u->reply_len = len;
        c->dfu_state = DFU_UPLOAD_IDLE;
    } else {
        return false;
    }
    return true;
}

/* A DfuSe command in block 0: 0x21 SET_ADDRESS_POINTER with its address. */
static void dfu_ep0_out_done(struct fake_usb *u)
{
    struct core *c = u->ctx;
    const uint8_t *d = u->ep0_out;
    if (u->setup[0] == 0x21 && u->setup[1] == 1 && u->setup[2] == 0 && u->ep0_out_len == 5 && d[0] == 0x21)
        c->dfu_address = (uint32_t)(d[1] | d[2] << 8 | d[3] << 16 | (uint32_t)d[4] << 24);
}

static bool cdc_setup(struct fake_usb *u, const uint8_t p[8])
{
    if (common_setup(u, p))
        return true;
    if (p[0] != 0x21 && p[0] != 0xA1)
        return false;
    if (p[1] == 0x21) { /* GET_LINE_CODING */
        static const uint8_t lc[7] = {0x00, 0xC2, 0x01, 0x00, 0, 0, 8};
        memcpy(u->reply, lc, 7);
        u->reply_len = 7;
    }
    return true;
}

static const struct fake_usb_function dfu_function = {
    .device = dfu_device,
    .config = dfu_config,
    .config_len = sizeof dfu_config,
    .strings = dfu_strings,
    .nstrings = 6,
    .setup = dfu_setup,
    .ep0_out_done = dfu_ep0_out_done,
};

static const struct fake_usb_function cdc_function = {
    .device = fake_usb_cdc_device,
    .config = fake_usb_cdc_config,
    .config_len = sizeof fake_usb_cdc_config,
    .strings = cdc_strings,
    .nstrings = 4,
    .setup = cdc_setup,
};

/* Be the DFU device or the CDC one from the next attach on (only while detached), in dfuIDLE. */
static void core_become(struct core *c, bool cdc)
{
    c->usb.fn = cdc ? &cdc_function : &dfu_function;
    c->usb.ep_in[FAKE_USB_CDC_EP_DATA_IN] = cdc ? &c->echo : NULL;
    c->usb.ep_out[FAKE_USB_CDC_EP_DATA_OUT] = cdc ? &c->echo : NULL;
    c->usb.ep_in[FAKE_USB_CDC_EP_NOTIFY] = cdc ? &c->notify : NULL;
    c->dfu_state = DFU_IDLE;
}

static void core_init(struct core *c)
{
    fake_usb_init(&c->usb, &dfu_function, c);
    fake_usb_fifo_init(&c->echo, 512);
    fake_usb_fifo_init(&c->notify, 0);
    core_become(c, false);
}

/* ---- the "emulator thread": virtual time paced against the wall clock ---- */

struct bench {
    struct sim sim;
    struct usb_host host;
    struct core dev;
    struct usb_umockdev *u;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool kicked, quit;
    void (*cmd)(struct bench *b);
    bool cmd_done;
    int attached, detached; /* atomics */
    unsigned generation;
    bool busy; /* answer of the last cmd_busy */
};

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void bench_kick(void *opaque)
{
    struct bench *b = opaque;
    pthread_mutex_lock(&b->mu);
    b->kicked = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void *emu_thread(void *opaque)
{
    struct bench *b = opaque;
    uint64_t t0 = wall_ns(), v0 = b->sim.clock.now;
    pthread_mutex_lock(&b->mu);
    while (!b->quit) {
        void (*cmd)(struct bench *) = b->cmd;
        b->kicked = false;
        pthread_mutex_unlock(&b->mu);
        if (cmd)
            cmd(b); /* outside mu: observers take the bridge's locks, and the bridge kicks */
        usb_host_service(&b->host);
        usb_umockdev_service(b->u);
        /* virtual time may run up to 1 ms ahead of the wall clock, as a paced machine does */
        uint64_t target = v0 + (wall_ns() - t0) * SIM_CYCLES_PER_US / 1000u + SIM_MS(1);
        while (b->sim.clock.deadline <= target) {
            if (b->sim.clock.deadline > b->sim.clock.now)
                b->sim.clock.now = b->sim.clock.deadline;
            clock_run_due(&b->sim);
            usb_host_service(&b->host);
        }
        pthread_mutex_lock(&b->mu);
        if (cmd) {
            b->cmd = NULL;
            b->cmd_done = true;
            pthread_cond_broadcast(&b->cv);
        }
        if (!b->kicked && !b->quit && !b->cmd) {
            uint64_t next = b->sim.clock.deadline;
            uint64_t wait_ns = next == UINT64_MAX ? 10000000u : (next - target) * 1000u / SIM_CYCLES_PER_US + 1000u;
            if (wait_ns > 10000000u)
                wait_ns = 10000000u;
            uint64_t until = wall_ns() + wait_ns;
            struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Run fn on the emulator thread and wait for it. */
static void on_emu(struct bench *b, void (*fn)(struct bench *b))
{
    pthread_mutex_lock(&b->mu);
    b->cmd = fn;
    b->cmd_done = false;
    pthread_cond_broadcast(&b->cv);
    while (!b->cmd_done)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

static void cmd_plug(struct bench *b) { usb_host_pullup_in(&b->host, 0, true); }
static void cmd_unplug(struct bench *b) { usb_host_pullup_in(&b->host, 0, false); }
static void cmd_busy(struct bench *b) { b->busy = usb_host_busy(&b->host); }

static void observed_attach(void *opaque, const struct usb_device_view *v)
{
    struct bench *b = opaque;
    b->generation = v->generation;
    __atomic_add_fetch(&b->attached, 1, __ATOMIC_RELEASE);
}

static void observed_detach(void *opaque, unsigned generation)
{
    struct bench *b = opaque;
    (void)generation;
    __atomic_add_fetch(&b->detached, 1, __ATOMIC_RELEASE);
}

static bool wait_count(int *counter, int want, int timeout_ms)
{
    for (int i = 0; i < timeout_ms; i++) {
        if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) >= want)
            return true;
        usleep(1000);
    }
    return false;
}

/* ---- children ------------------------------------------------------------ */

static int failures;

#define CHECK(cond, ...)                                                                                    \
    do {                                                                                                    \
        if (!(cond)) {                                                                                      \
            failures++;                                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                                                   \
            fputc('\n', stderr);                                                                            \
        }                                                                                                   \
    } while (0)

struct run {
    char out[65536];
    int status;
    double ms;
};

/* Run argv with the bridge's environment; stdout (and stderr) into r->out; kill after timeout_ms. */
static pid_t spawn_child(struct bench *b, char *const argv[], int *pipe_rd)
{
    int p[2];
    if (pipe(p))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    char **envp = usb_umockdev_environ(b->u, environ);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
    usb_umockdev_free_environ(envp);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc) {
        close(p[0]);
        return -1;
    }
    *pipe_rd = p[0];
    return pid;
}

static void run(struct bench *b, struct run *r, int timeout_ms, char *const argv[])
{
    int fd;
    uint64_t t = wall_ns();
    memset(r->out, 0, sizeof r->out);
    r->status = -1;
    pid_t pid = spawn_child(b, argv, &fd);
    if (pid < 0) {
        snprintf(r->out, sizeof r->out, "cannot run %s", argv[0]);
        return;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t n = 0;
    bool killed = false;
    for (;;) {
        ssize_t k = read(fd, r->out + n, sizeof r->out - 1 - n);
        if (k > 0) {
            n += (size_t)k;
            continue;
        }
        if (k == 0)
            break;
        if (!killed && wall_ns() - t > (uint64_t)timeout_ms * 1000000u) {
            kill(pid, SIGKILL);
            killed = true;
        }
        usleep(500);
    }
    close(fd);
    waitpid(pid, &r->status, 0);
    r->ms = (double)(wall_ns() - t) / 1e6;
    if (killed)
        r->status = -2;
}

static bool ok(const struct run *r) { return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0; }

static double cpu_ms(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* ---- the test ------------------------------------------------------------ */

static void replug(struct bench *b, bool cdc)
{
    int d = __atomic_load_n(&b->detached, __ATOMIC_ACQUIRE), a = __atomic_load_n(&b->attached, __ATOMIC_ACQUIRE);
    on_emu(b, cmd_unplug);
    CHECK(wait_count(&b->detached, d + 1, 2000), "no detach");
    core_become(&b->dev, cdc); /* the emulator thread does not touch the device while unplugged */
    on_emu(b, cmd_plug);
    CHECK(wait_count(&b->attached, a + 1, 3000), "no attach after replug");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PYTHON3 LIBUSB_CLIENT_PY\n", argv[0]);
        return 2;
    }
    char *py = argv[1], *client = argv[2];

    /* testbeds go to a scratch TMPDIR that must be empty again at the end */
    char tmpl[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/spark-emu-umockdev-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *scratch = mkdtemp(tmpl);
    if (!scratch) {
        perror("mkdtemp");
        return 1;
    }
    setenv("TMPDIR", scratch, 1);

    static struct bench bench;
    struct bench *b = &bench;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    sim_init(&b->sim);
    b->sim.log = getenv("VERBOSE") ? stderr : NULL;
    b->sim.log_level = getenv("VERBOSE") ? LOG_DEBUG : LOG_WARN;
    core_init(&b->dev);
    usb_host_init(&b->host, &b->sim, &fake_usb_ops, &b->dev.usb);
    b->host.kick = bench_kick;
    b->host.kick_opaque = b;
    usb_host_plug(&b->host, true); /* a cable to this host: the pull-up below connects the device */

    char err[256];
    uint64_t t = wall_ns();
    if (usb_umockdev_start(&b->u, &b->host, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct usb_host_observer o = {observed_attach, observed_detach, b};
    usb_host_observe(&b->host, &o);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", usb_umockdev_dir(b->u));
    printf("testbed %s, set up in %.1f ms\n%s\n", dir, (double)(wall_ns() - t) / 1e6, usb_umockdev_env(b->u));
    fflush(stdout);
    CHECK(strstr(usb_umockdev_env(b->u), "LD_PRELOAD=libumockdev-preload.so.0") != NULL, "env line");

    pthread_create(&b->thread, NULL, emu_thread, b);
    on_emu(b, cmd_plug);
    CHECK(wait_count(&b->attached, 1, 3000), "the device did not enumerate");

    struct run r;
    struct usb_umockdev_stats s0, s1;
    if (getenv("PAUSE_SECONDS")) /* for a look from another shell: eval the line printed above */
        sleep((unsigned)atoi(getenv("PAUSE_SECONDS")));

    /* dfu-util -l: both alternates, their names exactly as the device gives them */
    usb_umockdev_get_stats(b->u, &s0);
    double cpu0 = cpu_ms(RUSAGE_SELF), ccpu0 = cpu_ms(RUSAGE_CHILDREN);
    run(b, &r, 20000, (char *[]){"dfu-util", "-l", NULL});
    usb_umockdev_get_stats(b->u, &s1);
    printf("dfu-util -l: %.1f ms wall, %llu URBs, %llu ioctls, %llu EAGAIN, %.1f ms CPU here, %.1f ms in the child\n",
           r.ms, (unsigned long long)(s1.urbs_reaped - s0.urbs_reaped), (unsigned long long)(s1.ioctls - s0.ioctls),
           (unsigned long long)(s1.reap_eagain - s0.reap_eagain), cpu_ms(RUSAGE_SELF) - cpu0,
           cpu_ms(RUSAGE_CHILDREN) - ccpu0);
    CHECK(ok(&r), "dfu-util -l failed: %s", r.out);
    CHECK(strstr(r.out, "Found DFU: [1d50:607f] ver=0200, devnum=2, cfg=1, intf=0, path=\"1-1\", alt=0, "
                        "name=\"@Internal Flash  /0x08000000/20*001Ka,108*001Kg\", serial=\"8D7A3B6C5449\"") != NULL,
          "alt 0 not listed: %s", r.out);
    CHECK(strstr(r.out, "alt=1, name=\"@SPI Flash : SST25x/0x00000000/512*04Kg\", serial=\"8D7A3B6C5449\"") != NULL,
          "alt 1 not listed: %s", r.out);

    /* lsusb: the bus, then the whole descriptor dump */
    run(b, &r, 20000, (char *[]){"lsusb", NULL});
    CHECK(ok(&r) && strstr(r.out, "Bus 001 Device 002: ID 1d50:607f") && strstr(r.out, "Bus 001 Device 001: ID 1d6b:0001"),
          "lsusb: %s", r.out);
    run(b, &r, 20000, (char *[]){"lsusb", "-v", "-d", "1d50:607f", NULL});
    CHECK(ok(&r), "lsusb -v failed: %s", r.out);
    CHECK(strstr(r.out, "iManufacturer           1 Spark Devices\n") != NULL, "manufacturer: %s", r.out);
    CHECK(strstr(r.out, "iProduct                2 CORE DFU\n") != NULL, "product: %s", r.out);
    CHECK(strstr(r.out, "iSerial                 3 8D7A3B6C5449\n") != NULL, "serial: %s", r.out);
    CHECK(strstr(r.out, "iInterface              5 @SPI Flash : SST25x/0x00000000/512*04Kg") != NULL, "alt 1 name");
    CHECK(strstr(r.out, "wTransferSize                    1024 bytes") != NULL, "DFU functional descriptor: %s", r.out);

    /* a DfuSe upload: SET_ADDRESS command, GETSTATUS polling, ABORT, 1024-byte UPLOAD blocks */
    char up[PATH_MAX];
    snprintf(up, sizeof up, "%s/up.bin", scratch);
    run(b, &r, 20000, (char *[]){"dfu-util", "-d", "1d50:607f", "-a", "0", "-s", "0x08005000:3000", "-U", up, NULL});
    printf("dfu-util -U 3000 bytes: %.1f ms wall\n", r.ms);
    CHECK(ok(&r), "dfu-util -U failed: %s", r.out);
    FILE *fp = fopen(up, "rb");
    uint8_t data[4096];
    size_t n = fp ? fread(data, 1, sizeof data, fp) : 0;
    if (fp)
        fclose(fp);
    unlink(up);
    bool same = n == 3000;
    for (size_t i = 0; same && i < n; i++)
        same = data[i] == flash_byte(0x08005000u + (uint32_t)i);
    CHECK(same, "uploaded %zu bytes, not the device's 3000", n);

    /* libusb directly: control latency, stall, time-out through DISCARDURB */
    usb_umockdev_get_stats(b->u, &s0);
    cpu0 = cpu_ms(RUSAGE_SELF);
    ccpu0 = cpu_ms(RUSAGE_CHILDREN);
    run(b, &r, 30000, (char *[]){py, client, "latency", "1d50:607f", "1000", NULL});
    usb_umockdev_get_stats(b->u, &s1);
    CHECK(ok(&r) && strstr(r.out, "claim 0\nsetalt 0\ngetstatus ok state=2\n"), "latency client: %s", r.out);
    const char *mean = strstr(r.out, "mean_us ");
    printf("1000 GETSTATUS: mean %.0f µs per control transfer; %llu held reaps, %llu EAGAIN; CPU %.0f ms here, %.0f ms in the child (%.0f ms wall)\n",
           mean ? strtod(mean + 8, NULL) : -1.0, (unsigned long long)(s1.reap_held - s0.reap_held),
           (unsigned long long)(s1.reap_eagain - s0.reap_eagain), cpu_ms(RUSAGE_SELF) - cpu0,
           cpu_ms(RUSAGE_CHILDREN) - ccpu0, r.ms);
    run(b, &r, 20000, (char *[]){py, client, "errors", "1d50:607f", NULL});
    CHECK(ok(&r) && strstr(r.out, "claim 0\nstall -9\ntimeout -7 after_ms") && strstr(r.out, "after 6\n"),
          "errors client: %s", r.out);

    /* a client killed mid-transfer: its URB is unlinked, nothing stays in flight */
    int fd;
    pid_t pid = spawn_child(b, (char *[]){py, client, "hang", "1d50:607f", NULL}, &fd);
    CHECK(pid > 0, "cannot run the hanging client");
    if (pid > 0) {
        char hang_line[64] = "";
        FILE *cf = fdopen(fd, "r");
        CHECK(fgets(hang_line, sizeof hang_line, cf) && strcmp(hang_line, "claim 0\n") == 0, "hang client: %s",
              hang_line);
        usleep(100000);
        on_emu(b, cmd_busy);
        CHECK(b->busy, "the hanging transfer is not in flight");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fclose(cf);
        bool idle = false;
        for (int i = 0; i < 200 && !idle; i++) {
            usleep(5000);
            on_emu(b, cmd_busy);
            idle = !b->busy;
        }
        CHECK(idle, "the dead client's URB is still in flight");
    }

    /*
     * Re-enumeration as the CDC firmware: a new address, seen by new
     * processes; a running libusb client hears of it only when this process
     * runs under umockdev's preload (umockdev-wrapper), which sends uevents.
     */
    const char *preload = getenv("LD_PRELOAD");
    bool hotplug = preload && strstr(preload, "libumockdev-preload");
    pid_t listener = -1;
    int listener_fd = -1;
    FILE *lf = NULL;
    char line[128] = "";
    if (hotplug) {
        listener = spawn_child(b, (char *[]){py, client, "hotplug", "1d50", "3", NULL}, &listener_fd);
        lf = listener > 0 ? fdopen(listener_fd, "r") : NULL;
        /* libusb reports the devices already there as arrivals while registering */
        CHECK(lf && fgets(line, sizeof line, lf) && strcmp(line, "arrived 1d50:607f\n") == 0, "hotplug: %s", line);
        CHECK(lf && fgets(line, sizeof line, lf) && strcmp(line, "registered 0\n") == 0, "hotplug listener: %s", line);
    }
    replug(b, true);
    if (lf) {
        CHECK(fgets(line, sizeof line, lf) && strcmp(line, "left 1d50:607f\n") == 0, "hotplug: %s", line);
        CHECK(fgets(line, sizeof line, lf) && strcmp(line, "arrived 1d50:607d\n") == 0, "hotplug: %s", line);
        fclose(lf);
        waitpid(listener, NULL, 0);
    }
    run(b, &r, 20000, (char *[]){"lsusb", NULL});
    CHECK(ok(&r) && strstr(r.out, "Bus 001 Device 003: ID 1d50:607d") && !strstr(r.out, "607f"), "lsusb after replug: %s",
          r.out);
    run(b, &r, 20000, (char *[]){py, client, "echo", "1d50:607d", NULL});
    CHECK(ok(&r) && strstr(r.out, "claim 0\nout 0 100\nin 0 100 same\n"), "bulk echo: %s", r.out);

    /* its serial port: /dev/ttyACM0 on the CDC interface leads to the serial driver's pty */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    char slave[64] = "";
    CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0 && ptsname_r(master, slave, sizeof slave) == 0,
          "cannot make a pty");
    int rc = usb_umockdev_set_tty(b->u, "ttyACM0", slave, err, sizeof err);
    CHECK(rc == 0, "set_tty: %s", err);
    CHECK(usb_umockdev_set_tty(b->u, "tty/ACM0", slave, err, sizeof err) == -1 && strstr(err, "bad tty name"),
          "a bad tty name is refused: %s", err);
    if (rc == 0) {
        int sfd = open(slave, O_RDWR | O_NOCTTY); /* raw, so the line reaches head unchanged */
        struct termios t;
        if (sfd >= 0 && tcgetattr(sfd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(sfd, TCSANOW, &t);
        }
        pid = spawn_child(b, (char *[]){"head", "-n", "1", "/dev/ttyACM0", NULL}, &fd);
        usleep(200000);
        CHECK(write(master, "hello\n", 6) == 6, "write to the pty master");
        FILE *cf = fdopen(fd, "r");
        line[0] = '\0';
        CHECK(fgets(line, sizeof line, cf) && strcmp(line, "hello\n") == 0, "tty read: \"%s\"", line);
        fclose(cf);
        waitpid(pid, NULL, 0);
        if (sfd >= 0)
            close(sfd);
        run(b, &r, 20000, (char *[]){"udevadm", "info", "--query=property", "--name=/dev/ttyACM0", NULL});
        printf("udevadm info /dev/ttyACM0 (rc %d):\n%s", r.status, r.out);
        CHECK(strstr(r.out, "ID_VENDOR_ID=1d50") && strstr(r.out, "ID_MODEL_ID=607d") &&
                  strstr(r.out, "ID_SERIAL_SHORT=8D7A3B6C5449"),
              "tty properties");
        run(b, &r, 20000, (char *[]){"stat", "-L", "-c", "%F %t:%T", "/dev/ttyACM0", NULL});
        CHECK(ok(&r) && strstr(r.out, "character special file a6:0"), "stat /dev/ttyACM0: %s", r.out);
    }

    /* and back to DFU: the tty goes with the CDC device */
    replug(b, false);
    run(b, &r, 20000, (char *[]){"sh", "-c", "test -e /dev/ttyACM0 && echo present || echo gone", NULL});
    CHECK(strstr(r.out, "gone") != NULL, "/dev/ttyACM0 after the detach: %s", r.out);
    run(b, &r, 20000, (char *[]){"dfu-util", "-l", NULL});
    CHECK(ok(&r) && strstr(r.out, "Found DFU: [1d50:607f] ver=0200, devnum=4,") && !strstr(r.out, "607d"),
          "dfu-util -l after the second replug: %s", r.out);

    /* the CDC device again (a reset, :leave): the same ttyACM0 comes back (umockdev once refused the name) */
    replug(b, true);
    run(b, &r, 20000, (char *[]){"udevadm", "info", "--query=property", "--name=/dev/ttyACM0", NULL});
    CHECK(ok(&r) && strstr(r.out, "ID_MODEL_ID=607d") && strstr(r.out, "DEVNAME=/dev/ttyACM0"),
          "/dev/ttyACM0 after the CDC device came back: %s", r.out);
    replug(b, false);
    run(b, &r, 20000, (char *[]){"dfu-util", "-l", NULL});
    CHECK(ok(&r) && strstr(r.out, "Found DFU: [1d50:607f] ver=0200, devnum=6,"), "dfu-util -l at the end: %s", r.out);

    /* stop with the device attached: the testbed directory goes */
    pthread_mutex_lock(&b->mu);
    b->quit = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    usb_umockdev_stop(b->u);
    struct stat st;
    CHECK(stat(dir, &st) != 0, "testbed %s still exists", dir);
    usb_host_free(&b->host);
    sim_free(&b->sim);
    CHECK(rmdir(scratch) == 0, "%s is not empty: %s", scratch, strerror(errno));

    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
