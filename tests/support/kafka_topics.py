"""kafka_topics.py — how a Python test deletes the Kafka topics it created
for itself (through mcloud-test-kafka-topics, common/kafka_admin), so the
stack's broker does not carry every earlier run's partitions into its next
restart. The tool's path: $MCLOUD_TEST_KAFKA_TOPICS (set by ctest), else
BUILD_DIR/tests/mcloud-test-kafka-topics."""

import os
import subprocess


def tool_path(build_dir=None):
    path = os.environ.get("MCLOUD_TEST_KAFKA_TOPICS")
    if not path and build_dir:
        path = os.path.join(build_dir, "tests", "mcloud-test-kafka-topics")
    return path


def delete_topics(topics, build_dir=None):
    """Deletes topics (a missing one is fine); None when done, else the problem."""
    path = tool_path(build_dir)
    if not path or not os.access(path, os.X_OK):
        return (f"cannot delete the test's Kafka topics {', '.join(topics)}: mcloud-test-kafka-topics not found "
                f"({path or 'set MCLOUD_TEST_KAFKA_TOPICS'}; build the tree's tests)")
    try:
        r = subprocess.run([path, "delete", *topics], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return f"deleting Kafka topics {', '.join(topics)}: no answer in 120 s"
    return None if r.returncode == 0 else f"deleting Kafka topics: {r.stderr.strip()}"
