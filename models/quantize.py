#!/usr/bin/env python3
"""Static INT8 (QDQ) version of a person model, for models/quantize.sh.

    quantize.py MANIFEST FRAMES_DIR OUT.onnx [SIDE]

Weights int8 per output channel, activations uint8 per tensor, ranges from MinMax calibration on
the frames in FRAMES_DIR (the demo video, never the evaluation footage), preprocessed exactly as
the agent does for MANIFEST (size, resize mode with centred letterbox, colour order, layout,
mean and std). SIDE calibrates at SIDExSIDE instead of the manifest's size, for a model that takes
several sizes: calibrated at its largest, MoveNet MultiPose is as accurate at 256 as at 384 (AP50
0.747 and 0.814 on TUD-Campus), while calibrated at 256 it collapses at 384 (0.330).

Two things learned on these models, which is why this is more than a call to quantize_static:

- TF graphs pad before a max-pool with -inf (`Pad(constant_values=-inf) -> MaxPool`). The
  calibrated range of that tensor is then infinite, its scale NaN, and every score downstream
  collapses (NanoDet: AP50 0.713 -> 0.000). The pad is folded into the pool's own `pads`, which
  ONNX defines as ignored by the max: the same function, bit for bit, with a finite range.
- The demo video shows small people only, so calibrating on whole frames leaves the ranges of the
  coarse strides (large people) too narrow and clips them (NanoDet: AP50 0.385 on TUD-Campus).
  The frames are calibrated in turn whole and as crops zoomed 1.5x, 2x and 3x, so people appear at
  the sizes a camera close to a checkout sees (AP50 0.707; zooms 2x and 3x only: the same AP50,
  but recall on 16:9 frames 0.036 below 4:3 instead of 0.028; more frames or other zooms moved
  every figure by less than 0.006).
- Decoding inside the graph (CenterNet's peak test `Equal(heat, MaxPool(heat))`, TopK, index
  arithmetic on floats; MoveNet's keypoint grouping) breaks when quantized: equal peaks multiply,
  indices round (CenterNet: AP50 0.736 -> 0.000). Only the network body is quantized: the
  convolutions and every node that feeds one. What follows the last convolution stays fp32.
"""

import glob
import os
import random
import sys
import tomllib

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from PIL import Image

ZOOMS = [1.0, 1.5, 2.0, 3.0]
SEED = 7


def fold_neg_inf_pads(model):
    """Pad(-inf) feeding only MaxPools becomes the pools' `pads` attribute."""
    g = model.graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    users = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    folded = []
    for n in list(g.node):
        if n.op_type != "Pad" or len(n.input) < 3 or n.input[2] not in init:
            continue
        if not np.isneginf(init[n.input[2]]).all() or n.input[1] not in init:
            continue
        pools = users.get(n.output[0], [])
        if not pools or any(u.op_type != "MaxPool" for u in pools):
            continue
        p = init[n.input[1]].astype(int)  # [n, c, h, w] begins, then ends
        if p[0] or p[1] or p[4] or p[5]:
            continue
        for u in pools:
            if any(a.name == "pads" and any(helper.get_attribute_value(a)) for a in u.attribute):
                break
        else:
            for u in pools:
                for a in [a for a in u.attribute if a.name in ("pads", "auto_pad")]:
                    u.attribute.remove(a)
                u.attribute.append(helper.make_attribute(
                    "pads", [int(p[2]), int(p[3]), int(p[6]), int(p[7])]))
                u.input[0] = n.input[0]
            folded.append(n)
    for n in folded:
        g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
    onnx.checker.check_model(model)
    return len(folded)


def after_last_convolutions(model):
    """Names of the nodes that feed no convolution: heads' activations and in-graph decoding."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    body, stack = set(), [n for n in g.node if n.op_type == "Conv"]
    while stack:
        n = stack.pop()
        if n.name in body:
            continue
        body.add(n.name)
        stack.extend(producer[i] for i in n.input if i in producer)
    return sorted(n.name for n in g.node if n.name not in body)


class Frames(CalibrationDataReader):
    """Each frame whole, or a crop zoomed 1.5x, 2x or 3x (in turn), preprocessed as the agent does."""

    def __init__(self, manifest, files):
        inp = manifest["input"]
        self.name = inp["name"]
        self.w, self.h = inp["width"], inp["height"]
        self.letterbox = inp.get("resize", "letterbox") == "letterbox"
        self.pad = float(inp.get("pad_value", 0))
        self.bgr = inp.get("color", "rgb") == "bgr"
        self.nchw = inp.get("layout", "nchw") == "nchw"
        self.mean = np.array(inp.get("mean", [0, 0, 0]), np.float32)
        self.std = np.array(inp.get("std", [1, 1, 1]), np.float32)
        self.files = files
        self.rnd = random.Random(SEED)
        self.i = 0

    def tensor(self, im):
        w, h = im.size
        canvas = np.full((self.h, self.w, 3), self.pad, np.float32)
        if self.letterbox:
            s = min(self.w / w, self.h / h)
            nw, nh = round(w * s), round(h * s)
            x0, y0 = (self.w - nw) // 2, (self.h - nh) // 2
        else:
            nw, nh, x0, y0 = self.w, self.h, 0, 0
        canvas[y0:y0 + nh, x0:x0 + nw] = np.asarray(im.resize((nw, nh), Image.BILINEAR), np.float32)
        if self.bgr:
            canvas = canvas[:, :, ::-1]
        x = (canvas - self.mean) / self.std
        if self.nchw:
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None], np.float32)

    def get_next(self):
        if self.i >= len(self.files):
            return None
        im = Image.open(self.files[self.i]).convert("RGB")
        zoom = ZOOMS[self.i % len(ZOOMS)]
        self.i += 1
        if zoom > 1:
            W, H = im.size
            w, h = int(W / zoom), int(H / zoom)
            x0, y0 = self.rnd.randint(0, W - w), self.rnd.randint(0, H - h)
            im = im.crop((x0, y0, x0 + w, y0 + h))
        return {self.name: self.tensor(im)}


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.split("\n\n")[1])
    manifest_path, frames_dir, out = sys.argv[1:4]
    with open(manifest_path, "rb") as f:
        manifest = tomllib.load(f)
    if len(sys.argv) == 5:
        manifest["input"]["width"] = manifest["input"]["height"] = int(sys.argv[4])
    src = os.path.join(os.path.dirname(manifest_path), manifest["onnx"])
    files = sorted(glob.glob(os.path.join(frames_dir, "*.png")))
    if not files:
        sys.exit("quantize: no calibration frames (*.png) in %s" % frames_dir)
    model = onnx.load(src)
    folded = fold_neg_inf_pads(model)
    tail = after_last_convolutions(model)
    prepared = out + ".fp32.onnx"
    onnx.save(model, prepared)
    quantize_static(prepared, out, Frames(manifest, files), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=tail)
    os.remove(prepared)
    print("quantize: %s -> %s (%d calibration frames, %d -inf pads folded, %d nodes after the "
          "last convolutions kept fp32)" % (src, out, len(files), folded, len(tail)))


if __name__ == "__main__":
    main()
