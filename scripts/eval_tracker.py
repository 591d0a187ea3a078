"""aisle's tracker side by side with the reference trackers, on identical detections.

For every annotated real sequence at hand, the same detections go to `aisle replay --detections`
(the agent's tracker, zones and summaries, with its default settings) and to the reference
trackers from the `trackers` package (ByteTrack, the reference; OC-SORT and BoT-SORT for context,
each with its own defaults and the sequence's frame rate). Each is scored against the ground
truth; one Markdown table comes out (docs/evaluation.md).

Detections:
  model     the default person model's boxes on the sequence's frames (`aisle detect` at the
            floor the agent feeds its tracker), where the frames are at hand (TUD-Campus)
  perturbed the ground truth degraded with fixed seeds (every run prints the same table):
            jitter  each coordinate moves by N(0, jitter * box height) pixels
            miss    each true box is dropped with this probability
            fp      person-shaped false boxes per frame (Poisson mean), anywhere in the frame
            True boxes score U(0.55, 1.0), false ones U(0.3, 0.75), so some reach a tracker's
            first stage as real detectors' do.

Columns: MOTA, IDF1, ID switches, false positives and misses (py-motmetrics, IoU >= 0.5, or
AISLE_EVAL_IOU);
occupancy MAE: per 1 s window, |mean people counted - mean people annotated| averaged over the
windows, where a person counts when the foot point (bottom centre) of their box is in the frame.
For aisle it is read from the summaries a store receives (the area zone's `occupancy_mean`); for
the reference trackers from their tracks; "counting" is the detector's boxes at the operating
threshold counted frame by frame, the number a store would get without a tracker. Line counts:
the config's counting lines, from aisle's summaries, against the same lines run on the ground
truth tracks (`aisle replay --tracks`, the agent's own crossing rule).

--check fails (exit 1) when, on any row, aisle's MOTA or IDF1 is more than 0.01 below the
reference ByteTrack's, or, on a row with imperfect detections, aisle's occupancy MAE is not below
frame-by-frame counting's.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import warnings

import numpy as np

if not hasattr(np, "asfarray"):  # motmetrics 1.4.0 still calls it; NumPy 2 removed it
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)

import motmetrics as mm  # noqa: E402
import supervision as sv  # noqa: E402
from trackers import BoTSORTTracker, ByteTrackTracker, OCSORTTracker  # noqa: E402

SEQUENCES = {  # name: (frame size, fps), from the MOTChallenge 2015 seqinfo
    "TUD-Campus": ((640, 480), 25),
    "TUD-Stadtmitte": ((640, 480), 25),
}
LEVELS = [  # (label, jitter, miss, fp)
    ("perfect", 0.0, 0.0, 0.0),
    ("jitter 5 %, 20 % missed, 0.5 FP/frame", 0.05, 0.2, 0.5),
    ("jitter 10 %, 30 % missed, 1 FP/frame", 0.10, 0.3, 1.0),
]
REFERENCES = {
    "ByteTrack": lambda fps: ByteTrackTracker(frame_rate=fps),
    "OC-SORT": lambda fps: OCSORTTracker(frame_rate=fps),
    "BoT-SORT": lambda fps: BoTSORTTracker(frame_rate=fps, enable_cmc=False),
}
METRICS = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses"]
# Boxes at or above this count frame by frame for perturbed truth (its true boxes score 0.55-1).
PERTURBED_COUNT_SCORE = 0.5
TOLERANCE = 0.01
MATCH_IOU = float(os.environ.get("AISLE_EVAL_IOU", "0.5"))


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
    return rows


def mot_text(rows):
    return "".join(f"{f},-1,{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.3f}\n" for f, x, y, w, h, s in rows)


def replay(aisle, config, size, fps, workdir, detections=None, tracks=None):
    """Runs `aisle replay` on MOT detections (or tracks); returns (emitted tracks, events)."""
    inp = os.path.join(workdir, "in.txt")
    out_path = os.path.join(workdir, "tracks.txt")
    with open(inp, "w") as f:
        f.write(detections if detections is not None else tracks)
    cmd = [aisle, "replay", "--config", config, "--fps", str(fps), "--size", f"{size[0]}x{size[1]}"]
    if detections is not None:
        cmd += ["--detections", inp, "--emit-tracks", out_path]
    else:
        cmd += ["--tracks", inp]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"aisle replay failed ({run.returncode}): {run.stderr}")
    events = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    emitted = None
    if detections is not None:
        emitted = mm.io.loadtxt(out_path, fmt="mot15-2D") if os.path.getsize(out_path) else empty_tracks()
    return emitted, events


def empty_tracks():
    return mm.io.loadtxt(os.devnull, fmt="mot15-2D")


def reference_tracks(make, rows, fps, last_frame):
    """Tracks a reference tracker makes of the rows: the boxes it gives an id in each frame."""
    tracker = make(fps)
    by_frame = {}
    for f, x, y, w, h, s in rows:
        by_frame.setdefault(f, []).append((x, y, x + w, y + h, s))
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for frame in range(1, last_frame + 1):
            boxes = by_frame.get(frame, [])
            if boxes:
                arr = np.array(boxes, dtype=np.float64)
                dets = sv.Detections(xyxy=arr[:, :4], confidence=arr[:, 4],
                                     class_id=np.zeros(len(arr), dtype=int))
            else:
                dets = sv.Detections.empty()
            res = tracker.update(dets)
            for (x0, y0, x1, y1), tid in zip(res.xyxy, res.tracker_id):
                if tid >= 0:
                    out.append(f"{frame},{tid + 1},{x0:.2f},{y0:.2f},{x1 - x0:.2f},{y1 - y0:.2f},1,-1,-1,-1\n")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(out))
        path = f.name
    try:
        return mm.io.loadtxt(path, fmt="mot15-2D") if out else empty_tracks()
    finally:
        os.unlink(path)


def counts_per_frame(boxes, size, last_frame):
    """People per frame whose foot point is in the frame; boxes: iterable of (frame, x, y, w, h)."""
    n = np.zeros(last_frame + 1)
    for f, x, y, w, h in boxes:
        fx, fy = x + w / 2, y + h
        if 0 <= fx <= size[0] and 0 <= fy <= size[1] and 1 <= f <= last_frame:
            n[int(f)] += 1
    return n


def frame_boxes(df):
    return [(f, r["X"], r["Y"], r["Width"], r["Height"]) for (f, _), r in df.iterrows()]


def windows(per_frame, fps, last_frame):
    """Mean of per-frame counts in each 1 s window [k, k+1) of video time, frame 1 at 0 s."""
    out = {}
    for f in range(1, last_frame + 1):
        k = int((f - 1) // fps)
        out.setdefault(k, []).append(per_frame[f])
    return {k: float(np.mean(v)) for k, v in out.items()}


def mae(measured, truth):
    keys = sorted(truth)
    return float(np.mean([abs(measured.get(k, 0.0) - truth[k]) for k in keys]))


def summary_windows(events, zone):
    """occupancy_mean of `zone` per window start second, from aisle's summaries; the windows are
    1 s (eval-mot.toml). The truth of a window averages the frames inside it, so the partial last
    window is matched to the frames it spans."""
    out = {}
    for p in summaries(events):
        for z in p["zones"]:
            if z["zone"] == zone:
                out[p["window_start_ms"] // 1000] = z["occupancy_mean"]
    return out


def summaries(events):
    return [e["payload"] for e in events if e["payload"]["type"] == "summary"]


def line_counts(events):
    """(in, out) per line zone, summed over the summaries."""
    totals = {}
    for p in summaries(events):
        for z in p["zones"]:
            if z["kind"] == "line":
                a, b = totals.get(z["zone"], (0, 0))
                totals[z["zone"]] = (a + z["in"], b + z["out"])
    return totals


def score(host, gt, tracks, name):
    acc = mm.utils.compare_to_groundtruth(gt, tracks, "iou", distth=1.0 - MATCH_IOU)
    return host.compute(acc, metrics=METRICS, name=name).iloc[0]


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


def manifest_floor(manifest):
    """The manifest's operating threshold: what `aisle detect` and the agent's tracker get, and
    what counting boxes frame by frame counts."""
    with open(manifest, "rb") as f:
        out = tomllib.load(f)["output"]
    return out["score_threshold"]


def evaluate(args, host, name, gt, size, fps, label, rows, count_score, truth_lines):
    last = int(gt.index.get_level_values(0).max())
    truth = windows(counts_per_frame(frame_boxes(gt), size, last), fps, last)
    with tempfile.TemporaryDirectory() as work:
        tracks, events = replay(args.aisle, args.config, size, fps, work, detections=mot_text(rows))
    result = {"sequence": name, "detections": label, "trackers": {}}
    s = score(host, gt, tracks, "aisle")
    occ = mae(summary_windows(events, "frame"), truth)
    result["trackers"]["aisle"] = dict(s.to_dict(), occupancy_mae=occ)
    for ref, make in REFERENCES.items():
        t = reference_tracks(make, rows, fps, last)
        s = score(host, gt, t, ref)
        occ = mae(windows(counts_per_frame(frame_boxes(t), size, last), fps, last), truth)
        result["trackers"][ref] = dict(s.to_dict(), occupancy_mae=occ)
    counted = [(f, x, y, w, h) for f, x, y, w, h, sc in rows if sc >= count_score]
    result["counting_mae"] = mae(windows(counts_per_frame(counted, size, last), fps, last), truth)
    result["perfect"] = label == "perfect"
    result["lines"] = {z: (truth_lines[z], c) for z, c in line_counts(events).items()}
    return result


def table(results):
    print("| sequence | detections | tracker | MOTA | IDF1 | ID sw | FP | FN | occupancy MAE |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for name, s in r["trackers"].items():
            shown = f"**{name}**" if name == "aisle" else name
            print(f"| {r['sequence']} | {r['detections']} | {shown} | {s['mota']:.3f} | {s['idf1']:.3f} | "
                  f"{int(s['num_switches'])} | {int(s['num_false_positives'])} | {int(s['num_misses'])} | "
                  f"{s['occupancy_mae']:.2f} |")
        print(f"| {r['sequence']} | {r['detections']} | counting boxes | | | | | | {r['counting_mae']:.2f} |")
    print()
    print("| sequence | detections | line | in (truth → aisle) | out (truth → aisle) |")
    print("|---|---|---|---|---|")
    for r in results:
        for z, ((ti, to), (mi, mo)) in sorted(r["lines"].items()):
            print(f"| {r['sequence']} | {r['detections']} | {z} | {ti} → {mi} | {to} → {mo} |")


def failures(results):
    out = []
    for r in results:
        a, ref = r["trackers"]["aisle"], r["trackers"]["ByteTrack"]
        where = f"{r['sequence']}, {r['detections']}"
        for m in ("mota", "idf1"):
            if a[m] < ref[m] - TOLERANCE:
                out.append(f"{where}: aisle {m.upper()} {a[m]:.3f} < ByteTrack {ref[m]:.3f} - {TOLERANCE}")
        if not r["perfect"] and a["occupancy_mae"] >= r["counting_mae"]:
            out.append(f"{where}: aisle occupancy MAE {a['occupancy_mae']:.2f} is not below "
                       f"frame-by-frame counting's {r['counting_mae']:.2f}")
    return out


# (model folder, thresholds on the common calibrated scale); the first threshold is the
# manifest's operating one (docs/models.md, "Through the tracker").
MODEL_RUNS = [
    ("nanodet-m-416", "manifest-int8.toml", [0.35, 0.48]),
    ("nanodet-m-416", "manifest.toml", [0.35, 0.48]),
    ("movenet-multipose", "manifest.toml", [0.35]),
    ("centernet-mbv3", "manifest.toml", [0.35]),
]


def models_table(args, host, data, root):
    """aisle's tracker on each candidate model's boxes on TUD-Campus, at its thresholds."""
    size, fps = SEQUENCES["TUD-Campus"]
    gt = mm.io.loadtxt(os.path.join(data, "TUD-Campus", "gt.txt"), fmt="mot15-2D", min_confidence=-1)
    print()
    print("| model | threshold | MOTA | IDF1 | ID switches | FP | FN |")
    print("|---|---|---|---|---|---|---|")
    for model, manifest_file, thresholds in MODEL_RUNS:
        manifest = os.path.join(root, "models", model, manifest_file)
        name = model + (" int8" if "int8" in manifest_file else "")
        rows = detected(args.aisle, args.frames, manifest, min(thresholds))
        for t in thresholds:
            with tempfile.TemporaryDirectory() as work:
                tracks, _ = replay(args.aisle, args.config, size, fps, work,
                                   detections=mot_text(r for r in rows if r[5] >= t))
            s = score(host, gt, tracks, name)
            print(f"| {name} | {t:.2f} | {s.mota:.3f} | {s.idf1:.3f} | {int(s.num_switches)} | "
                  f"{int(s.num_false_positives)} | {int(s.num_misses)} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aisle", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--frames", help="TUD-Campus JPEG frames: also track the default model's boxes")
    ap.add_argument("--model", help="the person model's manifest (default: the int8 NanoDet-m 416)")
    ap.add_argument("--check", action="store_true", help="fail when aisle trails the reference")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = os.path.join(os.path.dirname(mm.__file__), "data")
    host = mm.metrics.create()
    results = []
    for name, (size, fps) in SEQUENCES.items():
        gt = mm.io.loadtxt(os.path.join(data, name, "gt.txt"), fmt="mot15-2D", min_confidence=-1)
        with tempfile.TemporaryDirectory() as work:
            gt_text = "".join(f"{f},{i},{r['X']:.2f},{r['Y']:.2f},{r['Width']:.2f},{r['Height']:.2f},1\n"
                              for (f, i), r in gt.iterrows())
            _, gt_events = replay(args.aisle, args.config, size, fps, work, tracks=gt_text)
        truth_lines = line_counts(gt_events)
        if args.frames and name == "TUD-Campus":
            manifest = args.model or os.path.join(root, "models", "nanodet-m-416", "manifest-int8.toml")
            floor = manifest_floor(manifest)
            rows = detected(args.aisle, args.frames, manifest, floor)
            int8 = " int8" if "int8" in os.path.basename(manifest) else ""
            label = f"{os.path.basename(os.path.dirname(manifest))}{int8} ≥ {floor:.2f}"
            results.append(evaluate(args, host, name, gt, size, fps, label, rows, floor, truth_lines))
        for label, jitter, miss, fp in LEVELS:
            rows = degrade(gt, size, jitter, miss, fp, args.seed)
            results.append(evaluate(args, host, name, gt, size, fps, label, rows,
                                    PERTURBED_COUNT_SCORE, truth_lines))
    table(results)
    if args.frames:
        models_table(args, host, data, root)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=float)
    bad = failures(results)
    for b in bad:
        print(f"eval-tracker: {b}", file=sys.stderr)
    if args.check and bad:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
