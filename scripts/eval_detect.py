#!/usr/bin/env python3
"""Scores person detection on TUD-Campus frame by frame with `aisle eval detect`, for each
model/preprocessing variant, and prints the Markdown table of docs/models.md. With --check, fails
when the default's AP50 is more than 0.02 below the figure recorded in docs/models.md (the line
`<!-- guard: ap50 X -->`). With --plot, writes the default's precision-recall curve."""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

# (model folder, licence, [(label, manifest edits)]); the first variant of the first model is
# the shipped default.
MODELS = [
    (
        "nanodet-m-416",
        "Apache-2.0",
        [
            ("letterbox, NMS 0.6 (default)", {}),
            ("letterbox, NMS 0.45", {"nms_iou": "0.45"}),
            ("stretch, NMS 0.6", {"resize": '"stretch"'}),
            ("stretch, NMS 0.45", {"resize": '"stretch"', "nms_iou": "0.45"}),
        ],
    ),
]
GUARD_SLACK = 0.02
# TUD-Campus is 640x480 (4:3). Padded (black borders) to the shapes store cameras have; the 4:3
# row is re-encoded the same way, so JPEG loss is the same in every row.
ASPECTS = [("4:3", 0, 0), ("16:9", 107, 0), ("9:16", 0, 329)]


def variant(root, model, edits, out_dir):
    src = os.path.join(root, "models", model, "manifest.toml")
    text = open(src).read()
    onnx = re.search(r'^onnx = "(.*)"$', text, re.M).group(1)
    edits = dict(edits, onnx='"%s"' % os.path.join(root, "models", model, onnx))
    for key, value in edits.items():
        text, n = re.subn(r"^%s = .*$" % key, "%s = %s" % (key, value), text, flags=re.M)
        if n != 1:
            sys.exit("eval-detect: %s has no single %s line" % (src, key))
    path = os.path.join(out_dir, "%s-%d.toml" % (model, abs(hash(tuple(sorted(edits.items()))))))
    open(path, "w").write(text)
    return path


def run(aisle, data, manifest, plot=None):
    cmd = [aisle, "eval", "detect", "--images", os.path.join(data, "img1"),
           "--gt", os.path.join(data, "gt", "gt.txt"), "--model", manifest, "--threads", "2"]
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


def aspects(aisle, data, manifest, tmp):
    print()
    print("| frame shape (TUD-Campus padded) | size | AP50 | recall at 0.35 | precision at 0.35 | count MAE at 0.35 |")
    print("|---|---|---|---|---|---|")
    for name, side, top in ASPECTS:
        frames, gt = padded(data, tmp, name, side, top)
        out = subprocess.run([aisle, "eval", "detect", "--images", frames, "--gt", gt,
                              "--model", manifest, "--threads", "2"],
                             check=True, capture_output=True, text=True)
        s = json.loads(out.stdout)["scores"]
        o = s["operating"]
        print("| %s | %dx%d | %.3f | %.3f | %.3f | %.2f |" % (
            name, 640 + 2 * side, 480 + 2 * top, s["ap50"], o["recall"], o["precision"],
            o["count_mae"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aisle", required=True)
    ap.add_argument("--data", required=True, help="the tud-campus folder")
    ap.add_argument("--check", help="docs/models.md, whose guard line the default must meet")
    ap.add_argument("--plot", help="write the default's PR curve (SVG) here")
    ap.add_argument("--aspects", action="store_true",
                    help="also score the default on frames padded to 16:9 and 9:16")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print("| model | preprocessing | threshold | AP50 | AP[.5:.95] | precision | recall | F1 "
          "| count MAE | ms/frame (2 threads) | size | licence |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    default_ap50 = None
    with tempfile.TemporaryDirectory() as tmp:
        for model, licence, variants in MODELS:
            onnx = os.path.join(root, "models", model, model + ".onnx")
            size = "%.1f MB" % (os.path.getsize(onnx) / 1e6)
            for i, (label, edits) in enumerate(variants):
                plot = args.plot if default_ap50 is None else None
                r = run(args.aisle, args.data, variant(root, model, edits, tmp), plot)
                s = r["scores"]
                if default_ap50 is None:
                    default_ap50 = s["ap50"]
                for name, at in (("", s["operating"]), (" (best F1)", s["best_f1"])):
                    print("| %s | %s | %.2f%s | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.1f | %s | %s |" % (
                        model, label, at["score"], name, s["ap50"], s["ap50_95"], at["precision"],
                        at["recall"], at["f1"], at["count_mae"], r["ms_per_frame_mean"], size, licence))
        if args.aspects:
            model, _, variants = MODELS[0]
            aspects(args.aisle, args.data, variant(root, model, variants[0][1], tmp), tmp)
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


if __name__ == "__main__":
    main()
