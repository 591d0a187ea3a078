"""Synthetic shelf cells, for training and checking the shelf-cell classifier.

A cell is one bay of one shelf row, seen straight on after the agent's perspective correction:
a back panel, a shelf lip with a price strip, and products standing on it. Its label comes from
how much of the lip's width products cover:

    stocked  >= 0.75      low  0.25 .. 0.60      empty  <= 0.10

Everything else is randomised so the model learns coverage and nothing about one store: product
shapes (boxes, cans, bottles, bags), colours, labels and their "text", back panels (plain,
pegboard, gradient, wood), price strips, lighting (gain, offset, colour cast, a light falloff),
residual perspective and misaligned cell edges, blur, sensor noise, JPEG-like block averaging,
resolution, and partial occlusion by a person's arm or torso (the label does not change: the
agent skips cells a detected person covers, the model must survive the rest).

The same drawing functions render whole shelf units for the video test (`render_video.py`).

    python synth.py --split test --n 3000 --out DIR          # DIR/cells.rgb and DIR/labels.txt
    python synth.py --split test --n 48 --out DIR --png      # also DIR/NNNNNN.png, to look at

`cells.rgb` is every cell's 64x64 RGB bytes back to back, `labels.txt` one label per line in the
same order: what `aisle shelf eval` reads, without an image decoder.
"""

import argparse
import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 64
LABELS = ("stocked", "low", "empty")
COVERAGE = {"stocked": (0.75, 1.0), "low": (0.25, 0.60), "empty": (0.0, 0.10)}
# Different seeds per split, so the held-out cells are never seen in training.
SEEDS = {"train": 1, "val": 2, "test": 3}


def ok(box):
    """Whether a box (x0, y0, x1, y1) has room to draw: tiny cells make some parts vanish."""
    return box[2] >= box[0] and box[3] >= box[1]


def rect(d, box, **kw):
    if ok(box):
        d.rectangle(box, **kw)


def rounded(d, box, **kw):
    if ok(box):
        d.rounded_rectangle(box, **kw)


def ellipse(d, box, **kw):
    if ok(box):
        d.ellipse(box, **kw)


def rand_colour(rng, lo=0, hi=255):
    return tuple(int(v) for v in rng.integers(lo, hi + 1, 3))


def shade(colour, k):
    return tuple(int(max(0, min(255, c * k))) for c in colour)


