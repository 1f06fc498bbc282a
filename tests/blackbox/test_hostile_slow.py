#!/usr/bin/env python3
"""Quick hostile-client test against eddy-httpd: slowloris (headers one byte at a time), slow body, slow read, bodies held short of their end (body_hold).

The attacks live in tests/hostile/attacks.py; tests/hostile/run.py runs their long
versions. Each attack gets a fresh server on 127.0.0.1 and stops by itself.
"""
import os
import sys

ROOT = os.environ.get("EDDY_ROOT") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "hostile"))
from run import main_quick  # noqa: E402

main_quick(["slowloris", "slow_body", "slow_read", "body_hold"])
