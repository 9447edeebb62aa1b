/*
 * options.c - parsing of the command line into struct options. Every option
 * is listed in options_usage(); a bad value is an error naming the option and
 * what would be right.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_LOAD = 0x100,
    OPT_BOOTLOADER,
    OPT_FIRMWARE,
    OPT_STATE,
    OPT_INT_FLASH,
    OPT_EXT_FLASH,
    OPT_TRACE,
    OPT_VCD,
    OPT_PRESS,
    OPT_WIFI_PROFILES,
    OPT_HEADLESS,
    OPT_RUN_FOR,
    OPT_SPEED,
    OPT_TIMEOUT_STATUS,
    OPT_VERBOSE,
    OPT_QUIET,
    OPT_STATS,
    OPT_SCREENSHOT,
    OPT_UART_RX,
    OPT_ANALOG,
    OPT_USB_HOST_CMD,
    OPT_USB,
    OPT_USBIP,
    OPT_GDB,
    OPT_GDB_WAIT,
    OPT_SERIAL,
    OPT_CLOUD,
    OPT_NET,
    OPT_SCRIPT,
    OPT_SNAPSHOT_SAVE,
    OPT_SNAPSHOT_LOAD,
    OPT_HELP,
};

static const struct option long_options[] = {
    {"load", required_argument, NULL, OPT_LOAD},
    {"bootloader", required_argument, NULL, OPT_BOOTLOADER},
    {"firmware", required_argument, NULL, OPT_FIRMWARE},
    {"state", required_argument, NULL, OPT_STATE},
    {"int-flash", required_argument, NULL, OPT_INT_FLASH},
    {"ext-flash", required_argument, NULL, OPT_EXT_FLASH},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"vcd", required_argument, NULL, OPT_VCD},
    {"press", required_argument, NULL, OPT_PRESS},
    {"wifi-profiles", required_argument, NULL, OPT_WIFI_PROFILES},
    {"headless", no_argument, NULL, OPT_HEADLESS},
    {"run-for", required_argument, NULL, OPT_RUN_FOR},
    {"speed", required_argument, NULL, OPT_SPEED},
    {"timeout-status", required_argument, NULL, OPT_TIMEOUT_STATUS},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"stats", no_argument, NULL, OPT_STATS},
    {"screenshot", required_argument, NULL, OPT_SCREENSHOT},
    {"uart-rx", required_argument, NULL, OPT_UART_RX},
    {"analog", required_argument, NULL, OPT_ANALOG},
    {"usb-host-cmd", required_argument, NULL, OPT_USB_HOST_CMD},
    {"usb", required_argument, NULL, OPT_USB},
    {"usbip", optional_argument, NULL, OPT_USBIP},
    {"gdb", optional_argument, NULL, OPT_GDB},
    {"gdb-wait", no_argument, NULL, OPT_GDB_WAIT},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"cloud", required_argument, NULL, OPT_CLOUD},
    {"net", required_argument, NULL, OPT_NET},
    {"script", required_argument, NULL, OPT_SCRIPT},
    {"snapshot-save", required_argument, NULL, OPT_SNAPSHOT_SAVE},
    {"snapshot-load", required_argument, NULL, OPT_SNAPSHOT_LOAD},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void options_usage(FILE *f)
{
    fputs(
        "Usage: spark-emu [OPTION]...\n"
        "Emulate a Spark Core (STM32F103CB, SST25VF016B, CC3000, RGB LED, MODE button).\n"
        "\n"
        "Images:\n"
        "  --load FILE[@ADDR]       load an image: ELF at its own addresses, Intel HEX, or a raw\n"
        "                           binary at ADDR (default 0x08000000); repeatable; turns every\n"
        "                           default image off\n"
        "  --bootloader FILE|none   program FILE into flash at 0x08000000 before power-on;\n"
        "                           'none' starts the firmware directly, as a bootloader's jump would\n"
        "                           (default: $SPARK_EMU_BOOTLOADER if set)\n"
        "  --firmware FILE          program FILE at 0x08005000 and mark it valid in the flags page\n"
        "  --state DIR              where the flash images and backup registers live between runs\n"
        "                           (default: $SPARK_EMU_STATE, else ~/.cache/spark-emu/state)\n"
        "  --int-flash FILE         use this 128 KiB internal flash image instead of the state's\n"
        "  --ext-flash FILE         use this 2 MiB external flash image instead of the state's\n"
        "\n"
        "Running:\n"
        "  --headless               no window (automatic when there is no display)\n"
        "  --run-for DURATION       stop after this much virtual time: <n>us, <n>ms or <n>s (2.5s too)\n"
        "  --speed max|realtime|F   pacing against the wall clock (default: max headless,\n"
        "                           realtime with a window); F = virtual seconds per wall second\n"
        "  --timeout-status N       exit status when --run-for elapses (default 0)\n"
        "  --press BUTTON@START[+HOLD]  press 'mode' or 'reset' at virtual START for HOLD\n"
        "                           (default 100ms); repeatable, e.g. --press mode@500ms+3500ms\n"
        "  --wifi-profiles N        the CC3000 reports N stored WiFi profiles (default 0)\n"
        "  --analog PIN=VOLTS       the voltage on analog pin A0-A7, e.g. --analog A0=1.65 (0-3.3 V;\n"
        "                           repeatable; unset pins read 0 V)\n"
        "  --uart-rx FILE           feed FILE to Serial1 (USART2 RX, pins RX/TX), one byte per frame\n"
        "                           time, once the firmware enables its receiver\n"
        "  --script FILE            run a scenario: steps in virtual time (press, hold, wait, run)\n"
        "                           and expectations (LED pattern, reset, USB attach); exit 0 when\n"
        "                           all held, 1 at the first that did not (docs/scenarios.md)\n"
        "\n"
        "USB (the emulated Core's USB port, on a virtual host; see docs/usb.md):\n"
        "  --usb-host-cmd CMD       once the device has enumerated, run 'sh -c CMD' with the\n"
        "                           environment that lets libusb programs (dfu-util, lsusb,\n"
        "                           particle) see it, pacing in real time while it runs; then run\n"
        "                           on for --run-for if given and exit with CMD's status;\n"
        "                           repeatable (run in order, each after the device enumerates)\n"
        "  --usb umockdev           serve the device to other shells: prints the line to eval\n"
        "  --usbip [ADDR:]PORT      serve the device over USB/IP (default 127.0.0.1:3240); on a\n"
        "                           desktop: sudo modprobe vhci-hcd; sudo usbip attach -r HOST -b 1-1\n"
        "  --serial pty|stdio|FILE  the firmware's USB CDC serial port: a pty (its path is printed),\n"
        "                           this terminal, or a file that receives what the Core sends\n"
        "\n"
        "Network (the CC3000's sockets on host sockets; see docs/net.md):\n"
        "  --cloud HOST:PORT        send the Core's cloud connection (TCP to port 5683, whatever\n"
        "                           address it was configured with) to HOST:PORT\n"
        "  --net none|cloud|host    what may leave the machine: nothing (connects fail as on a\n"
        "                           network without an uplink), only the cloud connection, or\n"
        "                           everything (default: cloud with --cloud, else none)\n"
        "\n"
        "Debugging (docs/gdb.md):\n"
        "  --gdb [ADDR:]PORT        serve the GDB remote protocol (default 127.0.0.1:3333; port 0\n"
        "                           picks one): gdb-multiarch -ex 'target extended-remote :3333'\n"
        "  --gdb-wait               halt at the reset vector until the debugger continues\n"
        "\n"
        "Output:\n"
        "  --trace FILE             JSON Lines trace of LED, reset, button, fault, CC3000 and\n"
        "                           flash events (docs/trace.md)\n"
        "  --vcd FILE               the pins (D0-D7, A0-A7, MODE, chip selects, USB pull-up) and\n"
        "                           the LED's PWM duty as a Value Change Dump (GTKWave, sigrok)\n"
        "  --screenshot FILE@TIME   save a PNG of the board (the window, or the same drawing\n"
        "                           off-screen when headless) at virtual TIME; repeatable\n"
        "  --snapshot-save FILE@TIME  save the whole machine (CPU, memories, every device, both\n"
        "                           flashes) at virtual TIME; repeatable\n"
        "  --snapshot-load FILE     start from a snapshot instead of a power-on: its time goes on,\n"
        "                           --run-for counts from it, --press times stay absolute\n"
        "  --stats                  print execution statistics at exit\n"
        "  --verbose, --quiet       more or fewer log messages on stderr\n"
        "  --help                   this text\n"
        "\n"
        "Exit status: 0 when --run-for elapses or the guest exits 0 through semihosting (else the\n"
        "guest's status); 1 a --script expectation failed; 2 bad arguments, files, images or\n"
        "scripts; 4 the core locked up; 5 emulator error;\n"
        "with --usb-host-cmd, the status of the last command (or 6 if the device never enumerated).\n",
        f);
}

int parse_duration(const char *s, uint64_t *cycles)
{
    if (!isdigit((unsigned char)s[0]))
        return -1; /* no sign, no blanks */
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno)
        return -1;
    /* a decimal part ("2.5s", "1.25ms"): frac / scale, digits past the ninth ignored */
    uint64_t frac = 0, scale = 1;
    if (*end == '.') {
        end++;
        if (!isdigit((unsigned char)*end))
            return -1;
        for (; isdigit((unsigned char)*end); end++) {
            if (scale < 1000000000ull) {
                frac = frac * 10 + (uint64_t)(*end - '0');
                scale *= 10;
            }
        }
    }
    uint64_t mult;
    if (strcmp(end, "us") == 0)
        mult = SIM_US(1);
    else if (strcmp(end, "ms") == 0)
        mult = SIM_MS(1);
    else if (strcmp(end, "s") == 0)
        mult = SIM_S(1);
    else if (*end == '\0' && n == 0 && scale == 1)
        mult = 1;
    else
        return -1;
    if (n > UINT64_MAX / mult)
        return -1;
    uint64_t part = (frac * mult + scale / 2) / scale; /* to the nearest cycle; frac * mult < 2^63 */
    if (n * mult > UINT64_MAX - part)
        return -1;
    *cycles = n * mult + part;
    return 0;
}