def draw_back(rng, img, box):
    """A shelf's back panel inside box (x0, y0, x1, y1)."""
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    style = rng.integers(0, 4)
    base = rand_colour(rng, 20, 235)
    rect(d, box, fill=base)
    if style == 1:  # pegboard
        step = max(4, int((x1 - x0) / rng.integers(6, 14)))
        hole = shade(base, 0.45)
        for yy in range(int(y0) + step // 2, int(y1), step):
            for xx in range(int(x0) + step // 2, int(x1), step):
                ellipse(d, (xx - 1, yy - 1, xx + 1, yy + 1), fill=hole)
    elif style == 2:  # vertical gradient, lit from above
        top, bottom = rng.uniform(0.9, 1.2), rng.uniform(0.4, 0.8)
        for yy in range(int(y0), int(y1)):
            t = (yy - y0) / max(1.0, y1 - y0)
            d.line((x0, yy, x1, yy), fill=shade(base, top + (bottom - top) * t))
    elif style == 3:  # wood grain
        for _ in range(int(rng.integers(8, 25))):
            yy = rng.uniform(y0, y1)
            d.line((x0, yy, x1, yy + rng.uniform(-3, 3)), fill=shade(base, rng.uniform(0.7, 1.2)))


def draw_lip(rng, img, box):
    """The shelf edge below the products, with a price strip and tags."""
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    rect(d, box, fill=rand_colour(rng, 30, 250))
    if rng.random() < 0.8:
        strip = rand_colour(rng, 150, 255) if rng.random() < 0.7 else rand_colour(rng)
        sy0 = y0 + (y1 - y0) * rng.uniform(0.1, 0.3)
        rect(d, (x0, sy0, x1, y1 - (y1 - y0) * 0.1), fill=strip)
        x = x0 + rng.uniform(0, 10)
        while x < x1:
            w = rng.uniform(8, 20)
            rect(d, (x, sy0 + 1, x + w, y1 - 2), fill=rand_colour(rng, 180, 255))
            for k in range(int(rng.integers(1, 3))):
                ty = sy0 + 2 + k * 3
                d.line((x + 2, ty, x + w * rng.uniform(0.4, 0.9), ty), fill=rand_colour(rng, 0, 90))
            x += w + rng.uniform(10, 40)


def draw_label(rng, d, box, body):
    """A product's front: bands, a logo, lines of 'text'."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w < 3 or h < 3:
        return
    for _ in range(int(rng.integers(0, 3))):
        by = y0 + rng.uniform(0, 0.8) * h
        rect(d, (x0, by, x1, by + rng.uniform(0.05, 0.25) * h), fill=rand_colour(rng))
    if rng.random() < 0.6:
        cx, cy = x0 + w * rng.uniform(0.3, 0.7), y0 + h * rng.uniform(0.2, 0.6)
        r = min(w, h) * rng.uniform(0.15, 0.35)
        shape = ellipse if rng.random() < 0.5 else rect
        shape(d, (cx - r, cy - r, cx + r, cy + r), fill=rand_colour(rng))
    ink = shade(body, 0.3) if sum(body) > 300 else shade(body, 2.5)
    for k in range(int(rng.integers(0, 4))):
        ty = y0 + h * (0.55 + 0.1 * k)
        if ty < y1 - 1:
            d.line((x0 + w * 0.15, ty, x0 + w * rng.uniform(0.4, 0.85), ty), fill=ink)


def draw_product(rng, img, x0, x1, floor, top_limit, kind=None):
    """One product standing on `floor` between x0 and x1; returns nothing, draws in place."""
    d = ImageDraw.Draw(img)
    kind = kind if kind is not None else rng.integers(0, 4)
    height = (floor - top_limit) * rng.uniform(0.5, 0.95)
    y0 = floor - height
    body = rand_colour(rng)
    if kind == 0:  # box
        rect(d, (x0, y0, x1, floor), fill=body)
        d.line((x1 - 1, y0, x1 - 1, floor), fill=shade(body, 0.6))
        draw_label(rng, d, (x0 + 1, y0 + 1, x1 - 2, floor - 1), body)
    elif kind == 1:  # can: cylinder shading
        for xx in range(int(x0), int(math.ceil(x1))):
            t = (xx - x0) / max(1.0, x1 - x0)
            d.line((xx, y0, xx, floor), fill=shade(body, 0.55 + 0.6 * math.sin(math.pi * t)))
        draw_label(rng, d, (x0 + 2, y0 + height * 0.2, x1 - 2, floor - height * 0.2), body)
    elif kind == 2:  # bottle: narrow neck
        neck = (x1 - x0) * 0.3
        mid = (x0 + x1) / 2
        rect(d, (mid - neck / 2, y0, mid + neck / 2, y0 + height * 0.3), fill=shade(body, 0.8))
        rounded(d, (x0, y0 + height * 0.25, x1, floor), radius=max(1, (x1 - x0) / 4), fill=body)
        draw_label(rng, d, (x0 + 1, y0 + height * 0.5, x1 - 1, floor - height * 0.1), body)
    else:  # bag: rounded, crinkled
        rounded(d, (x0, y0, x1, floor), radius=max(1, (x1 - x0) / 3), fill=body)
        for _ in range(3):
            yy = rng.uniform(y0, floor)
            d.line((x0 + 2, yy, x1 - 2, yy + rng.uniform(-2, 2)), fill=shade(body, 1.25))
        draw_label(rng, d, (x0 + 2, y0 + height * 0.3, x1 - 2, floor - height * 0.15), body)


def fill_row(rng, img, x0, x1, floor, top, coverage, family=None):
    """Products along a shelf row covering `coverage` of [x0, x1], in one or more runs."""
    width = x1 - x0
    want = coverage * width
    if want < 1:
        return
    # Facings of one product family share a width and kind, as on a real shelf.
    fam_w = width * rng.uniform(0.08, 0.3) if family is None else family[0]
    fam_kind = rng.integers(0, 4) if family is None else family[1]
    runs = 1 if coverage > 0.7 or rng.random() < 0.5 else int(rng.integers(1, 3))
    per_run = want / runs
    free = width - want
    gaps = rng.dirichlet(np.ones(runs + 1)) * free
    x = x0 + gaps[0]
    # Most facings repeat one product exactly (drawn from the same seed); some are another.
    seed = int(rng.integers(0, 2**31))
    for r in range(runs):
        end = x + per_run
        while x < end - 0.5:
            w = min(fam_w * rng.uniform(0.9, 1.1), end - x)
            if w >= 2:
                look = np.random.default_rng(seed) if rng.random() < 0.8 else rng
                draw_product(look, img, x, x + w - 0.5, floor, top, fam_kind)
            x += w
        x += gaps[r + 1]


def light(rng, arr):
    """Lighting: gain, offset, colour cast and a falloff across the image."""
    h, w, _ = arr.shape
    gain = rng.uniform(0.45, 1.5)
    cast = rng.uniform(0.8, 1.2, 3)
    offset = rng.uniform(-30, 30)
    gx, gy = np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))
    angle = rng.uniform(0, 2 * math.pi)
    falloff = 1 + rng.uniform(0, 0.4) * (gx * math.cos(angle) + gy * math.sin(angle))
    return arr * gain * cast[None, None, :] * falloff[..., None] + offset


def occlude(rng, img):
    """An arm or a torso edge in front of part of the cell."""
    d = ImageDraw.Draw(img)
    w, h = img.size
    skin = rand_colour(rng, 60, 230) if rng.random() < 0.5 else rand_colour(rng)
    if rng.random() < 0.5:  # an arm reaching in
        y = rng.uniform(0.2, 0.8) * h
        d.line((0 if rng.random() < 0.5 else w, y, rng.uniform(0.2, 0.5) * w, y + rng.uniform(-0.2, 0.2) * h),
               fill=skin, width=int(rng.uniform(0.08, 0.18) * h))
    else:  # a torso at one side
        x = rng.uniform(0.0, 0.3) * w
        if rng.random() < 0.5:
            rect(d, (0, 0, x, h), fill=skin)
        else:
            rect(d, (w - x, 0, w, h), fill=skin)


def render_cell(rng, label):
    """One 64x64 RGB cell image (uint8 HxWx3) of `label`."""
    # Drawn at a random resolution then resampled, like cells cut from cameras at any distance.
    side = int(rng.integers(28, 140))
    aspect = rng.uniform(0.6, 1.8)
    w, h = max(16, int(side * aspect)), side
    pad = 0.12  # the cell as cut, with misaligned edges: draw a larger scene and crop it
    W, H = int(w * (1 + 2 * pad)), int(h * (1 + 2 * pad))
    img = Image.new("RGB", (W, H))
    lip_h = H * rng.uniform(0.1, 0.2)
    floor = H - lip_h - H * rng.uniform(0.0, 0.08)
    draw_back(rng, img, (0, 0, W, floor))
    draw_lip(rng, img, (0, floor, W, H))
    # The row above's lip sometimes shows at the top.
    if rng.random() < 0.4:
        rect(ImageDraw.Draw(img), (0, 0, W, H * rng.uniform(0.02, 0.1)), fill=rand_colour(rng, 30, 250))
    lo, hi = COVERAGE[label]
    coverage = rng.uniform(lo, hi)
    cx0, cx1 = W * pad, W * (1 - pad)
    fill_row(rng, img, cx0, cx1, floor, H * 0.08, coverage)
    # Neighbouring bays' products spill in at the edges of a misaligned cut.
    if rng.random() < 0.5:
        fill_row(rng, img, 0, cx0, floor, H * 0.08, rng.uniform(0, 1))
        fill_row(rng, img, cx1, W, floor, H * 0.08, rng.uniform(0, 1))
    if rng.random() < 0.25:
        occlude(rng, img)
    # Residual perspective: the cut corners off by a few percent each.
    j = lambda s: rng.uniform(-0.06, 0.06) * s  # noqa: E731
    quad = (W * pad + j(w), H * pad + j(h), W * pad + j(w), H * (1 - pad) + j(h),
            W * (1 - pad) + j(w), H * (1 - pad) + j(h), W * (1 - pad) + j(w), H * pad + j(h))
    img = img.transform((SIZE, SIZE), Image.Transform.QUAD, quad, resample=Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.5)))
    arr = light(rng, np.asarray(img, dtype=np.float32))
    arr += rng.normal(0, rng.uniform(0, 10), arr.shape)
    if rng.random() < 0.3:  # block averaging, like heavy compression
        b = int(rng.choice([2, 4]))
        small = arr.reshape(SIZE // b, b, SIZE // b, b, 3).mean(axis=(1, 3))
        arr = np.repeat(np.repeat(small, b, axis=0), b, axis=1)
    return np.clip(arr, 0, 255).astype(np.uint8)


def dataset(split, n):
    """n cells with balanced labels, deterministic per split: (images NxHxWx3 uint8, labels N)."""
    rng = np.random.default_rng(SEEDS[split])
    labels = np.arange(n) % len(LABELS)
    rng.shuffle(labels)
    images = np.stack([render_cell(rng, LABELS[k]) for k in labels])
    return images, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=sorted(SEEDS), required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--png", action="store_true", help="also write each cell as a PNG")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    images, labels = dataset(args.split, args.n)
    images.tofile(os.path.join(args.out, "cells.rgb"))
    with open(os.path.join(args.out, "labels.txt"), "w") as f:
        f.writelines(LABELS[k] + "\n" for k in labels)
    if args.png:
        for i, img in enumerate(images):
            Image.fromarray(img).save(os.path.join(args.out, f"{i:06d}.png"))


if __name__ == "__main__":
    main()
