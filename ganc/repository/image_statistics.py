"""Tiles that share the whole image's normalisation statistics: two forms of one generator's ONNX graph.

An InstanceNorm layer normalises with the mean and variance of the image it sees, so a tile run on its own
is normalised differently from the same pixels inside the whole image, and a style family's colours change
from tile to tile. Both forms are derived from `model.onnx`: by the CPU backend when it loads it, and at
publishing as Triton models of their own (statistics_forms.py):
- the statistics form runs the generator on an image (a downscaled copy of the whole one) and returns the
  mean and variance of every InstanceNorm layer's input, [N, S];
- the tile form takes an image (a tile) and those statistics, and normalises every layer with them.
Layers follow one another in the graph's order; each contributes its C means, then its C variances.
"""

import copy

import numpy as np
from onnx import ModelProto, NodeProto, TensorProto, helper, numpy_helper, shape_inference

NORM = "InstanceNormalization"
DEFAULT_EPSILON = 1e-5  # the ONNX operator's default
PER_CHANNEL = "_stats_per_channel"


def normalisation_layers(model: ModelProto) -> list[NodeProto]:
    return [node for node in model.graph.node if node.op_type == NORM]


def statistics_form(model: ModelProto, output_name: str) -> ModelProto:
    """Image in, [N, S] statistics out as `output_name`; the image output is dropped, so the layers after the
    last norm are too. Every norm layer normalises explicitly with the statistics it takes of its input, so that
    onnxruntime takes them as the layer runs: taken beside the layer, they would be scheduled last and keep every
    layer's input alive to the end (about 6x the memory of the whole generator)."""
    form = copy.deepcopy(model)
    graph = form.graph
    types = _element_types(model)
    nodes, parts = [_constant(PER_CHANNEL, np.array([1, -1, 1, 1], np.int64))], []
    for node in graph.node:
        if node.op_type != NORM:
            nodes.append(node)
            continue
        p, x = f"_stats{len(parts) // 2}_", node.input[0]
        nodes += _moments(p, x, types.get(x, TensorProto.FLOAT))
        nodes += _normalise(p, node, types.get(x, TensorProto.FLOAT))
        parts += [p + "means", p + "variances"]
    nodes.append(helper.make_node("Concat", parts, [output_name], axis=1))
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", "S"]))
    return form


