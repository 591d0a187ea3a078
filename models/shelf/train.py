"""Trains the shelf-cell classifier on synthetic cells and exports it to ONNX.

    python train.py OUT_DIR    # OUT_DIR/shelf-cell.onnx and OUT_DIR/metrics.json

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
EPOCHS = 14


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
    os.makedirs(out_dir, exist_ok=True)
    tf.keras.utils.set_random_seed(7)
    tf.config.experimental.enable_op_determinism()
    t0 = time.time()
    x_train, y_train = synth.dataset("train", TRAIN)
    x_val, y_val = synth.dataset("val", VAL)
    x_test, y_test = synth.dataset("test", TEST)
    print(f"generated {TRAIN + VAL + TEST} cells in {time.time() - t0:.0f} s", flush=True)

    model = build()
    model.compile(
        optimizer=tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(3e-3, EPOCHS * TRAIN // 64)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # Flips are free augmentation: a shelf read right to left is still a shelf.
    flipped = np.concatenate([x_train, x_train[:, :, ::-1]])
    labels = np.concatenate([y_train, y_train])
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
