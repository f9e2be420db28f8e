"""Instructions per message on the hot path, counted by valgrind (repeatable on a noisy machine).

    python -m bench.instructions --subscribers 10
    python -m bench.instructions --cluster --side publisher     # a clustered topic (bench.cluster_micro)

Runs ``bench.micro`` under ``valgrind --tool=callgrind`` with N and 2N messages and
reports the difference divided by N: start-up costs cancel out, and the figure is the same
from run to run whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile


def instructions(messages: int, extra: list[str], module: str = "bench.micro") -> int:
    with tempfile.TemporaryDirectory() as directory:
        result = subprocess.run(
            ["env", "PYTHONHASHSEED=0", "valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/out",
             sys.executable, "-m", module, "--messages", str(messages), *extra],
            capture_output=True, text=True, check=True,
        )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if not match:
        raise SystemExit(result.stderr[-2000:])
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--cluster", action="store_true", help="bench.cluster_micro instead of bench.micro")
    args, extra = parser.parse_known_args()
    module = "bench.cluster_micro" if args.cluster else "bench.micro"
    base = instructions(args.messages, extra, module)
    double = instructions(2 * args.messages, extra, module)
    if args.cluster:  # the setup (payloads made in advance, per message) does not count
        base -= instructions(args.messages, [*extra, "--setup-only"], module)
        double -= instructions(2 * args.messages, [*extra, "--setup-only"], module)
    per_message = (double - base) / args.messages
    print(f"{per_message:,.0f} instructions per message ({' '.join(extra) or 'defaults'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
