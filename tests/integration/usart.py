"""USART TX goes to the trace (kind uart) and --uart-rx feeds Serial1 (USART2) RX at the baud rate."""
import os
import sys
import tempfile
from sparktest import Run, check, ok

rx = os.path.join(tempfile.mkdtemp(), "rx.txt")
with open(rx, "w") as f:
    f.write("ping from the host\n")
run = Run(["--load", sys.argv[1], "--uart-rx", rx, "--run-for", "1s", "--timeout-status", "3"])
check("PASS usart_echo" in run.stdout, f"the ROM did not pass: {run.stdout}{run.stderr}")
lines = [(r["port"], r["text"]) for r in run.kind("uart")]
check(lines == [("USART2", "hello from USART2"), ("USART2", "PING FROM THE HOST")], f"uart records: {lines}")
t = [r["t_us"] for r in run.kind("uart")]
# 19 bytes in and 19 out at 115200 baud (86.8 us a frame): the echo comes no sooner than 3 ms after the greeting
check(t[1] - t[0] >= 3000, f"the bytes did not take their frame times: {t}")
ok(f"USART2 greeting at {t[0]} us, echo at {t[1]} us")
