"""Turns the converted MoveNet MultiPose graph into the agent's input and output contract.

1. Input: the TFJS graph takes int32 RGB pixels, NHWC. The agent feeds float NCHW (one fused
   normalise pass for every model), so a Transpose and a Cast to int32 are put in front of it. The
   agent's values are whole numbers 0..255 (mean 0, std 1), so the cast is exact.
2. People: the graph returns at most 6 people. The 6 is the k of its top-k over person centres,
   which the converter folded into the reshapes after it (as 6, and as 6 x 17 keypoints = 102),
   into two constant-filled tensors and into a keypoint index 0..16 repeated 6 times. A store
   camera sees more than 6 people, so each of those constants is rewritten for K; the network's
   weights are untouched. It fails unless it finds exactly the twelve constants it expects.

Usage: prepare.py IN.onnx OUT.onnx K
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIX, KEYPOINTS, EXPECTED = 6, 17, 12


def widen(m, k):
    users = {}
    for n in m.graph.node:
        for i in n.input:
            users.setdefault(i, set()).add(n.op_type)
    changed = []
    for init in m.graph.initializer:
        a = numpy_helper.to_array(init)
        used_by = users.get(init.name, set())
        shape_like = a.dtype.kind == 'i' and a.ndim == 1 and a.size <= 4
        if shape_like and (SIX in a or SIX * KEYPOINTS in a) and used_by <= {'Reshape', 'TopK'}:
            b = np.where(a == SIX, k, np.where(a == SIX * KEYPOINTS, k * KEYPOINTS, a))
        elif a.shape == (SIX * KEYPOINTS, 1) and (a[:, 0] == np.tile(np.arange(KEYPOINTS), SIX)).all():
            b = np.tile(np.arange(KEYPOINTS), k).reshape(-1, 1)
        elif SIX in a.shape and a.size and (a == a.flat[0]).all():
            b = np.full([k if d == SIX else d for d in a.shape], a.flat[0])
        else:
            continue
        init.CopyFrom(numpy_helper.from_array(b.astype(a.dtype), init.name))
        changed.append(f"{init.name}: {list(a.shape)} -> {list(b.shape)}")
    if len(changed) != EXPECTED:
        sys.exit(f"expected the {EXPECTED} constants that carry the 6-person limit, "
                 f"found {len(changed)}: {changed}")
    m.graph.output[0].type.tensor_type.shape.dim[1].dim_value = k


def float_nchw_input(m):
    old = m.graph.input[0]
    name = old.name
    inner = name + "_nhwc_int32"
    for n in m.graph.node:
        n.input[:] = [inner if i == name else i for i in n.input]
    m.graph.node.insert(0, helper.make_node("Cast", [name + "_nhwc"], [inner], to=TensorProto.INT32))
    m.graph.node.insert(0, helper.make_node("Transpose", [name], [name + "_nhwc"], perm=[0, 2, 3, 1]))
    m.graph.input.remove(old)
    m.graph.input.insert(0, helper.make_tensor_value_info(
        name, TensorProto.FLOAT, [1, 3, "height", "width"]))


def main():
    src, dst, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    m = onnx.load(src)
    widen(m, k)
    float_nchw_input(m)
    del m.graph.value_info[:]
    onnx.checker.check_model(m)
    onnx.save(m, dst)


if __name__ == "__main__":
    main()
