"""Turns the converted CenterNet graph into the agent's input and output contract: a Transpose in
front takes float NCHW RGB (0..255, what the graph reads as NHWC), and only the decoded output
`tower_0/detections` ([1,100,6]: x0, y0, x1, y1, score, class, in input pixels) is kept, which
the agent's `boxes` decoder reads. Usage: prepare.py IN.onnx OUT.onnx"""
import sys

import onnx
from onnx import TensorProto, helper


def main():
    src, dst = sys.argv[1], sys.argv[2]
    m = onnx.load(src)
    keep = [o for o in m.graph.output if o.name == "tower_0/detections"]
    if len(keep) != 1:
        sys.exit("no tower_0/detections output in %s" % src)
    del m.graph.output[:]
    m.graph.output.extend(keep)
    old = m.graph.input[0]
    name, inner = old.name, old.name + "_nhwc"
    for n in m.graph.node:
        n.input[:] = [inner if i == name else i for i in n.input]
    m.graph.node.insert(0, helper.make_node("Transpose", [name], [inner], perm=[0, 2, 3, 1]))
    m.graph.input.remove(old)
    m.graph.input.insert(0, helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, 512, 512]))
    m = onnx.utils.Extractor(m).extract_model([name], ["tower_0/detections"])
    onnx.checker.check_model(m)
    onnx.save(m, dst)


if __name__ == "__main__":
    main()
