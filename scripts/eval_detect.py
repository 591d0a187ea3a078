#!/usr/bin/env python3
"""Scores person detection frame by frame with `aisle eval detect`, for each candidate model and
preprocessing, and prints the Markdown tables of docs/models.md. Two sets of frames:
TUD-Campus as published (people close to the camera), and a 2x2 mosaic of it (four frames at half
size in one: small people and crowds of up to 22, as a camera mounted high sees them).

With --aspects, also scores the default on frames padded to 16:9 and 9:16, untiled and with the
slices recommended for that shape. With --check, fails when the default's AP50 on TUD-Campus is
more than 0.02 below the figure recorded in docs/models.md (the line `<!-- guard: ap50 X -->`),
or, with --aspects, when the default's recall on a padded shape, with its recommended slices, is
more than 0.03 below its recall on the 4:3 frames. With --plot, writes the default's
precision-recall curve. With --calibrate MODEL, prints the `score_map` line for MODEL's manifest
instead: its raw scores matched to the default's by recall on TUD-Campus, so that each of the
default's thresholds (the tracker's among them) admits the same share of people with MODEL."""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

# (model folder, licence, [(label, manifest edits, tiles[, manifest file])]); the first variant of
# the first model is the shipped default.
MODELS = [
    (
        "nanodet-m-416",
        "Apache-2.0",
        [
            ("int8, letterbox, NMS 0.6 (default)", {}, "1x1", "manifest-int8.toml"),
            ("letterbox, NMS 0.6", {}, "1x1"),
            ("letterbox, NMS 0.45", {"nms_iou": "0.45"}, "1x1"),
            ("stretch, NMS 0.6", {"resize": '"stretch"'}, "1x1"),
            ("letterbox, tiles 2x2", {}, "2x2"),
        ],
    ),
    (
        "movenet-multipose",
        "Apache-2.0",
        [
            ("letterbox 256", {}, "1x1"),
            ("letterbox 384", {"width": "384", "height": "384"}, "1x1"),
        ],
    ),
    (
        "centernet-mbv3",
        "MIT package, upstream weights unstated",
        [("letterbox 512", {}, "1x1")],
    ),
]
GUARD_SLACK = 0.02
ASPECT_SLACK = 0.03
# TUD-Campus is 640x480 (4:3). Padded (black borders) to the shapes store cameras have: (shape,
# side padding, top padding, slices scored, slices recommended for the shape, which --check holds
# to the 4:3 recall). The 4:3 row is re-encoded the same way, so JPEG loss is the same in every row.
ASPECTS = [("4:3", 0, 0, ["1x1"], "1x1"), ("16:9", 107, 0, ["1x1", "2x1"], "1x1"),
           ("9:16", 0, 329, ["1x1", "1x2"], "1x2")]
# Mosaic: frame k's quadrants show frames k, k+18, k+36, k+54 (wrapping), each at half size.
MOSAIC_OFFSETS = [0, 18, 36, 54]


def variant(root, model, edits, out_dir, manifest="manifest.toml"):
    src = os.path.join(root, "models", model, manifest)
    text = open(src).read()
    onnx = re.search(r'^onnx = "(.*)"$', text, re.M).group(1)
    edits = dict(edits, onnx='"%s"' % os.path.join(root, "models", model, onnx))
    for key, value in edits.items():
        text, n = re.subn(r"^%s = .*$" % key, "%s = %s" % (key, value), text, flags=re.M)
        if n != 1:
            sys.exit("eval-detect: %s has no single %s line" % (src, key))
    path = os.path.join(out_dir, "%s-%d.toml" % (model, abs(hash((manifest,) + tuple(sorted(edits.items()))))))
    open(path, "w").write(text)
    return path


def run(aisle, frames, gt, manifest, tiles="1x1", plot=None, threads=2):
    cmd = [aisle, "eval", "detect", "--images", frames, "--gt", gt, "--model", manifest,
           "--threads", str(threads), "--tiles", tiles]
    if plot:
        cmd += ["--plot", plot]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def padded(data, out_dir, name, side, top):
    """The frames with `side` px of black left and right and `top` px above and below, and the
    ground truth shifted to match."""
    frames = os.path.join(out_dir, name.replace(":", "x"))
    os.makedirs(frames, exist_ok=True)
    subprocess.run(
        ["gst-launch-1.0", "-q", "multifilesrc", "location=%s/img1/%%06d.jpg" % data,
         "start-index=1", "caps=image/jpeg,framerate=10/1", "!", "jpegdec", "!",
         "videobox", "left=-%d" % side, "right=-%d" % side, "top=-%d" % top,
         "bottom=-%d" % top, "fill=black", "!", "jpegenc", "quality=95", "!",
         "multifilesink", "location=%s/%%06d.jpg" % frames, "index=1"],
        check=True)
    gt = os.path.join(out_dir, name.replace(":", "x") + ".txt")
    with open(os.path.join(data, "gt", "gt.txt")) as src, open(gt, "w") as dst:
        for line in src:
            f = line.strip().split(",")
            if len(f) >= 6:
                f[2] = str(float(f[2]) + side)
                f[3] = str(float(f[3]) + top)
                dst.write(",".join(f) + "\n")
    return frames, gt


