"""Degrade MOT ground truth into detections, track them with `aisle replay`, score the tracks.

Degradations (per sequence, seeded so every run prints the same table):
  jitter  each coordinate of a kept box moves by N(0, jitter * box height) pixels
  miss    each true box is dropped with this probability
  fp      false positives per frame (Poisson mean), person-shaped boxes anywhere in the frame
True boxes score U(0.55, 1.0); false positives U(0.3, 0.75), so some reach the tracker's
first stage as real detectors' do.

With --frames (the TUD-Campus JPEG frames), the real models also feed the tracker: `aisle detect`
on the frames, at each model's operating threshold and more, so the threshold is chosen on what
the tracker makes of it (tracks, counts) and not on single frames (docs/models.md).
"""

import argparse
import json
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


# (model folder, thresholds on the common calibrated scale); the first threshold is the
# manifest's operating one.
MODEL_RUNS = [
    ("nanodet-m-416", [0.35, 0.48]),
    ("movenet-multipose", [0.35]),
    ("centernet-mbv3", [0.35]),
]


def detected(aisle, frames, manifest, floor):
    """MOT rows of every person `aisle detect` finds in the frames, scoring at least `floor`."""
    run = subprocess.run([aisle, "detect", frames, "--model", manifest, "--threads", "2",
                          "--score", str(floor)], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"aisle detect failed ({run.returncode}): {run.stderr}")
    rows = []
    for line in run.stdout.splitlines():
        frame = json.loads(line)
        for d in frame["detections"]:
            if d["label"] == "person":
                x0, y0, x1, y1 = d["box"]
                rows.append((frame["frame"] + 1, x0, y0, x1 - x0, y1 - y0, d["score"]))
    return rows


def count_mae(gt, tracks):
    """Mean over annotated frames of |tracked people - annotated people|."""
    truth = gt.groupby(level=0).size()
    counted = tracks.groupby(level=0).size().reindex(truth.index, fill_value=0)
    return float((counted - truth).abs().mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--aisle", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--frames", help="TUD-Campus JPEG frames: also track the real models' boxes")
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
    if args.frames:
        models_table(args, host, data)
    return 0


def models_table(args, host, data):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    size, fps = SEQUENCES["TUD-Campus"]
    gt = mm.io.loadtxt(os.path.join(data, "TUD-Campus", "gt.txt"), fmt="mot15-2D",
                       min_confidence=-1)
    print()
    print("| model | threshold | MOTA | IDF1 | ID switches | recall | precision "
          "| count MAE (tracks) |")
    print("|---|---|---|---|---|---|---|---|")
    for model, thresholds in MODEL_RUNS:
        manifest = os.path.join(root, "models", model, "manifest.toml")
        rows = detected(args.aisle, args.frames, manifest, min(thresholds))
        for t in thresholds:
            dets = "".join(f"{f},-1,{x:.2f},{y:.2f},{w:.2f},{h:.2f},{sc:.3f}\n"
                           for f, x, y, w, h, sc in rows if sc >= t)
            with tempfile.TemporaryDirectory() as work:
                tracks = track(args.aisle, args.config, dets, size, fps, work)
            acc = mm.utils.compare_to_groundtruth(gt, tracks, "iou", distth=0.5)
            s = host.compute(acc, metrics=METRICS, name=model).iloc[0]
            print(f"| {model} | {t:.2f} | {s.mota:.3f} | {s.idf1:.3f} | {int(s.num_switches)} | "
                  f"{s.recall:.3f} | {s.precision:.3f} | {count_mae(gt, tracks):.2f} |")


if __name__ == "__main__":
    sys.exit(main())
