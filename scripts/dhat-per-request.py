#!/usr/bin/env python3
"""Allocations per request from two DHAT runs of N and 2N requests.

usage: dhat-per-request.py PATH N TOP dhat.N.json dhat.2N.json

The second run minus the first, divided by N: what one request allocates,
with start-up and warm-up cancelled out. Call sites are grouped by their
first frames outside the standard library and the allocator.
"""
import collections
import json
import re
import sys

# Frames that say nothing about who asked for the memory.
PLUMBING = re.compile(
    r"^(alloc|alloc_impl|alloc_impl_runtime|allocate|allocate_in|try_allocate_in|do_alloc"
    r"|grow_amortized|grow_one|finish_grow|reserve|do_reserve_and_handle|reserve_rehash"
    r"|box_new_uninit|new_uninit|new_uninit_in|new_uninitialized|exchange_malloc"
    r"|with_capacity|with_capacity_in|with_capacity_zeroed|to_vec|to_vec_in|to_owned"
    r"|to_string|spec_to_string|clone|push|push_str|extend_from_slice|spec_extend"
    r"|append_elements|from_iter|collect|write_str|write_fmt|fmt|format|format_inner"
    r"|into_boxed_slice|new|new_in|from|into|UnknownInlinedFun|malloc|realloc|calloc"
    r"|posix_memalign|aligned_malloc|__rustc::__rdl_alloc|__rust_alloc)$"
)
FRAME = re.compile(r"0x[0-9A-Fa-f]+: (.*) \((?:in )?(.*?)\)$")


def strip_generics(name):
    while True:
        shorter = re.sub(r"<[^<>]*>", "", name)
        if shorter == name:
            return name
        name = shorter


def sites(path):
    """{stack: (blocks, bytes)} and the totals of one DHAT file."""
    data = json.load(open(path))
    table = data["ftbl"]
    out = collections.defaultdict(lambda: [0, 0])
    for pp in data["pps"]:
        stack = tuple(table[i] for i in pp["fs"])
        out[stack][0] += pp["tbk"]
        out[stack][1] += pp["tb"]
    return out


def label(stack, depth=3):
    names = []
    for frame in stack[1:]:
        m = FRAME.match(frame)
        if not m:
            continue
        name, where = m.group(1), m.group(2)
        if where.startswith("library/") or re.match(r"^<?(alloc|core|std)::", name):
            continue
        short = strip_generics(name)
        if PLUMBING.match(short.split("::")[-1]):
            continue
        line = where.rsplit("/", 1)[-1]
        names.append(f"{short[:70]} ({line})")
        if len(names) == depth:
            break
    return " <- ".join(names) or "(standard library only)"


def main():
    path, n, top, first, second = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    a, b = sites(first), sites(second)
    grouped = collections.defaultdict(lambda: [0.0, 0.0])
    blocks = sum(v[0] for v in b.values()) - sum(v[0] for v in a.values())
    size = sum(v[1] for v in b.values()) - sum(v[1] for v in a.values())
    for stack in set(a) | set(b):
        more = [b.get(stack, (0, 0))[i] - a.get(stack, (0, 0))[i] for i in (0, 1)]
        if more[0]:
            g = grouped[label(stack)]
            g[0] += more[0] / n
            g[1] += more[1] / n
    print(f"{path}: {blocks / n:.1f} allocations, {size / n:,.0f} bytes per request")
    ranked = sorted(grouped.items(), key=lambda kv: -kv[1][0])
    for name, (count, nbytes) in ranked[:top]:
        if count >= 0.05:
            print(f"  {count:5.2f} {nbytes:8,.0f} B  {name}")


if __name__ == "__main__":
    main()
