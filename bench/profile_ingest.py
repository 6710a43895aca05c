"""Where oracle_api's time goes while it ingests: py-spy samples it during bench_ingest.py's load.

    python bench/profile_ingest.py --spans 100000 --py-spy /path/to/py-spy

Prints the share of samples per thread and the functions with the most samples (self and
total). py-spy is not a dependency of the project: pass the path of one installed anywhere
(``pip install py-spy==0.4.3`` in any environment). Not a test.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import ROOT, build_requests, send_all  # noqa: E402 (bench/ on the path)

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import stack  # noqa: E402


def summarize(collapsed: Path, top: int) -> None:
    """Per-thread shares and the heaviest frames of py-spy's collapsed stacks ("frame;frame;... count")."""
    threads: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack_text.split(";")
        samples += count
        threads[frames[0]] += count
        own[frames[-1]] += count
        for frame in set(frames[1:]):
            total[frame] += count
    print(f"{samples} samples")
    for name, count in threads.most_common(8):
        print(f"  thread {100 * count / samples:5.1f}%  {name}")
    print("self:")
    for name, count in own.most_common(top):
        print(f"  {100 * count / samples:5.1f}%  {name}")
    print("total:")
    for name, count in total.most_common(top):
        print(f"  {100 * count / samples:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--per-request", type=int, default=512)
    parser.add_argument("--py-spy", required=True, help="path of a py-spy executable")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--gil", action="store_true", help="only samples of the thread holding the GIL")
    parser.add_argument("--subprocesses", action="store_true", help="the store's writer process too")
    args = parser.parse_args()
    requests, _ = build_requests(args.spans, args.per_request, 20)
    with tempfile.TemporaryDirectory(prefix="telemetron-profile-") as tmp:
        workdir = Path(tmp)
        config = stack.OracleApiConfig.on_free_ports(workdir / "bench.db", log_level="warning")
        oracle = stack.OracleApi(config, log_path=workdir / "oracle.log")
        oracle.start()
        try:
            pid = oracle.pid
            out = workdir / "profile.txt"
            spy = subprocess.Popen(
                [
                    args.py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--threads",
                    "--rate",
                    "200",
                    "--output",
                    str(out),
                    "--nonblocking",
                    *(["--gil"] if args.gil else []),
                    *(["--subprocesses"] if args.subprocesses else []),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # py-spy attaches
            elapsed = send_all(config.grpc_endpoint, requests, 4)
            spy.send_signal(2)
            spy.wait(timeout=60)
        finally:
            oracle.stop()
        print(f"{len(requests) * args.per_request / elapsed:,.0f} spans/s acknowledged while sampled")
        summarize(out, args.top)


if __name__ == "__main__":
    main()
