"""doc_commands.py - run the commands of a how-to in docs/ as a test, so the doc cannot rot.

    python3 doc_commands.py DOC.md SOURCE_ROOT BUILD_DIR

Every fenced block whose info string is `sh` runs, in order, in one bash process (`set -euo pipefail`), from
SOURCE_ROOT, so variables and the working directory carry over from block to block as in a reader's terminal.
`$PWD/build` in the doc means the build dir. A block tagged `sh real-bootloader` runs only when
SPARK_EMU_BOOTLOADER_1756C03 names the real 1756c03 bootloader.bin (local only: it is not in this repository);
blocks of any other kind (`console`, `text`) are output shown to the reader and are not run.

TMPDIR is a scratch directory removed afterwards (`mktemp -d` in the doc lands there). The first failing
command ends the test with the doc's line number of its block. The whole run is bounded (600 s)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

TIMEOUT = 600


def blocks(path):
    """(first line number, info string, text) of each fenced block."""
    out, cur = [], None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            m = re.match(r"^```(.*)$", line.rstrip("\n"))
            if m and cur is None:
                cur = (n + 1, m.group(1).strip(), [])
            elif m and cur is not None:
                out.append((cur[0], cur[1], "".join(cur[2])))
                cur = None
            elif cur is not None:
                cur[2].append(line)
    if cur is not None:
        sys.exit(f"{path}:{cur[0] - 1}: a fenced block is never closed")
    return out


def main():
    doc, root, build = sys.argv[1:4]
    real_bl = os.environ.get("SPARK_EMU_BOOTLOADER_1756C03")
    script = ["set -euo pipefail", "trap 'echo \"doc: FAILED in the block at $DOC_BLOCK (exit $?)\" >&2' ERR"]
    ran = skipped = 0
    for line, info, text in blocks(doc):
        if info == "sh real-bootloader" and not real_bl:
            print(f"{doc}:{line}: skipped (SPARK_EMU_BOOTLOADER_1756C03 is not set)")
            skipped += 1
            continue
        if info not in ("sh", "sh real-bootloader"):
            continue
        ran += 1
        text = text.replace("$PWD/build", build)
        script += [f"DOC_BLOCK='{os.path.basename(doc)}:{line}'", f"echo '=== {os.path.basename(doc)}:{line}'", text]
    if ran == 0:
        sys.exit(f"{doc}: no sh block to run")
    scratch = tempfile.mkdtemp(prefix="doc", dir="/tmp")
    env = dict(os.environ, TMPDIR=scratch)
    env.pop("SPARK_EMU_BOOTLOADER", None)  # the doc's Core starts from the project's boot ROM
    try:
        r = subprocess.run(["bash", "-c", "\n".join(script)], cwd=root, env=env, stdin=subprocess.DEVNULL,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        sys.exit(f"doc: {doc} did not finish within {TIMEOUT} s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if r.returncode != 0:
        sys.exit(r.returncode)
    print(f"doc: {ran} blocks of {doc} ran, {skipped} skipped")


if __name__ == "__main__":
    main()
