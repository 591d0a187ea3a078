"""Renders the shelf test video: a shelf unit seen at an angle that empties, is hidden by a
person walking in front of it, and is restocked.

    python render_video.py --vtest vtest.avi --out DIR     # DIR/shelf.avi (MJPEG) and DIR/truth.json

Timeline (seconds, 2 frames a second, 170 s):
    0-60      fully stocked; a shopper walks up at 5, stands in front of the middle bays from 10
              to 50 (longer than the test's 30 s debounce), and leaves by 56
    60-70     six of the twelve cells are emptied one by one, two more run low
    70-150    stays so; a shopper walks past from 110 to 125; lights dim by a third at 130
    150       restocked (the same products back), lights still dimmed
The person is a real pedestrian cut from OpenCV's vtest.avi (frame 216), so the agent's own
person detector finds them; the shelf is drawn with the training set's drawing functions but
from seeds the training never used.
"""

import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw

import synth

FPS = 2
SECONDS = 170
W, H = 768, 576
ROWS, BAYS = 3, 4
# The shelf face's corners in the frame (top-left, top-right, bottom-right, bottom-left): seen
# from the left, so the right end is further away.
FACE = [(150, 90), (650, 130), (650, 450), (150, 500)]
EMPTIED = {5: 60, 6: 61.5, 1: 63, 10: 64.5, 2: 66, 9: 67.5}  # cell index -> when it empties
LOWERED = {3: 68, 11: 69}
RESTOCK = 150
# (from, to, x at from, x at to): the person's left edge in the frame; None is off the left edge.
WALKS = [(5, 10, None, 270), (10, 50, 270, 290), (50, 56, 290, W), (110, 125, None, W)]
DIM_FROM, DIM = 130, 0.67
# Frame 216 of vtest.avi: a pedestrian, with the box the default detector gives it (pixels).
PERSON_FRAME, PERSON_BOX = 216, (600, 270, 670, 420)


def person_crop(vtest):
    """The pedestrian cut from vtest.avi through GStreamer (decodes up to the frame, keeps it)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["gst-launch-1.0", "-q", "filesrc", f"location={vtest}", "!", "decodebin", "!",
             "identity", f"eos-after={PERSON_FRAME + 1}", "!", "videoconvert", "!",
             "video/x-raw,format=RGB", "!", "multifilesink", f"location={tmp}/f%d.rgb", "max-files=1"],
            check=True,
        )
        (last,) = os.listdir(tmp)
        frame = np.fromfile(os.path.join(tmp, last), dtype=np.uint8).reshape(576, 768, 3)
    x0, y0, x1, y1 = PERSON_BOX
    crop = Image.fromarray(frame[y0:y1, x0:x1])
    # Twice the size: a shopper near the camera. The default detector finds them at 0.78-0.84.
    return crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.BICUBIC)


def shelf_face(coverage):
    """The shelf unit straight on, each cell's products from its own seed, so a cell looks the same
    in every frame with the same coverage."""
    fw, fh = 800, 600
    img = Image.new("RGB", (fw, fh))
    back = np.random.default_rng(9001)
    synth.draw_back(back, img, (0, 0, fw, fh))
    row_h, bay_w = fh / ROWS, fw / BAYS
    for r in range(ROWS):
        lip_h = row_h * 0.14
        floor = (r + 1) * row_h - lip_h
        synth.draw_lip(np.random.default_rng(9100 + r), img, (0, floor, fw, (r + 1) * row_h))
        for b in range(BAYS):
            k = r * BAYS + b
            rng = np.random.default_rng(9200 + k)
            synth.fill_row(rng, img, b * bay_w + 2, (b + 1) * bay_w - 2, floor, r * row_h + row_h * 0.08,
                           coverage[k], family=(bay_w * rng.uniform(0.12, 0.22), int(rng.integers(0, 4))))
    # Uprights between bays.
    d = ImageDraw.Draw(img)
    for b in range(BAYS + 1):
        x = b * bay_w
        d.rectangle((x - 4, 0, x + 4, fh), fill=(70, 70, 75))
    return img


def perspective_coeffs(src, dst):
    """PIL's PERSPECTIVE coefficients mapping output (frame) points dst onto input points src."""
    m = []
    for (x, y), (u, v) in zip(dst, src):
        m.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        m.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    b = np.array(src, dtype=float).reshape(8)
    return np.linalg.solve(np.array(m, dtype=float), b)


def coverage_at(t):
    cov = []
    for k in range(ROWS * BAYS):
        if t >= RESTOCK:
            cov.append(1.0)
        elif k in EMPTIED and t >= EMPTIED[k]:
            cov.append(0.0)
        elif k in LOWERED and t >= LOWERED[k]:
            cov.append(0.4)
        else:
            cov.append(1.0)
    return cov


def store_background():
    img = Image.new("RGB", (W, H), (186, 182, 170))
    d = ImageDraw.Draw(img)
    for y in range(H // 2, H):  # floor
        g = int(150 + 40 * (y - H / 2) / (H / 2))
        d.line((0, y, W, y), fill=(g, g - 5, g - 15))
    return img


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vtest", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as frames:
        render(args.vtest, frames)
        # Muxed as they are (MJPEG in AVI, GStreamer's good plugins): nothing is encoded twice.
        subprocess.run(
            ["gst-launch-1.0", "-q", "multifilesrc", f"location={frames}/%06d.jpg", "start-index=1",
             f"caps=image/jpeg,framerate={FPS}/1", "!", "jpegparse", "!", "avimux", "!",
             "filesink", f"location={os.path.join(args.out, 'shelf.avi')}"],
            check=True,
        )
    truth = {
        "fps": FPS,
        "seconds": SECONDS,
        "face": FACE,
        "rows": ROWS,
        "bays": BAYS,
        "emptied_s": max(EMPTIED.values()),
        "restocked_s": RESTOCK,
        "standing_s": [WALKS[1][0], WALKS[1][1]],
        "empty_cells": sorted(f"r{k // BAYS + 1}b{k % BAYS + 1}" for k in EMPTIED),
        "low_cells": sorted(f"r{k // BAYS + 1}b{k % BAYS + 1}" for k in LOWERED),
    }
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2)


def render(vtest, out):
    """The frames as numbered JPEGs in `out`."""
    person = person_crop(vtest)
    background = store_background()
    faces = {}
    src = [(0, 0), (800, 0), (800, 600), (0, 600)]
    coeffs = perspective_coeffs(src, FACE)
    mask = Image.new("L", (W, H))
    ImageDraw.Draw(mask).polygon(FACE, fill=255)
    noise = np.random.default_rng(5)
    for i in range(FPS * SECONDS):
        t = i / FPS
        cov = tuple(coverage_at(t))
        if cov not in faces:
            face = shelf_face(cov).transform((W, H), Image.Transform.PERSPECTIVE, tuple(coeffs),
                                             resample=Image.Resampling.BILINEAR)
            faces[cov] = face
        frame = background.copy()
        frame.paste(faces[cov], (0, 0), mask)
        for start, end, x0, x1 in WALKS:
            if start <= t < end:
                x0 = -person.width if x0 is None else x0
                x = int(x0 + (x1 - x0) * (t - start) / (end - start))
                frame.paste(person, (x, H - person.height - 40))
        arr = np.asarray(frame, dtype=np.float32)
        if t >= DIM_FROM:
            arr = arr * DIM
        arr += noise.normal(0, 2.0, arr.shape)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(
            os.path.join(out, f"{i + 1:06d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
