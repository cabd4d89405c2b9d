"""The Java runtime the local Kafka broker runs on: found and checked (17 or newer)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from infra.errors import ServiceError

__all__ = ["check_java", "java_major"]


def java_major(version_output: str) -> int:
    """The major version in ``java -version`` output (``1.8.0`` -> 8), 0 if none."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


@functools.lru_cache(maxsize=1)
def check_java() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` on PATH, after checking it is 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ServiceError("java not found: install a Java 17+ runtime (Debian: "
                           "apt-get install openjdk-17-jre-headless) or set KAFKA_BOOTSTRAP")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    major = java_major(out.stderr + out.stdout)
    if major < 17:
        raise ServiceError(f"the kafka broker needs java 17+, {java} is java {major}")
    return java
