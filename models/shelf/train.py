"""Trains the shelf-cell classifier on synthetic cells and real ones, and exports it to ONNX.

    python train.py OUT_DIR [REAL_DIR ...]   # OUT_DIR/shelf-cell.onnx and OUT_DIR/metrics.json

Each REAL_DIR holds cells cut from real shelf photos of the training split, as
`aisle shelf eval --photos DATA --split train --grid G --export REAL_DIR` writes them (cells.rgb,
labels.txt): the agent's own cutter, so training sees cells exactly as the agent does. Photos of
the held-out split never reach training (the split is by source photo, `shelf::photos::held_out`).

CPU only, seeded and deterministic (TensorFlow op determinism): the same versions give the same
weights. The network is small on purpose: a shelf is sampled every 30 s, but a gateway may watch
a hundred cells, and the person detector must keep the cores.
"""

import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
import tf2onnx

import synth

TRAIN, VAL, TEST = 24000, 3000, 3000
EPOCHS = 8


def real_cells(dirs):
    """Cells and labels exported by `aisle shelf eval --export`, every folder together."""
    index = {label: i for i, label in enumerate(synth.LABELS)}
    xs, ys = [], []
    for d in dirs:
        x = np.fromfile(os.path.join(d, "cells.rgb"), dtype=np.uint8).reshape(-1, synth.SIZE, synth.SIZE, 3)
        with open(os.path.join(d, "labels.txt")) as f:
            y = np.array([index[label] for label in f.read().split()], dtype=np.int64)
        if len(x) != len(y):
            sys.exit(f"{d}: {len(x)} cells but {len(y)} labels")
        xs.append(x)
        ys.append(y)
    if not xs:
        return np.zeros((0, synth.SIZE, synth.SIZE, 3), np.uint8), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys)


def build():
    inp = tf.keras.Input((synth.SIZE, synth.SIZE, 3), name="cells")
    x = tf.keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    for filters in (16, 32, 48, 64):
        x = tf.keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
        x = tf.keras.layers.BatchNormalization()(x)
        x = tf.keras.layers.ReLU()(x)
        x = tf.keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = tf.keras.layers.BatchNormalization()(x)
        x = tf.keras.layers.ReLU()(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dropout(0.2)(x)
    out = tf.keras.layers.Dense(len(synth.LABELS), activation="softmax", name="probs")(x)
    return tf.keras.Model(inp, out)


def main():
    out_dir = sys.argv[1]
    x_real, y_real = real_cells(sys.argv[2:])
    os.makedirs(out_dir, exist_ok=True)
    tf.keras.utils.set_random_seed(7)
    tf.config.experimental.enable_op_determinism()
    t0 = time.time()
    x_train, y_train = synth.dataset("train", TRAIN)
    x_val, y_val = synth.dataset("val", VAL)
    x_test, y_test = synth.dataset("test", TEST)
    print(f"generated {TRAIN + VAL + TEST} cells in {time.time() - t0:.0f} s", flush=True)

    # Real cells beside the synthetic ones: the synthetic shelves teach coverage under every
    # lighting and product, the real ones what real gaps (wire racks, dark backs) look like.
    # Flips are free augmentation: a shelf read right to left is still a shelf.
    both = np.concatenate([x_train, x_real])
    both_labels = np.concatenate([y_train, y_real])
    flipped = np.concatenate([both, both[:, :, ::-1]])
    labels = np.concatenate([both_labels, both_labels])
    model = build()
    model.compile(
        # The learning rate decays over every step of the run (flipped copies included).
        optimizer=tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(3e-3, EPOCHS * len(labels) // 64)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    t0 = time.time()
    model.fit(flipped, labels, batch_size=64, epochs=EPOCHS, validation_data=(x_val, y_val), verbose=2)
    train_s = time.time() - t0

    probs = model.predict(x_test, batch_size=256, verbose=0)
    pred = probs.argmax(axis=1)
    confusion = np.zeros((3, 3), dtype=int)
    for t, p in zip(y_test, pred):
        confusion[t, p] += 1
    metrics = {
        "labels": list(synth.LABELS),
        "train_cells": TRAIN,
        "real_train_cells": int(len(y_real)),
        "epochs": EPOCHS,
        "train_seconds": round(train_s),
        "val_accuracy": round(float((model.predict(x_val, verbose=0).argmax(1) == y_val).mean()), 4),
        "test_accuracy": round(float((pred == y_test).mean()), 4),
        "test_confusion": confusion.tolist(),
        "params": int(model.count_params()),
    }
    print(json.dumps(metrics, indent=2))

    spec = (tf.TensorSpec((None, synth.SIZE, synth.SIZE, 3), tf.float32, name="cells"),)
    path = os.path.join(out_dir, "shelf-cell.onnx")
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, inputs_as_nchw=["cells"], output_path=path)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
