"""Closed-form size (parameters), cost (multiply-accumulates, feature-map elements) and device footprint (flash and
RAM bytes of the int8 network) of the CNN: no torch, milliseconds for any size."""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from utils import UsageError


class ShapeError(UsageError):
    """The configuration cannot be built for this input (the feature map shrinks to nothing)."""


def conv_key(i: int) -> str:
    """The hyperparameter holding the width of convolution i (the search space's name for it)."""
    return f"n_channels_conv_{i}"


def fc_key(i: int) -> str:
    """The hyperparameter holding the width of fully connected layer i."""
    return f"n_channels_fc_{i}"


def conv_widths(config: Mapping[str, Any]) -> list[int]:
    return [int(config[conv_key(i)]) for i in range(int(config["n_conv_layers"]))]


def fc_widths(config: Mapping[str, Any]) -> list[int]:
    return [int(config[fc_key(i)]) for i in range(int(config["n_fc_layers"]))]


def branches(config: Mapping[str, Any]) -> int:
    """Independent copies of the network (conv blocks to classifier) whose logits are averaged."""
    return int(config["n_branches"])


def architecture(config: Mapping[str, Any]) -> tuple:
    """What fixes every tensor's shape: two configurations with the same architecture differ only in how they
    train (learning rate, weight decay, dropout, batch size, augmentation, optimizer, schedule, …)."""
    return (tuple(conv_widths(config)), int(config["kernel_size"]), bool(config["use_BN"]),
            bool(config["global_avg_pooling"]), tuple(fc_widths(config)), branches(config))


def features_after_conv(config: Mapping[str, Any], input_shape: tuple[int, int, int]) -> int:
    """Number of features entering the first Linear layer."""
    _, height, width = input_shape
    for _ in conv_widths(config):
        height, width = height // 2, width // 2
    if height < 1 or width < 1:
        raise ShapeError(
            f"{config['n_conv_layers']} pooling layers shrink a {input_shape[1]}x{input_shape[2]} image to nothing"
        )
    channels = conv_widths(config)[-1]
    return channels if config["global_avg_pooling"] else channels * height * width


