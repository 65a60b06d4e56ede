"""bench_s3.py — the mcloud S3 client against boto3, same run, same MinIO.

Measures multipart upload throughput (one object of --size-mib in parts of
--part-mib), ranged GET throughput (--ranges random ranges of --range-kib,
same offsets for every client) and one large sequential GET, for:

  mcloud            our client (mcloud-bench-s3): one connection, sequential
  boto3-seq         boto3 like for like: use_threads=False, UNSIGNED-PAYLOAD,
                    no extra checksums (what ours does)
  boto3-seq-default boto3 sequential with its defaults over http (sha256 of
                    every part for the signature, CRC32 checksums)
  boto3-threaded    boto3's threaded default (max_concurrency 10)

Each measurement is the median of --reps runs; ratios are ours / boto3
throughput. Prints a Markdown section for docs/BENCHMARKS.md.

usage (stack up, env loaded, driver built):
  eval "$(scripts/stack.sh env)"
  $MCLOUD_HOME/cache/venv/bin/python tests/bench/s3/bench_s3.py \
      --driver build/tests/bench/mcloud-bench-s3
"""

import argparse
import datetime
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MiB = 1024 * 1024


class RepeatingReader(io.RawIOBase):
    """A non-seekable stream of `size` bytes repeating one random block."""

    def __init__(self, block, size):
        self.block = memoryview(block)
        self.left = size
        self.pos = 0

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left, len(self.block) - self.pos)
        buf[:n] = self.block[self.pos:self.pos + n]
        self.pos = (self.pos + n) % len(self.block)
        self.left -= n
        return n


class NullWriter(io.RawIOBase):
    """Counts and drops what it is given. Seekable like a file, so boto3's
    threaded download writes parts in place instead of queueing them."""

    def __init__(self):
        self.bytes = 0
        self.pos = 0

    def writable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.pos = offset if whence == io.SEEK_SET else self.pos + offset
        return self.pos

    def tell(self):
        return self.pos

    def write(self, data):
        self.bytes += len(data)
        self.pos += len(data)
        return len(data)


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f'{name} is not set: eval "$(scripts/stack.sh env)" first')
    return value


def boto3_client(like_for_like):
    s3_options = {"addressing_style": "path"}
    extra = {}
    if like_for_like:
        s3_options["payload_signing_enabled"] = False
        extra = {"request_checksum_calculation": "when_required",
                 "response_checksum_validation": "when_required"}
    return boto3.client(
        "s3",
        endpoint_url=env("MCLOUD_S3_ENDPOINT"),
        region_name=os.environ.get("MCLOUD_S3_REGION", "us-east-1"),
        aws_access_key_id=env("MCLOUD_S3_ACCESS_KEY"),
        aws_secret_access_key=env("MCLOUD_S3_SECRET_KEY"),
        config=Config(signature_version="s3v4", s3=s3_options, **extra),
    )