# The default's scores at which the calibration matches recall: the tracker's thresholds (0.1,
# 0.5, 0.6) and the default's operating threshold among them.
CALIBRATION_POINTS = [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def recall_at(curve, threshold):
    """Recall of the detections scoring at least `threshold` (the curve is ranked by score)."""
    return max([c["recall"] for c in curve if c["score"] >= threshold] or [0.0])


def score_for_recall(curve, recall):
    """The highest score whose detections reach `recall`, or None if none do."""
    for c in curve:
        if c["recall"] >= recall:
            return c["score"]
    return None


def calibrate(aisle, data, root, model, tmp):
    frames, gt = os.path.join(data, "img1"), os.path.join(data, "gt", "gt.txt")
    default = run(aisle, frames, gt, variant(root, MODELS[0][0], {}, tmp))["scores"]["curve"]
    raw = variant(root, model, {"score_map": "[]"}, tmp)
    curve = run(aisle, frames, gt, raw)["scores"]["curve"]
    points = [[0.0, 0.0]]
    for t in CALIBRATION_POINTS:
        s = score_for_recall(curve, recall_at(default, t))
        if s is not None and s > points[-1][0] and t > points[-1][1] and s < 1.0:
            points.append([round(s, 4), t])
    points.append([1.0, 1.0])
    print("score_map = [%s]" % ", ".join("[%g, %g]" % (r, c) for r, c in points))


def mosaic(data, out_dir):
    """Four TUD-Campus frames at half size in each frame, and the ground truth to match."""
    frames, links = os.path.join(out_dir, "mosaic"), os.path.join(out_dir, "mosaic-src")
    os.makedirs(frames, exist_ok=True)
    n = len(os.listdir(os.path.join(data, "img1")))
    pipeline = ["compositor", "name=m", "background=black", "sink_1::xpos=320",
                "sink_2::ypos=240", "sink_3::xpos=320", "sink_3::ypos=240", "!",
                "video/x-raw,width=640,height=480", "!", "videoconvert", "!", "jpegenc",
                "quality=95", "!", "multifilesink", "location=%s/%%06d.jpg" % frames, "index=1"]
    source = lambda k, q: (k - 1 + MOSAIC_OFFSETS[q]) % n + 1
    for q in range(4):
        quarter = os.path.join(links, str(q))
        os.makedirs(quarter, exist_ok=True)
        for k in range(1, n + 1):
            os.symlink(os.path.join(data, "img1", "%06d.jpg" % source(k, q)),
                       os.path.join(quarter, "%06d.jpg" % k))
        pipeline += ["multifilesrc", "location=%s/%%06d.jpg" % quarter, "start-index=1",
                     "stop-index=%d" % n, "caps=image/jpeg,framerate=10/1", "!", "jpegdec", "!",
                     "videoscale", "!", "video/x-raw,width=320,height=240", "!", "m.sink_%d" % q]
    subprocess.run(["gst-launch-1.0", "-q"] + pipeline, check=True)
    people = {}
    with open(os.path.join(data, "gt", "gt.txt")) as src:
        for line in src:
            f = line.strip().split(",")
            if len(f) >= 6:
                people.setdefault(int(f[0]), []).append(f)
    gt = os.path.join(out_dir, "mosaic.txt")
    with open(gt, "w") as dst:
        for k in range(1, n + 1):
            for q in range(4):
                ox, oy = 320 * (q % 2), 240 * (q // 2)
                for f in people.get(source(k, q), []):
                    dst.write("%d,%d,%.2f,%.2f,%.2f,%.2f,1,-1,-1,-1\n" % (
                        k, 100 * q + int(f[1]), float(f[2]) / 2 + ox, float(f[3]) / 2 + oy,
                        float(f[4]) / 2, float(f[5]) / 2))
    return frames, gt


def aspects(aisle, data, manifest, tmp):
    """Scores the default on padded shapes; returns [(shape, recommended tiles, recall)]."""
    print()
    print("| frame shape (TUD-Campus padded) | size | tiles | AP50 | recall at 0.35 "
          "| precision at 0.35 | count MAE at 0.35 | ms/frame |")
    print("|---|---|---|---|---|---|---|---|")
    found = []
    for name, side, top, grids, recommended in ASPECTS:
        frames, gt = padded(data, tmp, name, side, top)
        for tiles in grids:
            r = run(aisle, frames, gt, manifest, tiles)
            s = r["scores"]
            o = s["operating"]
            if tiles == recommended:
                found.append((name, tiles, o["recall"]))
            print("| %s | %dx%d | %s | %.3f | %.3f | %.3f | %.2f | %.1f |" % (
                name, 640 + 2 * side, 480 + 2 * top, tiles, s["ap50"], o["recall"],
                o["precision"], o["count_mae"], r["ms_per_frame_mean"]))
    return found


def aspect_failures(found):
    """Shapes whose recall with their recommended slices is more than the slack below 4:3's."""
    base = found[0][2]
    return ["%s with tiles %s: recall %.3f, 4:3 %.3f" % (name, tiles, recall, base)
            for name, tiles, recall in found if recall < base - ASPECT_SLACK]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aisle", required=True)
    ap.add_argument("--data", required=True, help="the tud-campus folder")
    ap.add_argument("--check", help="docs/models.md, whose guard line the default must meet")
    ap.add_argument("--plot", help="write the default's PR curve (SVG) here")
    ap.add_argument("--aspects", action="store_true",
                    help="also score the default on frames padded to 16:9 and 9:16")
    ap.add_argument("--calibrate", metavar="MODEL",
                    help="print the score_map line for models/MODEL/manifest.toml, and stop")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.calibrate:
        with tempfile.TemporaryDirectory() as tmp:
            calibrate(args.aisle, args.data, root, args.calibrate, tmp)
        return
    print("| model | preprocessing | threshold | AP50 | AP[.5:.95] | precision | recall | F1 "
          "| count MAE | mosaic AP50 | mosaic F1 | mosaic count MAE | ms/frame (2 threads) "
          "| size | licence |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    default_ap50, found = None, []
    with tempfile.TemporaryDirectory() as tmp:
        campus = (os.path.join(args.data, "img1"), os.path.join(args.data, "gt", "gt.txt"))
        small = mosaic(args.data, tmp)
        for model, licence, variants in MODELS:
            for label, edits, tiles, *manifest_file in variants:
                onnx = re.search(r'^onnx = "(.*)"$', open(os.path.join(
                    root, "models", model, *(manifest_file or ["manifest.toml"]))).read(), re.M).group(1)
                size = "%.1f MB" % (os.path.getsize(os.path.join(root, "models", model, onnx)) / 1e6)
                plot = args.plot if default_ap50 is None else None
                manifest = variant(root, model, edits, tmp, *manifest_file)
                r = run(args.aisle, *campus, manifest, tiles, plot)
                mo = run(args.aisle, *small, manifest, tiles)["scores"]
                s = r["scores"]
                if default_ap50 is None:
                    default_ap50 = s["ap50"]
                for name, at in (("", s["operating"]), (" (best F1)", s["best_f1"])):
                    print("| %s | %s | %.2f%s | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.3f "
                          "| %.3f | %.2f | %.1f | %s | %s |" % (
                              model, label, at["score"], name, s["ap50"], s["ap50_95"],
                              at["precision"], at["recall"], at["f1"], at["count_mae"],
                              mo["ap50"], mo["best_f1"]["f1"], mo["best_f1"]["count_mae"],
                              r["ms_per_frame_mean"], size, licence))
        if args.aspects:
            model, _, variants = MODELS[0]
            found = aspects(args.aisle, args.data,
                            variant(root, model, variants[0][1], tmp, *variants[0][3:]), tmp)
    if args.check:
        text = open(args.check).read()
        m = re.search(r"<!-- guard: ap50 ([0-9.]+) -->", text)
        if not m:
            sys.exit("eval-detect: %s has no '<!-- guard: ap50 X -->' line" % args.check)
        recorded = float(m.group(1))
        print("default AP50 %.3f; recorded %.3f; the guard fails below %.3f"
              % (default_ap50, recorded, recorded - GUARD_SLACK), file=sys.stderr)
        if default_ap50 < recorded - GUARD_SLACK:
            sys.exit("eval-detect: the default model's AP50 dropped by more than %.2f" % GUARD_SLACK)
        failures = aspect_failures(found)
        if failures:
            sys.exit("eval-detect: recall depends on the frame's shape: " + "; ".join(failures))
        if found:
            print("frame shape: every padded shape's recall is within %.2f of 4:3" % ASPECT_SLACK,
                  file=sys.stderr)


if __name__ == "__main__":
    main()