def count_parameters(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Model size: all parameters of all branches, BatchNorm included."""
    k = int(config["kernel_size"])
    total, channels = 0, input_shape[0]
    for width in conv_widths(config):
        total += channels * width * k * k + width + (2 * width if config["use_BN"] else 0)
        channels = width
    features = features_after_conv(config, input_shape)
    for width in fc_widths(config) + [num_classes]:
        total += features * width + width
        features = width
    return total * branches(config)


def count_macs(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Multiply-accumulates of one forward pass of one image through all branches: the training cost per image,
    up to a factor."""
    k = int(config["kernel_size"])
    channels, height, width = input_shape
    total = 0
    for out in conv_widths(config):
        total += channels * out * k * k * height * width
        channels, height, width = out, height // 2, width // 2
    features = features_after_conv(config, input_shape)
    for out in fc_widths(config) + [num_classes]:
        total += features * out
        features = out
    return total * branches(config)


def count_activations(config: Mapping[str, Any], input_shape: tuple[int, int, int]) -> int:
    """Feature-map elements the convolutions write for one image (before pooling): the memory traffic that
    BatchNorm, ReLU and pooling add, which arithmetic alone misses (a single wide convolution on the full image)."""
    _, height, width = input_shape
    total = 0
    for out in conv_widths(config):
        total += out * height * width
        height, width = height // 2, width // 2
    return total * branches(config)


FLOAT_BYTES, INDEX_BYTES = 4, 8  # float32 activations; the int64 indices torch's max-pooling also returns


class MemoryModel(NamedTuple):
    """How a runtime holds one tower's activations: bytes an element, whether a ReLU runs inside the layer before
    it, and the bytes of the indices its max-pooling returns beside each element."""
    element: int
    fused_relu: bool
    pool_index: int


TORCH_FLOAT32 = MemoryModel(FLOAT_BYTES, False, INDEX_BYTES)
MICRO_INT8 = MemoryModel(1, True, 0)  # TensorFlow Lite Micro on the int8 network


def _tower_operations(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int,
                      memory: MemoryModel = TORCH_FLOAT32) -> list[tuple[int, int]]:
    """(input bytes, output bytes) of each operation of one tower's forward pass, in order, for one image: a
    ReLU's own unless the memory model fuses it, a batch norm writing a new tensor, flatten free."""
    size, relu = memory.element, 0 if memory.fused_relu else 1
    channels, height, width = input_shape
    current, operations = size * channels * height * width, []
    for out in conv_widths(config):
        mapped = size * out * height * width
        operations += [(current, mapped)] + [(mapped, mapped)] * (relu + bool(config["use_BN"]))
        height, width = height // 2, width // 2
        operations.append((mapped, (size + memory.pool_index) * out * height * width))
        current = size * out * height * width
    if config["global_avg_pooling"]:
        operations.append((current, size * conv_widths(config)[-1]))
    features = features_after_conv(config, input_shape)
    for out in fc_widths(config):
        operations += [(size * features, size * out)] + [(size * out, size * out)] * relu
        features = out
    return operations + [(size * features, size * num_classes)]


def peak_activation_bytes(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Most bytes of tensors alive at once in one image's forward pass (eval mode, float32, as torch runs it):
    the input, which the caller holds throughout, plus each operation's input and output (an operation's input
    is freed once the next one has run), plus the logits of the branches already run."""
    image = FLOAT_BYTES * input_shape[0] * input_shape[1] * input_shape[2]
    operations = _tower_operations(config, input_shape, num_classes)
    tower = max(out if i == 0 else into + out for i, (into, out) in enumerate(operations))
    logits, n = FLOAT_BYTES * num_classes, branches(config)
    if n == 1:
        return image + tower
    stacked = n * logits  # torch.stack of the branches' logits, then their mean
    return image + max(tower + (n - 1) * logits, n * logits + stacked, stacked + logits)


class Work(NamedTuple):
    """What one image costs a forward pass of the network: what training time is predicted from."""
    macs: int
    activations: int


def count_work(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Work:
    return Work(count_macs(config, input_shape, num_classes), count_activations(config, input_shape))


# The int8 network as the exported QDQ file stores it (deploy/onnx_export.py: per-channel int8 weights).
WEIGHT_CHANNEL_BYTES = 1 + 4 + 4 + 4 + 4  # per output channel: weight zero point (int8) and scale (float32), int32
#                                            bias with its own scale (float32) and zero point (int32)
QUANT_POINT_BYTES = 4 + 1  # an activation's quantisation: scale (float32) and zero point (uint8)
FLOAT_BN_CHANNEL_BYTES = 4 * 4  # a batch norm after a ReLU cannot be folded: scale, bias, mean, variance in float32
INDEX_BYTES_INT64 = 8  # the graph's index constants: the branches' stacking axis, the flip's slice and reshape
FLIP_CONSTANTS, BRANCH_CONSTANTS = 5, 1


def _weighted_layers(config: Mapping[str, Any], input_shape: tuple[int, int, int],
                     num_classes: int) -> list[tuple[int, int]]:
    """(weights, output channels) of each convolution and fully connected layer of one tower, in order."""
    k, channels = int(config["kernel_size"]), input_shape[0]
    layers = []
    for width in conv_widths(config):
        layers.append((channels * width * k * k, width))
        channels = width
    features = features_after_conv(config, input_shape)
    for width in fc_widths(config) + [num_classes]:
        layers.append((features * width, width))
        features = width
    return layers


def count_flash_bytes(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Bytes of every tensor the int8 network stores (what flash holds): int8 weights, int32 biases, their scales and
    zero points, each activation's quantisation, batch norms in float, the standardisation's mean and scale, and
    the graph's few index constants."""
    layers = _weighted_layers(config, input_shape, num_classes)
    tower = sum(weights + WEIGHT_CHANNEL_BYTES * width for weights, width in layers)
    tower += FLOAT_BN_CHANNEL_BYTES * sum(conv_widths(config)) if config["use_BN"] else 0
    tower += QUANT_POINT_BYTES * (2 * len(layers) - 1)  # each layer's output, and the input of all but the first
    constants = FLIP_CONSTANTS if config["random_flip"] else BRANCH_CONSTANTS if branches(config) > 1 else 0
    standardisation = 2 * FLOAT_BYTES * input_shape[0]
    return standardisation + QUANT_POINT_BYTES + branches(config) * tower + INDEX_BYTES_INT64 * constants


def count_ram_bytes(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Most bytes of int8 activations alive at once in one image's inference (flip test-time augmentation is a
    second pass), as TensorFlow Lite Micro's arena holds them: each operation's input and output while it runs.
    Towers run one after another: the image stays alive until the last one has read it, each finished tower's
    logits until their mean; then the stacking, the mean and the softmax."""
    image = input_shape[0] * input_shape[1] * input_shape[2]
    operations, n = _tower_operations(config, input_shape, num_classes, MICRO_INT8), branches(config)
    peak = 0
    for tower in range(n):
        held_image = image if tower < n - 1 else 0
        for i, (into, out) in enumerate(operations):
            peak = max(peak, into + out + tower * num_classes + (held_image if i > 0 else 0))
    if n > 1:
        peak = max(peak, 2 * n * num_classes, n * num_classes + num_classes)
    return max(peak, 2 * num_classes)


class Costs(NamedTuple):
    """What a network costs: parameters, multiply-accumulates per image, flash and RAM bytes of its int8 form."""
    parameters: int
    macs: int
    flash: int
    ram: int


COST_FORMS = {"parameters": count_parameters, "macs": count_macs, "flash": count_flash_bytes, "ram": count_ram_bytes}


def network_costs(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Costs:
    """Every cost of the network of config, in closed form."""
    return Costs(**{field: form(config, input_shape, num_classes) for field, form in COST_FORMS.items()})
