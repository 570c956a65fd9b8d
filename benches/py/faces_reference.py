#!/usr/bin/env python3
"""Reference timings for `cargo bench -p gatelab-benches --bench faces`, one thread each.

  faces_reference.py embed MODEL INPUT.bin RUNS      -> {"median_ms": ...}
      Python onnxruntime on the same aligned 1x3x112x112 float32 input.
  faces_reference.py faiss GALLERY.bin N DIM PROBES.bin M ROUNDS
      -> {"flat_ms": ..., "sq8_ms": ...} per probe, top-10 inner product:
      faiss IndexFlatIP and IndexScalarQuantizer(QT_8bit), on the same unit vectors.
"""
import json
import sys
import time

import numpy as np


def embed(model, path, runs):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    x = np.fromfile(path, dtype="<f4").reshape(1, 3, 112, 112)
    name = s.get_inputs()[0].name
    for _ in range(10):
        s.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, {name: x})
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": float(np.median(times))}


def faiss_search(gallery, n, dim, probes, m, rounds):
    import faiss
    faiss.omp_set_num_threads(1)
    g = np.fromfile(gallery, dtype="<f4").reshape(n, dim)
    q = np.fromfile(probes, dtype="<f4").reshape(m, dim)
    flat = faiss.IndexFlatIP(dim)
    flat.add(g)
    sq = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    sq.train(g)
    sq.add(g)
    out = {}
    for key, index in (("flat_ms", flat), ("sq8_ms", sq)):
        index.search(q[:1], 10)
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            for i in range(m):
                index.search(q[i:i + 1], 10)
            best = min(best, (time.perf_counter() - t) * 1000 / m)
        out[key] = best
    return out


if __name__ == "__main__":
    if sys.argv[1] == "embed":
        print(json.dumps(embed(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        a = sys.argv
        print(json.dumps(faiss_search(a[2], int(a[3]), int(a[4]), a[5], int(a[6]), int(a[7]))))
