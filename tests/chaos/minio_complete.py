"""minio_complete.py — how MinIO's CompleteMultipartUpload survives a SIGKILL:
a private MinIO (the stack's binary, its own ports and data directory) gets N
one-part multipart uploads (483712 bytes, the size chaos.short lost); each
CompleteMultipartUpload is sent and MinIO is killed a random 0..--max-ms
later, then restarted. Afterwards each upload is one of:

  object      the Complete went through (the object is whole)
  intact      the Complete never started (the upload lists its part)
  lost        neither: no object, and the upload lists 0 parts or is gone

"lost" is the storage's own loss: MinIO deletes every part's part.N.meta
before it moves the data into place (cmd/erasure-multipart.go), and
ListParts and a second Complete read those files. mcloud-upload therefore
keeps an upload that fits in one part out of multipart altogether (the
staged tail is copied to the source key: upload/store.c). Run outside CI:

  scripts/stack.sh env > /dev/null   # the MinIO binary comes from bootstrap
  ~/.mcloud/cache/venv/bin/python tests/chaos/minio_complete.py --runs 60 --max-ms 30

Exit status 0 whatever the counts (it measures MinIO, not mcloud); the
counts and the load average are printed. Everything it starts is stopped
and its data directory removed, also on failure."""

import argparse
import collections
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def minio_binary():
    """The MinIO the bootstrap built: scripts/lib.sh's $MINIO_BIN (the pinned
    version, under $MCLOUD_CACHE), asked of lib.sh itself so the two never differ."""
    path = subprocess.run(["bash", "-c", '. "$1" >/dev/null && printf %s "$MINIO_BIN"', "lib.sh",
                           os.path.join(ROOT, "scripts", "lib.sh")],
                          check=True, capture_output=True, text=True).stdout
    if not os.access(path, os.X_OK):
        sys.exit(f"FAIL - no MinIO at {path} (scripts/lib.sh MINIO_BIN): run scripts/bootstrap.sh (it builds MinIO)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MinIO:
    def __init__(self, binary, data, log):
        self.binary, self.data, self.log = binary, data, log
        self.port, self.console = free_port(), free_port()
        self.proc = None

    def start(self):
        env = {**os.environ, "MINIO_ROOT_USER": "minio-complete", "MINIO_ROOT_PASSWORD": "minio-complete-secret",
               "MINIO_UPDATE": "off", "MINIO_BROWSER": "off"}
        self.proc = subprocess.Popen([self.binary, "server", "--address", f"127.0.0.1:{self.port}",
                                      "--console-address", f"127.0.0.1:{self.console}", self.data],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"FAIL - MinIO exited ({self.proc.returncode}); log: {self.log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/minio/health/ready", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        sys.exit(f"FAIL - MinIO not ready in 60 s; log: {self.log.name}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def outcome(s3, bucket, key, upload_id, size):
    try:
        return "object" if s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == size else "lost"
    except s3.exceptions.ClientError:
        pass
    try:
        parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
        return "intact" if len(parts) == 1 else "lost"
    except s3.exceptions.ClientError:
        return "lost"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--max-ms", type=float, default=30.0, help="the kill lands 0..this many ms after Complete is sent")
    ap.add_argument("--size", type=int, default=483712)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mcloud-minio-complete-")
    log = open(os.path.join(work, "minio.log"), "ab")
    m = MinIO(minio_binary(), os.path.join(work, "data"), log)
    try:
        m.start()
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{m.port}", region_name="us-east-1",
                          aws_access_key_id="minio-complete", aws_secret_access_key="minio-complete-secret",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10))
        bucket = "minio-complete"
        s3.create_bucket(Bucket=bucket)
        body = os.urandom(args.size)
        counts = collections.Counter()
        for i in range(args.runs):
            key = f"sources/local/v{i}/source"
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=body)["ETag"]

            def complete():
                try:
                    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                 MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
                except Exception:  # noqa: BLE001 (the kill cuts it: any error is expected)
                    pass

            t = threading.Thread(target=complete)
            t.start()
            time.sleep(random.uniform(0, args.max_ms / 1000))
            m.kill()
            t.join()
            m.start()
            counts[outcome(s3, bucket, key, upload_id, args.size)] += 1
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"MinIO {os.path.basename(os.path.dirname(os.path.dirname(m.binary)))}: {args.runs} one-part "
              f"CompleteMultipartUpload calls, SIGKILL 0..{args.max_ms:g} ms after each was sent: "
              f"object {counts['object']}, intact {counts['intact']}, lost {counts['lost']}; load average {load}")
    finally:
        m.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
