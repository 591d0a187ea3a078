"""aisle's tracker side by side with the reference ByteTrack, on identical detections of every
annotated real sequence at hand.

Sequences: TUD-Campus and TUD-Stadtmitte (the ground truth py-motmetrics ships), and MOT16-02,
MOT16-04 and Venice-2 (../shared/data/mot-lines: ground truth only, and Venice-2's published
Faster R-CNN boxes). Every row is one sequence with one set of detections:

  real      the default person model's boxes on TUD-Campus's frames (`aisle detect`, every box
            from 0.1), and Venice-2's published detections (scores 0.50-1.00)
  perturbed the ground truth degraded with fixed seeds (every run prints the same table):
            jitter  each coordinate moves by N(0, jitter * box height) pixels
            miss    each true box is dropped with this probability, and more often when the
                    annotation says less than a quarter of the person is visible, always when
                    none is (MOT16 gives visibility; the others count as fully visible)
            fp      person-shaped false boxes per frame (Poisson mean), scoring U(0.3, 0.75)
            weak    more false boxes per frame, scoring U(0.1, 0.4): a real detector's noise floor
            A true box scores U(0.5, 1.0), or U(0.1, 0.5) when it is one of the 15 % a detector
            is unsure of or less than a quarter visible: the boxes ByteTrack's second stage is
            for.

At each input cut of a small sweep both trackers get the identical boxes (those scoring at least
the cut). aisle runs with the agent's default settings through `aisle replay --detections` (its
tracker, zones and summaries); ByteTrack (`trackers` from PyPI) with its defaults and with each
setting of BYTETRACK_GRID. A row shows aisle at the operating cut (what the agent feeds its
tracker), aisle at its best cut, ByteTrack at its defaults and operating cut, and ByteTrack at its
best cut and setting (the best MOTA and the best IDF1 are taken separately, each from its own
cut and setting).

Columns: MOTA, IDF1, ID switches, false positives and misses (py-motmetrics, IoU >= 0.5, or
AISLE_EVAL_IOU); occupancy MAE: per 1 s window, |mean people counted - mean people annotated|
averaged over the windows, where a person counts when the foot point (bottom centre) of their box
is in the frame. For aisle it is read from the summaries a store receives (the area zone's
`occupancy_mean`); for ByteTrack from its tracks; "counting boxes" is the detections counted
frame by frame at the operating cut, and at the best cut of the sweep. Line counts: the config's
counting lines, from aisle's summaries, against the same lines run on the ground truth tracks
(`aisle replay --tracks`, the agent's own crossing rule).

--check fails (exit 1) when, on any row, aisle's best MOTA or IDF1 is more than 0.01 below
ByteTrack's best; when, on a row with imperfect detections, aisle's occupancy MAE is not below
counting boxes at the operating cut; or when, on a row of real detections, it is not below
counting boxes at their best cut (an oracle: the cut is chosen on the truth). --check-lines also fails when the line counts of the rows in
LINE_ROWS miss the marks of LINE_TOTAL and LINE_EACH (not met yet: docs/evaluation.md).
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import warnings
from dataclasses import dataclass, field

import numpy as np

if not hasattr(np, "asfarray"):  # motmetrics 1.4.0 still calls it; NumPy 2 removed it
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)

import motmetrics as mm  # noqa: E402
import supervision as sv  # noqa: E402
from trackers import ByteTrackTracker  # noqa: E402

# name: (frame size, fps, the config's camera, where the ground truth is, its format)
SEQUENCES = {
    "TUD-Campus": ((640, 480), 25, "tud", "motmetrics", "mot15-2D"),
    "TUD-Stadtmitte": ((640, 480), 25, "tud", "motmetrics", "mot15-2D"),
    "MOT16-02": ((1920, 1080), 30, "mot16-02", "mot-lines", "mot16"),
    "MOT16-04": ((1920, 1080), 30, "mot16-04", "mot-lines", "mot16"),
    "Venice-2": ((1920, 1080), 30, "venice-2", "mot-lines", "mot15-2D"),
}
PERFECT = "perfect"
LEVELS = [  # (label, jitter, miss, fp, weak fp)
    (PERFECT, 0.0, 0.0, 0.0, 0.0),
    ("jitter 5 %, 20 % missed, 0.5 + 1 weak FP/frame", 0.05, 0.2, 0.5, 1.0),
    ("jitter 10 %, 30 % missed, 1 + 2 weak FP/frame", 0.10, 0.3, 1.0, 2.0),
]
WEAK_TRUE = 0.15
# Below this share visible (MOT16's annotation says), a true box is weak and likely missed.
HIDDEN = 0.25
# Input cuts of the sweep; the operating cut is the floor the agent feeds its tracker (the
# model's manifest threshold; 0.5 for perturbed truth and Venice-2's boxes, whose floor it is).
PERTURBED_CUTS = [0.1, 0.3, 0.5]
PERTURBED_OPERATING = 0.5
MODEL_CUTS = [0.1, 0.3]
VENICE_CUTS = [0.5, 0.7]
# Settings of ByteTrack's documented parameters its best is taken from; the first is its defaults.
BYTETRACK_GRID = [
    {},
    {"track_activation_threshold": 0.5, "high_conf_det_threshold": 0.5},
    {"minimum_iou_threshold": 0.3},
    {"track_activation_threshold": 0.5, "high_conf_det_threshold": 0.5, "minimum_iou_threshold": 0.3},
    {"lost_track_buffer": 60},
]
METRICS = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses"]
TOLERANCE = 0.01
MATCH_IOU = float(os.environ.get("AISLE_EVAL_IOU", "0.5"))
# Line counts are held to a mark on the real detections and the milder perturbation: summed over
# every line and direction the error is within LINE_TOTAL of the true crossings, and no
# line-direction with at least LINE_MIN_TRUE true crossings is off by more than LINE_EACH.
LINE_ROWS = ("real", LEVELS[1][0])
LINE_TOTAL = 0.10
LINE_EACH = 0.15
LINE_MIN_TRUE = 10


@dataclass
class Sequence:
    size: tuple
    fps: int
    camera: str
    gt: object  # motmetrics ground-truth frame, pedestrians only
    visibility: np.ndarray  # per ground-truth row, 1.0 where the annotation does not say
    last: int = 0
    truth_windows: dict = field(default_factory=dict)
    truth_lines: dict = field(default_factory=dict)


@dataclass
class Row:
    seq: str
    label: str
    kind: str  # "real", "perfect" or "perturbed"
    rows: list  # (frame, x, y, w, h, score)
    operating: float
    cuts: list


def load_sequence(name, data):
    size, fps, camera, where, fmt = SEQUENCES[name]
    if where == "motmetrics":
        path = os.path.join(os.path.dirname(mm.__file__), "data", name, "gt.txt")
    else:
        path = os.path.join(data, "mot-lines", name, "gt.txt")
    gt = mm.io.loadtxt(path, fmt=fmt, min_confidence=-1)
    if fmt == "mot16":
        gt = gt[(gt["Confidence"] == 1) & (gt["ClassId"] == 1)]
        vis = gt["Visibility"].to_numpy(dtype=float)
    else:
        vis = np.ones(len(gt))
    last = int(gt.index.get_level_values(0).max())
    seq = Sequence(size, fps, camera, gt, vis, last)
    seq.truth_windows = occupancy_windows(seq, frame_boxes(gt))
    return seq


def degrade(seq, jitter, miss, fp, weak, seed):
    rng = np.random.default_rng(seed)
    gt, size = seq.gt, seq.size
    rows = []
    heights = gt["Height"].to_numpy()
    for ((frame, _), box), vis in zip(gt.iterrows(), seq.visibility):
        hidden = max(0.0, HIDDEN - vis) / HIDDEN if miss else 0.0  # 1 when nothing is seen
        if rng.random() < miss + (1.0 - miss) * hidden:
            continue
        x, y, w, h = box["X"], box["Y"], box["Width"], box["Height"]
        dx, dy, dw, dh = rng.normal(0.0, jitter * h, 4) if jitter else (0, 0, 0, 0)
        unsure = jitter and (rng.random() < WEAK_TRUE or vis < HIDDEN)
        s = rng.uniform(0.1, 0.5) if unsure else (rng.uniform(0.5, 1.0) if jitter else 1.0)
        rows.append((frame, x + dx, y + dy, max(w + dw, 2.0), max(h + dh, 2.0), s))
    for frame in range(1, seq.last + 1):
        for n, lo, hi in ((rng.poisson(fp), 0.3, 0.75), (rng.poisson(weak), 0.1, 0.4)):
            for _ in range(n):
                h = rng.uniform(np.percentile(heights, 5), np.percentile(heights, 95))
                w = h * rng.uniform(0.3, 0.5)
                x, y = rng.uniform(0, size[0] - w), rng.uniform(0, size[1] - h)
                rows.append((frame, x, y, w, h, rng.uniform(lo, hi)))
    rows.sort(key=lambda r: r[0])
    return rows


def mot_text(rows):
    return "".join(f"{f},-1,{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.3f}\n" for f, x, y, w, h, s in rows)


def replay(aisle, config, size, fps, workdir, detections=None, tracks=None, camera=None):
    """Runs `aisle replay` on MOT detections (or tracks); returns (emitted tracks, events)."""
    inp = os.path.join(workdir, "in.txt")
    out_path = os.path.join(workdir, "tracks.txt")
    with open(inp, "w") as f:
        f.write(detections if detections is not None else tracks)
    cmd = [aisle, "replay", "--config", config, "--fps", str(fps), "--size", f"{size[0]}x{size[1]}"]
    if camera:
        cmd += ["--camera", camera]
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


def bytetrack_tracks(settings, rows, fps, last_frame):
    """The boxes ByteTrack gives an id in each frame, as a motmetrics frame."""
    tracker = ByteTrackTracker(frame_rate=fps, **settings)
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
    """People per frame whose foot point is in the frame; boxes: an (n, 5) array of
    (frame, x, y, w, h)."""
    b = np.asarray(boxes, dtype=float).reshape(-1, 5)
    fx, fy, f = b[:, 1] + b[:, 3] / 2, b[:, 2] + b[:, 4], b[:, 0]
    inside = (fx >= 0) & (fx <= size[0]) & (fy >= 0) & (fy <= size[1]) & (f >= 1) & (f <= last_frame)
    return np.bincount(f[inside].astype(int), minlength=last_frame + 1).astype(float)


def frame_boxes(df):
    """A motmetrics frame's boxes as (frame, x, y, w, h) rows."""
    frames = df.index.get_level_values(0).to_numpy(dtype=float)
    return np.column_stack([frames, df[["X", "Y", "Width", "Height"]].to_numpy(dtype=float)])


