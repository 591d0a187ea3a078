"""Degrade MOT ground truth into detections, track them with `aisle replay`, score the tracks.

Degradations (per sequence, seeded so every run prints the same table):
  jitter  each coordinate of a kept box moves by N(0, jitter * box height) pixels
  miss    each true box is dropped with this probability
  fp      false positives per frame (Poisson mean), person-shaped boxes anywhere in the frame
True boxes score U(0.55, 1.0); false positives U(0.3, 0.75), so some reach the tracker's
first stage as real detectors' do.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import motmetrics as mm
import numpy as np

SEQUENCES = {  # name: (frame size, fps), from the MOTChallenge 2015 seqinfo
    "TUD-Campus": ((640, 480), 25),
    "TUD-Stadtmitte": ((640, 480), 25),
}
LEVELS = [  # (label, jitter, miss, fp)
    ("perfect detections", 0.0, 0.0, 0.0),
    ("jitter 5 %, 20 % missed, 0.5 FP/frame", 0.05, 0.2, 0.5),
    ("jitter 10 %, 30 % missed, 1 FP/frame", 0.10, 0.3, 1.0),
]
METRICS = ["mota", "idf1", "num_switches", "recall", "precision", "num_objects"]


def degrade(gt, size, jitter, miss, fp, seed):
    rng = np.random.default_rng(seed)
    rows = []
    frames = gt.index.get_level_values(0)
    heights = gt["Height"].to_numpy()
    for (frame, _), box in gt.iterrows():
        if rng.random() < miss:
            continue
        x, y, w, h = box["X"], box["Y"], box["Width"], box["Height"]
        dx, dy, dw, dh = rng.normal(0.0, jitter * h, 4) if jitter else (0, 0, 0, 0)
        rows.append((frame, x + dx, y + dy, max(w + dw, 2.0), max(h + dh, 2.0), rng.uniform(0.55, 1.0)))
    for frame in range(1, int(frames.max()) + 1):
        for _ in range(rng.poisson(fp)):
            h = rng.uniform(heights.min(), heights.max())
            w = h * rng.uniform(0.3, 0.5)
            x, y = rng.uniform(0, size[0] - w), rng.uniform(0, size[1] - h)
            rows.append((frame, x, y, w, h, rng.uniform(0.3, 0.75)))
    rows.sort(key=lambda r: r[0])
    return "".join(f"{f},-1,{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.3f}\n" for f, x, y, w, h, s in rows)


def track(aisle, config, detections, size, fps, workdir):
    det_path = os.path.join(workdir, "det.txt")
    out_path = os.path.join(workdir, "tracks.txt")
    with open(det_path, "w") as f:
        f.write(detections)
    run = subprocess.run(
        [aisle, "replay", "--config", config, "--detections", det_path, "--fps", str(fps),
         "--size", f"{size[0]}x{size[1]}", "--emit-tracks", out_path],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    if run.returncode != 0:
        sys.exit(f"aisle replay failed ({run.returncode}): {run.stderr}")
    return mm.io.loadtxt(out_path, fmt="mot15-2D")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--aisle", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    data = os.path.join(os.path.dirname(mm.__file__), "data")
    host = mm.metrics.create()
    print("| sequence | detections fed to the tracker | MOTA | IDF1 | ID switches | recall | precision | true boxes |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (size, fps) in SEQUENCES.items():
        gt = mm.io.loadtxt(os.path.join(data, name, "gt.txt"), fmt="mot15-2D", min_confidence=-1)
        for label, jitter, miss, fp in LEVELS:
            with tempfile.TemporaryDirectory() as work:
                dets = degrade(gt, size, jitter, miss, fp, args.seed)
                tracks = track(args.aisle, args.config, dets, size, fps, work)
            acc = mm.utils.compare_to_groundtruth(gt, tracks, "iou", distth=0.5)
            s = host.compute(acc, metrics=METRICS, name=name).iloc[0]
            print(f"| {name} | {label} | {s.mota:.3f} | {s.idf1:.3f} | {int(s.num_switches)} | "
                  f"{s.recall:.3f} | {s.precision:.3f} | {int(s.num_objects)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
