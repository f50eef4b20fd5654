#!/usr/bin/env python3
"""Where a thread group's CPU goes, from a perf profile with call stacks (standard library only).

    perf record -F 299 --call-graph dwarf,32768 -o proxy.perf -- proxy_bench 3 32 2
    perf script -i proxy.perf --comm ward -F comm,ip,sym --no-inline > ward.script
    bench/perf_share.py ward.script

Each sample goes to the innermost frame that names one of the parts below (the first match
from the leaf up), and to the kernel when its stack passes through a system call or an
interrupt. Prints the share of samples per (kernel|user, part). See docs/benchmarks.md,
"Where ward's proxy time goes".
"""
import collections
import sys

PARTS = [
    ("request log", ["tracing_subscriber", "tracing_core", "log_requests", "format_inner"]),
    ("authentication", ["ward_server::auth", "sha2", "api_token"]),
    ("proxy headers", ["identity_headers", "sanitize_request", "set_forwarding", "upstream_url",
                       "remove_hop"]),
    ("path normalisation", ["ward_server::edge::", "ward_core::path"]),
    ("metrics", ["prometheus"]),
    ("timer", ["tokio::time"]),
    ("hyper client", ["hyper_util::client", "hyper::client", "role::Client", "dispatch::Client"]),
    ("axum/tower layers", ["from_fn", "set_header", "catch_panic", "Router", "MapFuture",
                           "Oneshot"]),
    ("hyper server", ["role::Server", "dispatch::Server", "hyper_util::server"]),
    ("scheduler", ["tokio::runtime"]),
]
KERNEL = ["entry_SYSCALL", "asm_exc", "asm_sysvec", "asm_common_interrupt"]


def main(path):
    shares = collections.Counter()
    total = 0
    for sample in open(path).read().split("\n\n"):
        lines = [line.strip() for line in sample.strip().split("\n") if line.strip()]
        if len(lines) < 2:
            continue
        total += 1
        frames = [line.split(" ", 1)[1] if " " in line else line for line in lines[1:]]
        kernel = any(k in " ".join(frames) for k in KERNEL)
        part = "other"
        for frame in frames:
            hit = next((name for name, keys in PARTS if any(k in frame for k in keys)), None)
            if hit:
                part = hit
                break
        shares[("kernel" if kernel else "user", part)] += 1
    print(f"{total} samples")
    for (where, part), n in shares.most_common():
        print(f"{100 * n / max(total, 1):5.1f} %  {where:6}  {part}")


if __name__ == "__main__":
    main(sys.argv[1])
