"""Run the real particle-cli 2.16.0 (installed by tools/install-particle-cli.sh)
for the USB client tests, plus the bits needed to show it an emulated Core.

    from particle import run_particle, core_tty_record
    r = run_particle(["serial", "list"], env=umockdev_env(root_dir))
    r.status, r.stdout, r.stderr

Every run gets a scratch HOME (particle writes $HOME/.particle on each run) and
--no-update-check (added by the wrapper; otherwise each run asks the npm
registry for a newer version). Standard library only.

What particle runs (via PATH): `dfu-util -l` and `dfu-util -d 1d50:607f ...`
for DFU, `udevadm info -e` to list serial ports, `openssl` for keys.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

VERSION = "2.16.0"
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INSTALLER = os.path.join(TOP, "tools", "install-particle-cli.sh")

# USB ids of a Core: CDC serial (application) and DFU (bootloader)
CORE_SERIAL_ID = ("1d50", "607d")
CORE_DFU_ID = ("1d50", "607f")

# umockdev's LD_PRELOAD library (Debian package umockdev)
UMOCKDEV_PRELOAD = "libumockdev-preload.so.0"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Result:
    status: int          # exit status; -N if killed by signal N; None on timeout
    stdout: str          # ANSI colours stripped
    stderr: str
    seconds: float
    timed_out: bool = False

    def __str__(self):
        return "exit %s after %.1f s\n--- stdout\n%s--- stderr\n%s" % (
            "timeout" if self.timed_out else self.status, self.seconds,
            self.stdout, self.stderr)


def particle_path(install=False):
    """The particle wrapper: $SPARK_EMU_PARTICLE (set by tools/test.sh), else
    the default cache location if complete, else (install=True) whatever
    tools/install-particle-cli.sh prints. None if not available."""
    p = os.environ.get("SPARK_EMU_PARTICLE")
    if p and os.access(p, os.X_OK):
        return p
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.environ.get("HOME") or "/tmp", ".cache")
    d = os.environ.get("SPARK_EMU_PARTICLE_DIR") or os.path.join(
        cache, "spark-emu", "particle-cli-" + VERSION)
    p = os.path.join(d, "particle")
    if os.path.exists(os.path.join(d, ".complete")) and os.access(p, os.X_OK):
        return p
    if install:
        out = subprocess.run([INSTALLER], stdout=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL, check=True)
        return out.stdout.strip().splitlines()[-1]
    return None


def run_particle(args, *, cwd=None, home=None, env=None, path_prepend=(),
                 timeout=60, input=None, particle=None):
    """Run `particle ARGS` and return a Result; never raises on a non-zero exit.

    cwd: working directory (particle writes backups and padded files there:
         `keys load` appends a 0x00 to an odd-sized file IN PLACE, so pass copies).
    home: HOME to use; default a fresh scratch directory, removed afterwards.
    env: extra environment variables (e.g. umockdev_env(root)).
    path_prepend: directories put first in PATH (e.g. a dfu-util stub).
    timeout: seconds; the whole process group is killed after it.
    """
    particle = particle or particle_path()
    if not particle:
        raise FileNotFoundError("particle-cli is not installed: run tools/install-particle-cli.sh "
                                "(or tools/test.sh, which sets $SPARK_EMU_PARTICLE)")
    scratch = None
    if home is None:
        scratch = home = tempfile.mkdtemp(prefix="particle-home.")
    e = dict(os.environ)
    e.update(env or {})
    e["HOME"] = home
    e.pop("PARTICLE_DISABLE_UPDATE", None)   # ignored by 2.16.0 anyway
    if path_prepend:
        e["PATH"] = os.pathsep.join(list(path_prepend) + [e.get("PATH", "")])
    start = time.monotonic()
    proc = subprocess.Popen([particle] + list(args), cwd=cwd, env=e,
                            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # particle and what it spawned
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return Result(None if timed_out else proc.returncode,
                  _ANSI.sub("", out), _ANSI.sub("", err),
                  time.monotonic() - start, timed_out)


def core_tty_record(serial="53ff6c066667574821362567", devname="ttyACM0",
                    sysfs="/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/tty"):
    """udev record (umockdev-record format) of a Core's CDC tty, for
    umockdev_testbed_add_from_string() or `umockdev-run -d FILE`.

    SUBSYSTEM=tty makes umockdev create /dev/<devname> as a pty whose master
    is umockdev_testbed_get_dev_fd(testbed, "/dev/<devname>"). particle reads
    ID_VENDOR_ID/ID_MODEL_ID (Core = 1d50/607d) and ID_SERIAL_SHORT (shown
    as the device id: its first 24-hex-digit run, else the whole string; a
    real Core's USB serial string is 12 hex digits). The N: name must match
    tty(S|WCH|ACM|USB|AMA|MFD|O|XRUSB) for @serialport/bindings to list it.
    """
    return (
        "P: %(sysfs)s/%(dev)s\n"
        "N: %(dev)s\n"
        "E: DEVNAME=/dev/%(dev)s\n"
        "E: SUBSYSTEM=tty\n"
        "E: MAJOR=166\n"
        "E: MINOR=0\n"
        "E: ID_BUS=usb\n"
        "E: ID_VENDOR=Spark_Devices\n"
        "E: ID_VENDOR_ENC=Spark\\x20Devices\n"
        "E: ID_VENDOR_ID=1d50\n"
        "E: ID_MODEL=Spark_Core_with_WiFi\n"
        "E: ID_MODEL_ID=607d\n"
        "E: ID_SERIAL=Spark_Devices_Spark_Core_with_WiFi_%(serial)s\n"
        "E: ID_SERIAL_SHORT=%(serial)s\n"
        "E: ID_USB_INTERFACE_NUM=00\n"
        "E: DEVLINKS=/dev/serial/by-id/usb-Spark_Devices_Spark_Core_with_WiFi_%(serial)s-if00\n"
        "A: dev=166:0\n"
    ) % {"sysfs": sysfs, "dev": devname, "serial": serial}


def umockdev_env(root_dir):
    """Environment that puts a process (and udevadm, which it spawns) into the
    umockdev testbed at root_dir (umockdev_testbed_get_root_dir())."""
    preload = os.environ.get("LD_PRELOAD")
    return {"UMOCKDEV_DIR": root_dir,
            "LD_PRELOAD": UMOCKDEV_PRELOAD + (" " + preload if preload else "")}


def write_dfu_util_logger(bindir, logfile, serial="8D7028785754"):
    """A stand-in `dfu-util` in bindir that appends its argv to logfile and
    claims one Core in DFU mode; uploads (-U) produce 0xFF bytes. For checking
    which dfu-util command lines particle builds, without any device."""
    os.makedirs(bindir, exist_ok=True)
    path = os.path.join(bindir, "dfu-util")
    with open(path, "w") as f:
        f.write("""#!/bin/sh
echo "dfu-util $*" >> '%(log)s'
case " $* " in *" -l "*)
    echo 'Found DFU: [1d50:607f] ver=0200, devnum=5, cfg=1, intf=0, path="1-1", alt=1, name="@SPI Flash : SST25x/0x00000000/512*04Kg", serial="%(serial)s"'
    echo 'Found DFU: [1d50:607f] ver=0200, devnum=5, cfg=1, intf=0, path="1-1", alt=0, name="@Internal Flash  /0x08000000/20*001Ka,108*001Kg", serial="%(serial)s"'
    exit 0;;
esac
up=; s=; prev=
for a in "$@"; do
    [ "$prev" = -U ] && up=$a
    [ "$prev" = -s ] && s=$a
    prev=$a
done
if [ -n "$up" ]; then
    n=${s#*:}; n=${n%%%%:*}
    head -c "$n" /dev/zero | tr '\\0' '\\377' > "$up"
fi
exit 0
""" % {"log": logfile, "serial": serial})
    os.chmod(path, 0o755)
    return path


if __name__ == "__main__":
    # python3 tests/clients/particle.py ARGS...: run particle once, as the tests do
    r = run_particle(sys.argv[1:], cwd=os.getcwd(), timeout=120)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    sys.exit(124 if r.timed_out else r.status)