def windows(per_frame, fps, last_frame):
    """Mean of per-frame counts in each 1 s window [k, k+1) of video time, frame 1 at 0 s."""
    out = {}
    for f in range(1, last_frame + 1):
        k = int((f - 1) // fps)
        out.setdefault(k, []).append(per_frame[f])
    return {k: float(np.mean(v)) for k, v in out.items()}


def occupancy_windows(seq, boxes):
    """People in the frame per 1 s window of the sequence, from (frame, x, y, w, h) boxes."""
    return windows(counts_per_frame(boxes, seq.size, seq.last), seq.fps, seq.last)


def mae(measured, truth):
    keys = sorted(truth)
    return float(np.mean([abs(measured.get(k, 0.0) - truth[k]) for k in keys]))


def summary_windows(events, zone):
    """occupancy_mean of `zone` per window start second, from aisle's summaries; the windows are
    1 s (eval-mot.toml)."""
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


def score(gt, tracks, name):
    acc = mm.utils.compare_to_groundtruth(gt, tracks, "iou", distth=1.0 - MATCH_IOU)
    return mm.metrics.create().compute(acc, metrics=METRICS, name=name).iloc[0].to_dict()


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


def read_mot_detections(path):
    """(frame, x, y, w, h, score) rows of a MOT detection file, read as the truth is (motmetrics
    makes both 0-based)."""
    det = mm.io.loadtxt(path, fmt="mot15-2D", min_confidence=-1)
    frames = det.index.get_level_values(0).to_numpy()
    cols = det[["X", "Y", "Width", "Height", "Confidence"]].to_numpy(dtype=float)
    return [(int(f), *map(float, c)) for f, c in zip(frames, cols)]


# Worker state: set before the pool forks, read by the jobs.
SEQS = {}
ARGS = None


def aisle_job(seq_name, rows, camera=None):
    """aisle on these detections: its MOT scores, summary occupancy MAE and line counts."""
    seq = SEQS[seq_name]
    with tempfile.TemporaryDirectory() as work:
        tracks, events = replay(ARGS.aisle, ARGS.config, seq.size, seq.fps, work,
                                detections=mot_text(rows), camera=camera or seq.camera)
    s = score(seq.gt, tracks, "aisle")
    s["occupancy_mae"] = mae(summary_windows(events, "frame"), seq.truth_windows)
    s["lines"] = line_counts(events)
    return s


def tracks_text(df):
    """A motmetrics frame of tracks as `aisle replay --tracks` reads them."""
    return "".join(f"{f},{i},{r['X']:.2f},{r['Y']:.2f},{r['Width']:.2f},{r['Height']:.2f},1\n"
                   for (f, i), r in df.iterrows())


def tracked_lines(seq, df):
    """Line counts by the agent's own rule on these tracks (the truth's, or another tracker's)."""
    with tempfile.TemporaryDirectory() as work:
        _, events = replay(ARGS.aisle, ARGS.config, seq.size, seq.fps, work, tracks=tracks_text(df),
                           camera=seq.camera)
    return line_counts(events)


def bytetrack_job(seq_name, rows, settings, lines=False):
    """ByteTrack on these detections: its MOT scores, occupancy MAE and (with `lines`) its
    tracks' line counts by the agent's rule."""
    seq = SEQS[seq_name]
    t = bytetrack_tracks(settings, rows, seq.fps, seq.last)
    s = score(seq.gt, t, "ByteTrack")
    s["occupancy_mae"] = mae(occupancy_windows(seq, frame_boxes(t)), seq.truth_windows)
    if lines:
        s["lines"] = tracked_lines(seq, t)
    return s


def counting_mae(seq, rows, cut):
    counted = [r[:5] for r in rows if r[5] >= cut]
    return mae(occupancy_windows(seq, counted), seq.truth_windows)


def setting_name(settings):
    if not settings:
        return "defaults"
    short = {"track_activation_threshold": "activation", "high_conf_det_threshold": "high",
             "minimum_iou_threshold": "iou", "lost_track_buffer": "buffer"}
    return ", ".join(f"{short.get(k, k)} {v}" for k, v in settings.items())


def evaluate_rows(rows, pool):
    """Runs every (row, cut, tracker, setting) job; returns one result per row."""
    jobs = {}
    for i, r in enumerate(rows):
        for cut in r.cuts:
            inp = [d for d in r.rows if d[5] >= cut]
            jobs[(i, cut, "aisle", 0)] = pool.submit(aisle_job, r.seq, inp)
            for k, settings in enumerate(BYTETRACK_GRID):
                jobs[(i, cut, "ByteTrack", k)] = pool.submit(bytetrack_job, r.seq, inp, settings,
                                                             cut == r.operating and k == 0)
    done = {k: f.result() for k, f in jobs.items()}
    results = []
    for i, r in enumerate(rows):
        seq = SEQS[r.seq]
        sweep = {cut: {"aisle": done[(i, cut, "aisle", 0)],
                       "ByteTrack": done[(i, cut, "ByteTrack", 0)]} for cut in r.cuts}
        op = sweep[r.operating]
        best = {}
        for m in ("mota", "idf1"):
            best[f"aisle {m}"] = max(((done[(i, c, "aisle", 0)][m], c, "defaults") for c in r.cuts))
            best[f"ByteTrack {m}"] = max(((done[(i, c, "ByteTrack", k)][m], c, setting_name(s))
                                          for c in r.cuts for k, s in enumerate(BYTETRACK_GRID)))
        counting = {c: counting_mae(seq, r.rows, c) for c in r.cuts}
        occupancy = {c: sweep[c]["aisle"]["occupancy_mae"] for c in r.cuts}
        results.append(dict(sequence=r.seq, detections=r.label, kind=r.kind, operating=r.operating,
                            sweep=sweep, aisle=op["aisle"], bytetrack=op["ByteTrack"], best=best,
                            occupancy_best=min(occupancy.values()),
                            counting=counting[r.operating], counting_best=min(counting.values()),
                            lines={z: (seq.truth_lines.get(z, (0, 0)), c)
                                   for z, c in op["aisle"]["lines"].items()},
                            bytetrack_lines=op["ByteTrack"]["lines"]))
    return results


def fmt_scores(s):
    return (f"{s['mota']:.3f} | {s['idf1']:.3f} | {int(s['num_switches'])} | {int(s['num_false_positives'])} | "
            f"{int(s['num_misses'])} | {s['occupancy_mae']:.2f}")


def table(results):
    print("| sequence | detections | tracker (cut) | MOTA | IDF1 | ID sw | FP | FN | occupancy MAE |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        where = f"| {r['sequence']} | {r['detections']} |"
        print(f"{where} **aisle** ({r['operating']:.2f}; best cut) | {fmt_scores(r['aisle'])}; "
              f"{r['occupancy_best']:.2f} |")
        print(f"{where} ByteTrack ({r['operating']:.2f}) | {fmt_scores(r['bytetrack'])} |")
        print(f"{where} counting boxes ({r['operating']:.2f}; best cut) | | | | | | "
              f"{r['counting']:.2f}; {r['counting_best']:.2f} |")
    print()
    print("| sequence | detections | aisle best MOTA (cut) | ByteTrack best MOTA (cut, setting) | "
          "aisle best IDF1 (cut) | ByteTrack best IDF1 (cut, setting) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        b = r["best"]
        cells = []
        for m in ("mota", "idf1"):
            av, ac, _ = b[f"aisle {m}"]
            bv, bc, bs = b[f"ByteTrack {m}"]
            cells += [f"{'**' if av >= bv else ''}{av:.3f}{'**' if av >= bv else ''} ({ac:.1f})",
                      f"{bv:.3f} ({bc:.1f}, {bs})"]
        print(f"| {r['sequence']} | {r['detections']} | " + " | ".join(cells) + " |")
    print()
    print("| sequence | detections | cut | aisle MOTA / IDF1 / FN | ByteTrack MOTA / IDF1 / FN |")
    print("|---|---|---|---|---|")
    for r in results:
        for cut, s in r["sweep"].items():
            a, t = s["aisle"], s["ByteTrack"]
            print(f"| {r['sequence']} | {r['detections']} | {cut:.2f} | {a['mota']:.3f} / {a['idf1']:.3f} / "
                  f"{int(a['num_misses'])} | {t['mota']:.3f} / {t['idf1']:.3f} / {int(t['num_misses'])} |")
    print()
    print("| sequence | detections | line | in: truth → aisle (ByteTrack) | out: truth → aisle (ByteTrack) |")
    print("|---|---|---|---|---|")
    for r in results:
        for z, ((ti, to), (mi, mo)) in sorted(r["lines"].items()):
            bi, bo = r["bytetrack_lines"].get(z, (0, 0))
            print(f"| {r['sequence']} | {r['detections']} | {z} | {ti} → {mi} ({bi}) | {to} → {mo} ({bo}) |")
    for kind, total, err, worst in line_marks(results):
        bt = sum(abs(c - t) for *_, t, c in line_directions(results, kind, "bytetrack_lines"))
        print(f"\nLine counts, {kind}: {total} true crossings, absolute error {err} ({err / max(total, 1):.1%}; "
              f"ByteTrack's tracks {bt}, {bt / max(total, 1):.1%}); "
              f"worst line-direction with ≥ {LINE_MIN_TRUE} true: {worst}")


def line_directions(results, kind, tracker="lines"):
    """(row, line, direction, true, counted) of every line-direction on the rows of `kind`: "real",
    or a perturbation's label; counted from aisle's tracks, or with `tracker` "bytetrack_lines"
    from ByteTrack's."""
    for r in results:
        if r["kind"] == "real" if kind == "real" else r["detections"] == kind:
            for z, (truth, counted) in r["lines"].items():
                counted = r[tracker].get(z, (0, 0)) if tracker != "lines" else counted
                yield r, z, "in", truth[0], counted[0]
                yield r, z, "out", truth[1], counted[1]


def line_marks(results):
    """Per held row kind: true crossings, summed absolute error, and the worst line-direction."""
    out = []
    for kind in LINE_ROWS:
        each = list(line_directions(results, kind))
        total, err = sum(t for *_, t, _ in each), sum(abs(c - t) for *_, t, c in each)
        held = [(abs(c - t) / t, f"{r['sequence']} {z} {d} {t} → {c} ({abs(c - t) / t:.1%})")
                for r, z, d, t, c in each if t >= LINE_MIN_TRUE]
        out.append((kind, total, err, max(held)[1] if held else "none"))
    return out


def failures(results):
    out = []
    for r in results:
        where = f"{r['sequence']}, {r['detections']}"
        for m in ("mota", "idf1"):
            a, b = r["best"][f"aisle {m}"][0], r["best"][f"ByteTrack {m}"][0]
            if a < b - TOLERANCE:
                out.append(f"{where}: aisle's best {m.upper()} {a:.3f} < ByteTrack's best {b:.3f} - {TOLERANCE}")
        if r["kind"] != PERFECT and r["aisle"]["occupancy_mae"] >= r["counting"]:
            out.append(f"{where}: aisle's occupancy MAE {r['aisle']['occupancy_mae']:.2f} is not below "
                       f"frame-by-frame counting's {r['counting']:.2f} at the operating cut")
        if r["kind"] == "real" and r["occupancy_best"] >= r["counting_best"]:
            out.append(f"{where}: aisle's best occupancy MAE {r['occupancy_best']:.2f} is not below "
                       f"frame-by-frame counting's best {r['counting_best']:.2f}")
    return out


def line_failures(results):
    out = []
    for kind, total, err, _ in line_marks(results):
        if total and err > LINE_TOTAL * total:
            out.append(f"line counts on {kind} rows: error {err} of {total} true crossings")
        for r, z, d, t, c in line_directions(results, kind):
            if t >= LINE_MIN_TRUE and abs(c - t) > LINE_EACH * t:
                out.append(f"{r['sequence']}, {r['detections']}, line {z} {d}: {c} counted, {t} true")
    return out


# (model folder, thresholds on the common calibrated scale); the first threshold is the
# manifest's operating one (docs/models.md, "Through the tracker").
MODEL_RUNS = [
    ("nanodet-m-416", "manifest-int8.toml", [0.35, 0.48]),
    ("nanodet-m-416", "manifest.toml", [0.35, 0.48]),
    ("movenet-multipose", "manifest.toml", [0.35]),
    ("centernet-mbv3", "manifest.toml", [0.35]),
]


def models_table(args, root):
    """aisle's tracker on each candidate model's boxes on TUD-Campus, at its thresholds."""
    print()
    print("| model | threshold | MOTA | IDF1 | ID switches | FP | FN |")
    print("|---|---|---|---|---|---|---|")
    for model, manifest_file, thresholds in MODEL_RUNS:
        manifest = os.path.join(root, "models", model, manifest_file)
        name = model + (" int8" if "int8" in manifest_file else "")
        rows = detected(args.aisle, args.frames, manifest, min(thresholds))
        for t in thresholds:
            s = aisle_job("TUD-Campus", [r for r in rows if r[5] >= t])
            print(f"| {name} | {t:.2f} | {s['mota']:.3f} | {s['idf1']:.3f} | {int(s['num_switches'])} | "
                  f"{int(s['num_false_positives'])} | {int(s['num_misses'])} |")


def aisle_on(aisle, config, name, rows):
    """aisle's scores on TUD-Campus (or another sequence) for these detections: for callers that
    score one model's boxes (scripts/eval_frontier.py)."""
    global ARGS
    ARGS = argparse.Namespace(aisle=aisle, config=config)
    if name not in SEQS:
        SEQS[name] = load_sequence(name, None)
    return aisle_job(name, rows)


def build_rows(args, root):
    rows = []
    for name, seq in SEQS.items():
        if args.frames and name == "TUD-Campus":
            manifest = args.model or os.path.join(root, "models", "nanodet-m-416", "manifest-int8.toml")
            floor = manifest_floor(manifest)
            found = detected(args.aisle, args.frames, manifest, min(MODEL_CUTS))
            int8 = " int8" if "int8" in os.path.basename(manifest) else ""
            label = f"{os.path.basename(os.path.dirname(manifest))}{int8}"
            rows.append(Row(name, label, "real", found, floor, sorted(set(MODEL_CUTS + [floor]))))
        if name == "Venice-2":
            det = read_mot_detections(os.path.join(args.data, "mot-lines", name, "det.txt"))
            rows.append(Row(name, "Faster R-CNN (published)", "real", det, VENICE_CUTS[0], VENICE_CUTS))
        for label, jitter, miss, fp, weak in LEVELS:
            d = degrade(seq, jitter, miss, fp, weak, args.seed)
            if label == PERFECT:
                rows.append(Row(name, label, PERFECT, d, 1.0, [1.0]))
            else:
                rows.append(Row(name, label, "perturbed", d, PERTURBED_OPERATING, PERTURBED_CUTS))
    return rows


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aisle", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", help="the team's data folder (tud-campus/, mot-lines/)")
    ap.add_argument("--frames", help="TUD-Campus JPEG frames: also track the default model's boxes")
    ap.add_argument("--model", help="the person model's manifest (default: the int8 NanoDet-m 416)")
    ap.add_argument("--sequences", help="comma-separated subset of the sequences")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-models", action="store_true", help="skip the per-model table")
    ap.add_argument("--check", action="store_true", help="fail when aisle trails the reference")
    ap.add_argument("--check-lines", action="store_true", help="fail when line counts miss their marks")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    ARGS = args
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    names = args.sequences.split(",") if args.sequences else list(SEQUENCES)
    for name in names:
        if SEQUENCES[name][3] == "mot-lines" and not (args.data and os.path.isdir(os.path.join(args.data, "mot-lines"))):
            print(f"eval-tracker: {name} skipped: no mot-lines/ in the data folder", file=sys.stderr)
            continue
        SEQS[name] = load_sequence(name, args.data)
    for seq in SEQS.values():
        seq.truth_lines = tracked_lines(seq, seq.gt)
    rows = build_rows(args, root)
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = evaluate_rows(rows, pool)
    table(results)
    if args.frames and not args.no_models and "TUD-Campus" in SEQS:
        models_table(args, root)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    bad = failures(results) + (line_failures(results) if args.check_lines else [])
    for b in bad:
        print(f"eval-tracker: {b}", file=sys.stderr)
    if args.check and bad:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
