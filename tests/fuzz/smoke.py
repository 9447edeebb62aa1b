"""smoke.py FUZZER SEED_DIR SECONDS - run one libFuzzer target briefly from its seed corpus.

New inputs go to a temporary directory, never into the tree; a crash, leak, timeout or sanitizer
report fails the test and prints the input that caused it (as hex), so the failure can be replayed
with `FUZZER FILE`."""
import glob
import os
import re
import subprocess
import sys
import tempfile

fuzzer, seeds, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
work = tempfile.mkdtemp(prefix="spark-emu-fuzz-")
corpus = os.path.join(work, "corpus")
os.mkdir(corpus)
env = dict(os.environ)
env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
cmd = [fuzzer, f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
       f"-artifact_prefix={work}/", "-print_final_stats=1", corpus, seeds]
dictionary = seeds.rstrip("/") + ".dict"
if os.path.exists(dictionary):
    cmd.insert(1, f"-dict={dictionary}")
p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env,
                   timeout=seconds + 60)
log = p.stderr
runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
summary = (f"{os.path.basename(fuzzer)}: {runs.group(1) if runs else '?'} executions in {seconds} s, "
           f"coverage {cov[-1][0] if cov else '?'} edges, {cov[-1][1] if cov else '?'} features, "
           f"corpus {len(os.listdir(corpus))} new inputs")
if p.returncode != 0:
    print(log[-6000:])
    for path in glob.glob(os.path.join(work, "*-*")):
        if os.path.isfile(path):
            print(f"{os.path.basename(path)}: {open(path, 'rb').read()[:512].hex()}")
    print(f"FAIL: {summary}; exit status {p.returncode} (artifacts in {work})")
    sys.exit(1)
print(f"PASS: {summary}")