def tile_form(model: ModelProto, input_name: str) -> ModelProto:
    """Image and [N, S] statistics (`input_name`) in, the image out: every norm layer y = x * a + b, with a and b
    from the given statistics and the layer's own scale and bias."""
    form = copy.deepcopy(model)
    graph = form.graph
    types = _element_types(model)
    channels = layer_channels(model)
    graph.input.append(helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", "S"]))
    nodes = [
        _constant("_stats_axis", np.array([1], np.int64)),
        _constant(PER_CHANNEL, np.array([1, -1, 1, 1], np.int64)),
    ]
    offset, i = 0, 0
    for node in graph.node:
        if node.op_type != NORM:
            nodes.append(node)
            continue
        c, p = channels[i], f"_stats{i}_"
        nodes += [
            _constant(p + "start", np.array([offset], np.int64)),
            _constant(p + "middle", np.array([offset + c], np.int64)),
            _constant(p + "end", np.array([offset + 2 * c], np.int64)),
            helper.make_node("Slice", [input_name, p + "start", p + "middle", "_stats_axis"], [p + "means"]),
            helper.make_node("Slice", [input_name, p + "middle", p + "end", "_stats_axis"], [p + "variances"]),
        ]
        nodes += _normalise(p, node, types.get(node.input[0], TensorProto.FLOAT))
        offset, i = offset + 2 * c, i + 1
    del graph.node[:]
    graph.node.extend(nodes)
    return form


def layer_channels(model: ModelProto) -> list[int]:
    """Each norm layer's channel count, from the length of its scale (an initializer, a constant, or a cast of
    one, as fp16 exports have it)."""
    graph = model.graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            arrays[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    producers = {output: node for node in graph.node for output in node.output}

    def length(name: str) -> int:
        while name not in arrays:
            name = producers[name].input[0]
        return int(arrays[name].shape[0])

    return [length(layer.input[1]) for layer in normalisation_layers(model)]


def statistics_length(model: ModelProto) -> int:
    return 2 * sum(layer_channels(model))


def _element_types(model: ModelProto) -> dict[str, int]:
    """Every tensor's element type (fp16 exports normalise in half precision)."""
    graph = shape_inference.infer_shapes(model).graph
    return {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}


def _constant(name: str, value: np.ndarray) -> NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def _moments(p: str, x: str, element_type: int) -> list[NodeProto]:
    """`p`means and `p`variances [N, C] of x over its height and width; the variance as the mean of squares less
    the square of the mean, the squares summed as they are read (ReduceSumSquare), not kept as a tensor."""
    nodes = []
    if element_type != TensorProto.FLOAT:  # half precision would overflow the sums
        nodes.append(helper.make_node("Cast", [x], [p + "float"], to=TensorProto.FLOAT))
        x = p + "float"
    nodes += [
        _constant(p + "spatial", np.array([2], np.int64)),
        _constant(p + "end_of_shape", np.array([4], np.int64)),
        helper.make_node("Shape", [x], [p + "shape"]),
        helper.make_node("Slice", [p + "shape", p + "spatial", p + "end_of_shape"], [p + "sides"]),
        helper.make_node("ReduceProd", [p + "sides"], [p + "count_int"], keepdims=0),
        helper.make_node("Cast", [p + "count_int"], [p + "count"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", [x], [p + "means"], axes=[2, 3], keepdims=0),
        helper.make_node("ReduceSumSquare", [x], [p + "sum_squares"], axes=[2, 3], keepdims=0),
        helper.make_node("Div", [p + "sum_squares", p + "count"], [p + "mean_squares"]),
        helper.make_node("Mul", [p + "means", p + "means"], [p + "squared_means"]),
        helper.make_node("Sub", [p + "mean_squares", p + "squared_means"], [p + "difference"]),
        _constant(p + "zero", np.array(0.0, np.float32)),
        helper.make_node("Max", [p + "difference", p + "zero"], [p + "variances"]),  # rounding can dip below 0
    ]
    return nodes


def _normalise(p: str, norm: NodeProto, element_type: int) -> list[NodeProto]:
    """`norm` as y = x * a + b, from `p`means and `p`variances [N, C] and its own scale, bias and epsilon."""
    x, scale, bias = norm.input
    epsilon = next((a.f for a in norm.attribute if a.name == "epsilon"), DEFAULT_EPSILON)
    return [
        _constant(p + "epsilon", np.array(epsilon, np.float32)),
        _constant(p + "spatial_axes", np.array([2, 3], np.int64)),
        helper.make_node("Unsqueeze", [p + "means", p + "spatial_axes"], [p + "mean"]),
        helper.make_node("Unsqueeze", [p + "variances", p + "spatial_axes"], [p + "variance"]),
        helper.make_node("Add", [p + "variance", p + "epsilon"], [p + "padded"]),
        helper.make_node("Sqrt", [p + "padded"], [p + "deviation"]),
        helper.make_node("Cast", [scale], [p + "scale_float"], to=TensorProto.FLOAT),
        helper.make_node("Cast", [bias], [p + "bias_float"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", [p + "scale_float", PER_CHANNEL], [p + "scale"]),
        helper.make_node("Reshape", [p + "bias_float", PER_CHANNEL], [p + "bias"]),
        helper.make_node("Div", [p + "scale", p + "deviation"], [p + "a_float"]),
        helper.make_node("Mul", [p + "mean", p + "a_float"], [p + "shift"]),
        helper.make_node("Sub", [p + "bias", p + "shift"], [p + "b_float"]),
        helper.make_node("Cast", [p + "a_float"], [p + "a"], to=element_type),
        helper.make_node("Cast", [p + "b_float"], [p + "b"], to=element_type),
        helper.make_node("Mul", [x, p + "a"], [p + "scaled"]),
        helper.make_node("Add", [p + "scaled", p + "b"], [norm.output[0]]),
    ]
