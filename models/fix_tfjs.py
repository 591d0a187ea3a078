"""Fills in the attributes a TFJS graph file leaves out, so that tf2onnx can import it: each op's
defaults, and the TArgs of _FusedConv2D (one type per fused argument). Usage: fix_tfjs.py IN OUT"""
import json, sys
from google.protobuf import json_format
from tensorflow.python.framework import op_def_registry

src, dst = sys.argv[1], sys.argv[2]
j = json.load(open(src))
for n in j['modelTopology']['node']:
    attr = n.setdefault('attr', {})
    if n['op'] == '_FusedConv2D' and 'TArgs' not in attr:
        attr['TArgs'] = {'list': {'type': [attr['T']['type']] * int(attr['num_args']['i'])}}
    op = op_def_registry.get(n['op'])
    if op is None:
        continue
    for a in op.attr:
        if a.name not in attr and a.HasField('default_value'):
            attr[a.name] = json_format.MessageToDict(a.default_value)
json.dump(j, open(dst, 'w'))