def run_driver(driver, *args):
    out = subprocess.run([driver, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def mib_s(nbytes, seconds):
    return nbytes / MiB / seconds


class Bench:
    def __init__(self, args):
        self.args = args
        self.bucket = env("MCLOUD_S3_BUCKET")
        self.prefix = f"bench-s3/{uuid.uuid4().hex}"
        self.size = args.size_mib * MiB
        self.part = args.part_mib * MiB
        self.block = random.Random(1).randbytes(16 * MiB)
        self.clients = {"boto3-seq": boto3_client(True),
                        "boto3-seq-default": boto3_client(False),
                        "boto3-threaded": boto3_client(False)}
        self.transfer = {
            "boto3-seq": TransferConfig(multipart_threshold=self.part, multipart_chunksize=self.part,
                                        use_threads=False),
            "boto3-seq-default": TransferConfig(multipart_threshold=self.part,
                                                multipart_chunksize=self.part, use_threads=False),
            "boto3-threaded": TransferConfig(multipart_threshold=self.part,
                                             multipart_chunksize=self.part),
        }
        self.results = {}  # (client, op) -> [MiB/s]

    def record(self, client, op, value):
        self.results.setdefault((client, op), []).append(value)

    # -- uploads --
    def upload(self, rep):
        key = f"{self.prefix}/upload-mcloud-{rep}"
        r = run_driver(self.args.driver, "upload", key, self.size, self.part)
        self.record("mcloud", "upload", mib_s(r["bytes"], r["seconds"]))
        run_driver(self.args.driver, "delete", key)
        for name, client in self.clients.items():
            key = f"{self.prefix}/upload-{name}-{rep}"
            t0 = time.perf_counter()
            client.upload_fileobj(RepeatingReader(self.block, self.size), self.bucket, key,
                                  Config=self.transfer[name])
            self.record(name, "upload", mib_s(self.size, time.perf_counter() - t0))
            client.delete_object(Bucket=self.bucket, Key=key)

    # -- downloads, all from the same object --
    def downloads(self, key, offsets_file, offsets):
        span = self.args.range_kib * 1024
        r = run_driver(self.args.driver, "ranged", key, span, offsets_file)
        assert r["bytes"] == span * len(offsets)
        self.record("mcloud", "ranged", mib_s(r["bytes"], r["seconds"]))
        r = run_driver(self.args.driver, "get", key)
        assert r["bytes"] == self.size
        self.record("mcloud", "get", mib_s(r["bytes"], r["seconds"]))

        for name in ("boto3-seq", "boto3-seq-default"):
            client = self.clients[name]
            t0 = time.perf_counter()
            got = 0
            for off in offsets:
                body = client.get_object(Bucket=self.bucket, Key=key,
                                         Range=f"bytes={off}-{off + span - 1}")["Body"]
                got += len(body.read())
            assert got == span * len(offsets)
            self.record(name, "ranged", mib_s(got, time.perf_counter() - t0))

            t0 = time.perf_counter()
            body = client.get_object(Bucket=self.bucket, Key=key)["Body"]
            got = sum(len(chunk) for chunk in body.iter_chunks(256 * 1024))
            assert got == self.size
            self.record(name, "get", mib_s(got, time.perf_counter() - t0))

        sink = NullWriter()
        t0 = time.perf_counter()
        self.clients["boto3-threaded"].download_fileobj(self.bucket, key, sink,
                                                        Config=self.transfer["boto3-threaded"])
        assert sink.bytes == self.size
        self.record("boto3-threaded", "get", mib_s(sink.bytes, time.perf_counter() - t0))

    def run(self):
        for rep in range(self.args.reps):
            print(f"rep {rep + 1}/{self.args.reps}: uploads", file=sys.stderr)
            self.upload(rep)
        key = f"{self.prefix}/download-source"
        run_driver(self.args.driver, "upload", key, self.size, self.part)
        span = self.args.range_kib * 1024
        rng = random.Random(2)
        offsets = [rng.randrange(0, self.size - span) for _ in range(self.args.ranges)]
        with tempfile.NamedTemporaryFile("w", suffix=".offsets") as f:
            f.write("\n".join(map(str, offsets)) + "\n")
            f.flush()
            for rep in range(self.args.reps):
                print(f"rep {rep + 1}/{self.args.reps}: downloads", file=sys.stderr)
                self.downloads(key, f.name, offsets)
        run_driver(self.args.driver, "delete", key)

    def median(self, client, op):
        values = self.results.get((client, op))
        return statistics.median(values) if values else None

    def markdown(self):
        a = self.args
        ops = [("upload", f"multipart upload, {a.size_mib} MiB in {a.part_mib} MiB parts"),
               ("ranged", f"ranged GET, {a.ranges} x {a.range_kib} KiB at random offsets"),
               ("get", f"sequential GET of the {a.size_mib} MiB object")]
        clients = ["mcloud", "boto3-seq", "boto3-seq-default", "boto3-threaded"]
        lines = ["| operation | " + " | ".join(clients) +
                 " | ours / boto3-seq | ours / boto3-seq-default | ours / boto3-threaded |",
                 "|---" * (len(clients) + 4) + "|"]
        for op, label in ops:
            ours = self.median("mcloud", op)
            cells = []
            for c in clients:
                v = self.median(c, op)
                cells.append(f"{v:.0f} MiB/s" if v else "—")
            ratios = []
            for c in clients[1:]:
                v = self.median(c, op)
                ratios.append(f"{ours / v:.2f}" if v else "—")
            lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
        return "\n".join(lines)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return (f"{cpu}, {os.cpu_count()} vCPU, {mem_kib // (1024 * 1024)} GiB RAM, "
            f"Linux {platform.release()}, Python {platform.python_version()}, "
            f"boto3 {boto3.__version__}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--driver", required=True, help="path to the mcloud-bench-s3 binary")
    p.add_argument("--size-mib", type=int, default=512)
    p.add_argument("--part-mib", type=int, default=16)
    p.add_argument("--ranges", type=int, default=200)
    p.add_argument("--range-kib", type=int, default=1024)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    bench = Bench(args)
    bench.run()
    print(f"Date: {datetime.date.today().isoformat()}  ")
    print(f"Machine: {machine()}  ")
    print(f"Server: MinIO at {env('MCLOUD_S3_ENDPOINT')} (scripts/stack.sh), same host  ")
    print(f"Median of {args.reps} runs, MiB/s; ratio = mcloud / boto3 throughput.\n")
    print(bench.markdown())


if __name__ == "__main__":
    main()
