"""What an exported int8 graph costs a device, read from the file itself: the bytes of the tensors it stores (flash)
and the most bytes of int8 activations alive at once in one image's inference (RAM), planned over its nodes by the
convention of TensorFlow Lite Micro's arena. The closed forms in budget/closed_forms.py are checked against these."""
from __future__ import annotations

from math import prod
from pathlib import Path

import onnx
from onnx import numpy_helper

FREE = {"QuantizeLinear", "DequantizeLinear", "Flatten", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Dropout",
        "Shape", "Gather", "Constant"}  # no new activation: quantisation marks, views, shape arithmetic
PREPARATION = {"Sub", "Div", "Slice", "Concat"}  # on the image only: the standardisation folds into the input's
#                                                 quantisation, the flip's second view is a second pass
FUSED_INTO = {"Conv", "Gemm"}  # a ReLU right after these runs inside them


def initializer_bytes(path: Path) -> int:
    """Bytes of every tensor the file stores (weights, biases, scales, zero points, constants)."""
    return sum(numpy_helper.to_array(tensor).nbytes for tensor in onnx.load(str(path)).graph.initializer)


def _elements(value: onnx.ValueInfoProto) -> int:
    """Elements of one image's tensor: a symbolic or unknown dimension (the batch) counts as one, every known one as
    itself (the branches' stacked logits are branches × classes)."""
    shape = value.type.tensor_type.shape
    if not value.type.tensor_type.HasField("shape"):
        raise ValueError(f"{value.name}: shape inference left its shape unknown")
    return prod(dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else 1 for dim in shape.dim)


def _depth_first(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The nodes that compute on the image, in an order that finishes one chain before it starts another (a stack,
    not a queue): towers run one after another, as a memory-aware runtime schedules them. Nodes that read only
    stored tensors (weights being dequantised) wait for nothing and are left out."""
    activations, computing = {graph.input[0].name}, []
    for node in graph.node:  # the file's order is topological
        if activations.intersection(node.input):
            activations.update(node.output)
            computing.append(node)
    waiting = {id(node): len(activations.intersection(set(node.input))) for node in computing}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in computing:
        for name in activations.intersection(set(node.input)):
            users.setdefault(name, []).append(node)
    order: list[onnx.NodeProto] = []
    stack: list[onnx.NodeProto] = []

    def release(name: str) -> None:
        for user in reversed(users.get(name, [])):
            waiting[id(user)] -= 1
            if waiting[id(user)] == 0:
                stack.append(user)

    release(graph.input[0].name)
    while stack:
        order.append(stack.pop())
        for output in order[-1].output:
            release(output)
    return order


def planned_activation_bytes(path: Path) -> int:
    """Most bytes of int8 activations (one byte an element) alive at once in one image's inference: each
    operation's input and output while it runs, a tensor alive from the operation that writes it to the last one
    that reads it; quantisation marks, views and shape arithmetic are free, a ReLU after a convolution or a fully
    connected layer is fused into it."""
    graph = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    shapes = {value.name: value for value in [*graph.input, *graph.value_info, *graph.output]}
    image = graph.input[0].name
    buffer, writer = {image: image}, {image: "input"}  # an activation's buffer, and the operation that wrote it
    sizes, order = {image: _elements(shapes[image])}, []
    for node in _depth_first(graph):
        sources = list(dict.fromkeys(buffer[name] for name in node.input if name in buffer))
        if _free(node, sources, writer, shapes):
            buffer |= {output: sources[0] for output in node.output}
            continue
        for output in node.output:
            if output not in shapes:
                raise ValueError(f"{path}: shape inference gave no shape to {output}, written by {node.op_type}")
            buffer[output], writer[output], sizes[output] = output, node.op_type, _elements(shapes[output])
        order.append((node, sources))
    return _peak(order, sizes, {buffer[value.name] for value in graph.output})


def _free(node: onnx.NodeProto, sources: list[str], writer: dict[str, str],
          shapes: dict[str, onnx.ValueInfoProto]) -> bool:
    """Whether the node writes no activation of its own."""
    integer = any(shapes[name].type.tensor_type.elem_type == onnx.TensorProto.INT64
                  for name in node.output if name in shapes)
    on_image = node.op_type in PREPARATION and all(writer[source] == "input" for source in sources)
    fused = node.op_type == "Relu" and writer[sources[0]] in FUSED_INTO
    return node.op_type in FREE or integer or on_image or fused


def _peak(order: list[tuple[onnx.NodeProto, list[str]]], sizes: dict[str, int], outputs: set[str]) -> int:
    """The most bytes alive at once while the operations run in order."""
    last_use = {name: len(order) if name in outputs else -1 for name in sizes}
    for step, (_, sources) in enumerate(order):
        for name in sources:
            last_use[name] = max(last_use[name], step)
    born = {output: step for step, (node, _) in enumerate(order) for output in node.output if output in sizes}
    peak = 0
    for step in range(len(order)):
        alive = [name for name in sizes if born.get(name, -1) <= step <= last_use[name]]
        peak = max(peak, sum(sizes[name] for name in alive))
    return peak