static int parse_press(const char *arg, struct press_spec *p, char *err, size_t errlen)
{
    const char *at = strchr(arg, '@');
    if (!at) {
        snprintf(err, errlen, "--press %s: expected BUTTON@START[+HOLD], e.g. mode@500ms+3500ms", arg);
        return -1;
    }
    size_t nlen = (size_t)(at - arg);
    if (nlen == 4 && strncmp(arg, "mode", 4) == 0)
        p->button = BUTTON_MODE;
    else if (nlen == 5 && strncmp(arg, "reset", 5) == 0)
        p->button = BUTTON_RESET;
    else {
        snprintf(err, errlen, "--press %s: unknown button '%.*s' (expected mode or reset)", arg,
                 (int)nlen, arg);
        return -1;
    }
    char start[64];
    const char *plus = strchr(at + 1, '+');
    size_t slen = plus ? (size_t)(plus - at - 1) : strlen(at + 1);
    if (slen >= sizeof start) {
        snprintf(err, errlen, "--press %s: START is too long", arg);
        return -1;
    }
    memcpy(start, at + 1, slen);
    start[slen] = '\0';
    if (parse_duration(start, &p->start)) {
        snprintf(err, errlen, "--press %s: START '%s' is not a duration (<n>us, <n>ms, <n>s)", arg,
                 start);
        return -1;
    }
    p->hold = SIM_MS(100);
    if (plus && (parse_duration(plus + 1, &p->hold) || p->hold == 0)) {
        snprintf(err, errlen, "--press %s: HOLD '%s' is not a positive duration (<n>us, <n>ms, <n>s)",
                 arg, plus + 1);
        return -1;
    }
    return 0;
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out, char *err,
                     size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) {
        snprintf(err, errlen, "%s %s: expected a whole number from %ld to %ld", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int options_parse(int argc, char **argv, struct options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->log_level = LOG_WARN;
    o->speed = 1.0;
    /*
     * 0, not 1: glibc then resets getopt's whole state, including its
     * position inside a bundle of short options (-abc), which a previous
     * call that stopped at an error would otherwise leave pointing into that
     * call's arguments (the fuzz target calls this again and again).
     */
    optind = 0;
    opterr = 0;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_LOAD: {
            if (o->nloads == OPT_MAX_LOADS) {
                snprintf(err, errlen, "--load: at most %d images", OPT_MAX_LOADS);
                return -1;
            }
            struct load_spec *l = &o->loads[o->nloads];
            if (image_parse_spec(optarg, &l->path, &l->addr, &l->has_addr, err, errlen))
                return -1;
            o->nloads++;
            break;
        }
        case OPT_BOOTLOADER:
            if (strcmp(optarg, "none") == 0)
                o->bootloader_none = true;
            else
                o->bootloader = optarg;
            break;
        case OPT_FIRMWARE: o->firmware = optarg; break;
        case OPT_STATE: o->state_dir = optarg; break;
        case OPT_INT_FLASH: o->int_flash = optarg; break;
        case OPT_EXT_FLASH: o->ext_flash = optarg; break;
        case OPT_TRACE: o->trace = optarg; break;
        case OPT_VCD: o->vcd = optarg; break;
        case OPT_PRESS:
            if (o->npresses == OPT_MAX_PRESSES) {
                snprintf(err, errlen, "--press: at most %d presses", OPT_MAX_PRESSES);
                return -1;
            }
            if (parse_press(optarg, &o->presses[o->npresses], err, errlen))
                return -1;
            o->npresses++;
            break;
        case OPT_WIFI_PROFILES:
            if (parse_int("--wifi-profiles", optarg, 0, 7, &v, err, errlen))
                return -1;
            o->wifi_profiles = (int)v;
            o->wifi_profiles_given = true;
            break;
        case OPT_SCREENSHOT: {
            if (o->nscreenshots == OPT_MAX_SCREENSHOTS) {
                snprintf(err, errlen, "--screenshot: at most %d screenshots", OPT_MAX_SCREENSHOTS);
                return -1;
            }
            char *at = strrchr(optarg, '@');
            if (!at || at == optarg || parse_duration(at + 1, &o->screenshots[o->nscreenshots].at)) {
                snprintf(err, errlen, "--screenshot %s: expected FILE@TIME, e.g. board.png@3s", optarg);
                return -1;
            }
            *at = '\0';
            o->screenshots[o->nscreenshots++].path = optarg;
            break;
        }
        case OPT_UART_RX: o->uart_rx = optarg; break;
        case OPT_ANALOG: {
            char *end;
            double volts;
            if (o->nanalog == OPT_MAX_ANALOG) {
                snprintf(err, errlen, "--analog: at most %d pins", OPT_MAX_ANALOG);
                return -1;
            }
            if ((optarg[0] != 'A' && optarg[0] != 'a') || optarg[1] < '0' || optarg[1] > '7' || optarg[2] != '=' ||
                (volts = strtod(optarg + 3, &end), end == optarg + 3) || *end || !(volts >= 0) || volts > 3.3) {
                snprintf(err, errlen, "--analog %s: expected A0..A7=VOLTS with 0 <= VOLTS <= 3.3, e.g. A0=1.65",
                         optarg);
                return -1;
            }
            o->analog[o->nanalog].pin = optarg[1] - '0';
            o->analog[o->nanalog].millivolts = (uint32_t)(volts * 1000.0 + 0.5);
            o->nanalog++;
            break;
        }
        case OPT_USB_HOST_CMD:
            if (o->nusb_host_cmds == OPT_MAX_USB_HOST_CMDS) {
                snprintf(err, errlen, "--usb-host-cmd: at most %d commands", OPT_MAX_USB_HOST_CMDS);
                return -1;
            }
            if (!*optarg) {
                snprintf(err, errlen, "--usb-host-cmd: the command is empty");
                return -1;
            }
            o->usb_host_cmds[o->nusb_host_cmds++] = optarg;
            break;
        case OPT_USB:
            if (strcmp(optarg, "umockdev") != 0) {
                snprintf(err, errlen, "--usb %s: expected umockdev (for USB/IP use --usbip [ADDR:]PORT)", optarg);
                return -1;
            }
            o->usb_umockdev = true;
            break;
        case OPT_USBIP:
            /* the value is optional: "--usbip", "--usbip=PORT" and "--usbip [ADDR:]PORT" all work */
            if (!optarg && optind < argc && argv[optind][0] != '-')
                optarg = argv[optind++];
            o->usbip = optarg ? optarg : "127.0.0.1:3240";
            break;
        case OPT_GDB:
            /* like --usbip: "--gdb", "--gdb=PORT" and "--gdb [ADDR:]PORT" */
            if (!optarg && optind < argc && argv[optind][0] != '-')
                optarg = argv[optind++];
            o->gdb = optarg ? optarg : "127.0.0.1:3333";
            break;
        case OPT_GDB_WAIT: o->gdb_wait = true; break;
        case OPT_CLOUD: o->cloud = optarg; break;
        case OPT_NET:
            if (strcmp(optarg, "none") == 0) {
                o->net_mode = NET_MODE_NONE;
            } else if (strcmp(optarg, "cloud") == 0) {
                o->net_mode = NET_MODE_CLOUD;
            } else if (strcmp(optarg, "host") == 0) {
                o->net_mode = NET_MODE_HOST;
            } else {
                snprintf(err, errlen, "--net %s: expected none, cloud or host", optarg);
                return -1;
            }
            break;
        case OPT_SERIAL:
            if (strcmp(optarg, "pty") == 0) {
                o->serial = SERIAL_PTY;
            } else if (strcmp(optarg, "stdio") == 0) {
                o->serial = SERIAL_STDIO;
            } else if (*optarg) {
                o->serial = SERIAL_FILE;
                o->serial_file = optarg;
            } else {
                snprintf(err, errlen, "--serial: expected pty, stdio or a file name");
                return -1;
            }
            break;
        case OPT_HEADLESS: o->headless = true; break;
        case OPT_RUN_FOR:
            if (parse_duration(optarg, &o->run_for) || o->run_for == 0) {
                snprintf(err, errlen, "--run-for %s: expected a positive duration like 10s, 500ms, 250us",
                         optarg);
                return -1;
            }
            break;
        case OPT_SPEED:
            o->speed_given = true;
            if (strcmp(optarg, "max") == 0)
                o->pacing = PACE_MAX;
            else if (strcmp(optarg, "realtime") == 0)
                o->pacing = PACE_REALTIME;
            else {
                char *end;
                errno = 0;
                double f = strtod(optarg, &end);
                if (end == optarg || *end || errno || !(f > 0) || f > 1e6) {
                    snprintf(err, errlen, "--speed %s: expected max, realtime, or a factor such as 0.5 or 10",
                             optarg);
                    return -1;
                }
                o->pacing = PACE_FACTOR;
                o->speed = f;
            }
            break;
        case OPT_TIMEOUT_STATUS:
            if (parse_int("--timeout-status", optarg, 0, 255, &v, err, errlen))
                return -1;
            o->timeout_status = (int)v;
            break;
        case OPT_VERBOSE: o->log_level = o->log_level < LOG_DEBUG ? o->log_level + 1 : LOG_DEBUG; break;
        case OPT_QUIET: o->log_level = LOG_ERROR; break;
        case OPT_STATS: o->stats = true; break;
        case OPT_SCRIPT: o->script = optarg; break;
        case OPT_SNAPSHOT_SAVE: {
            if (o->nsnapshot_saves == OPT_MAX_SNAPSHOTS) {
                snprintf(err, errlen, "--snapshot-save: at most %d snapshots", OPT_MAX_SNAPSHOTS);
                return -1;
            }
            char *at = strrchr(optarg, '@');
            if (!at || at == optarg || parse_duration(at + 1, &o->snapshot_saves[o->nsnapshot_saves].at)) {
                snprintf(err, errlen, "--snapshot-save %s: expected FILE@TIME, e.g. s.snap@5s", optarg);
                return -1;
            }
            *at = '\0';
            o->snapshot_saves[o->nsnapshot_saves++].path = optarg;
            break;
        }
        case OPT_SNAPSHOT_LOAD: o->snapshot_load = optarg; break;
        case OPT_HELP: return 1;
        case '?':
        default:
            if (optopt >= OPT_LOAD && optopt - OPT_LOAD < (int)(sizeof long_options / sizeof *long_options) - 1)
                snprintf(err, errlen, "option --%s needs a value (see --help)", long_options[optopt - OPT_LOAD].name);
            else if (optopt)
                snprintf(err, errlen, "unknown option '-%c' (options are long, e.g. --verbose; see --help)",
                         optopt > ' ' && optopt < 127 ? optopt : '?');
            else
                snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (o->snapshot_load) {
        /* the snapshot is the machine: its flashes, its devices' settings */
        const char *clash = o->nloads ? "--load" : o->bootloader || o->bootloader_none ? "--bootloader"
                            : o->firmware ? "--firmware" : NULL;
        const char *held = "both flashes";
        if (!clash && o->wifi_profiles_given) {
            clash = "--wifi-profiles";
            held = "the CC3000's WiFi profiles";
        } else if (!clash && o->nanalog) {
            clash = "--analog";
            held = "the analog inputs";
        }
        if (clash) {
            snprintf(err, errlen, "%s cannot be given with --snapshot-load: the snapshot holds %s", clash, held);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (images are given with --load, --bootloader "
                              "or --firmware; see --help)", argv[optind]);
        return -1;
    }
    if (o->gdb_wait && !o->gdb) {
        snprintf(err, errlen, "--gdb-wait needs --gdb (it waits for a debugger to continue)");
        return -1;
    }
    return 0;
}

void options_free(struct options *o)
{
    for (int i = 0; i < o->nloads; i++)
        free(o->loads[i].path);
    o->nloads = 0;
}
