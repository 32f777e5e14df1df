#!/usr/bin/env python3
"""Peer for `scopepilot-bench detector`: the same residual U-Net in ONNX Runtime.

Builds the ONNX graph with the onnx package's helper API from the architecture in the model's JSON
metadata, loads the weights from the model's safetensors file (names as in ResidualUNet.swift), and
times inference on one thread. Batch norm stays a separate node in the graph; ONNX Runtime's own
graph optimisations (all enabled) fold it, as ScopePilot does.

Usage: onnx_unet.py MODEL.safetensors --input X.npy [--logits OUT.npy] [--repeats N]
Prints one JSON object: {"height", "width", "best_seconds", "runtime"}.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file


def build_graph(weights, architecture):
    width, depth = architecture["width"], architecture["depth"]
    nodes, initialisers = [], []
    used = set()

    def init(name):
        used.add(name)
        initialisers.append(numpy_helper.from_array(weights[name].astype(np.float32), name))
        return name

    def block(prefix, x):
        conv = prefix + ".conv_out"
        nodes.append(helper.make_node(
            "Conv", [x, init(prefix + ".conv.weight"), init(prefix + ".conv.bias")], [conv],
            kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        bn = prefix + ".bn_out"
        nodes.append(helper.make_node(
            "BatchNormalization",
            [conv, init(prefix + ".bn.weight"), init(prefix + ".bn.bias"),
             init(prefix + ".bn.running_mean"), init(prefix + ".bn.running_var")],
            [bn], epsilon=1e-5))
        out = prefix + ".relu_out"
        nodes.append(helper.make_node("Relu", [bn], [out]))
        return out

    x = "input"
    skips = []
    for i in range(depth):
        p = f"encoder.{i}"
        skip = block(p + ".block2", block(p + ".block1", x))
        skips.append(skip)
        pooled = p + ".pool_out"
        nodes.append(helper.make_node("MaxPool", [skip], [pooled], kernel_shape=[2, 2], strides=[2, 2]))
        shortcut = p + ".shortcut_out"
        nodes.append(helper.make_node(
            "Conv", [x, init(p + ".shortcut.weight"), init(p + ".shortcut.bias")], [shortcut],
            kernel_shape=[1, 1], strides=[2, 2]))
        x = p + ".out"
        nodes.append(helper.make_node("Add", [pooled, shortcut], [x]))
    x = block("bottleneck.block2", block("bottleneck.block1", x))
    for i in reversed(range(depth)):
        p = f"decoder.{i}"
        up = p + ".up_out"
        nodes.append(helper.make_node(
            "ConvTranspose", [x, init(p + ".up.weight"), init(p + ".up.bias")], [up],
            kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]))
        joined = p + ".concat_out"
        nodes.append(helper.make_node("Concat", [up, skips[i]], [joined], axis=1))
        x = block(p + ".block2", block(p + ".block1", joined))
    nodes.append(helper.make_node("Conv", [x, init("head.weight"), init("head.bias")], ["logits"],
                                  kernel_shape=[1, 1]))
    unused = set(weights) - used
    if unused:
        raise SystemExit(f"weights not used by the graph: {sorted(unused)}")
    graph = helper.make_graph(
        nodes, "scopepilot_residual_unet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, architecture["inputChannels"], None, None])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, architecture["classes"], None, None])],
        initialisers)
    # IR version 9 (opset 17) is what every recent ONNX Runtime reads.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--input", required=True)
    parser.add_argument("--logits")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    metadata_path = os.path.splitext(args.model)[0] + ".json"
    with open(metadata_path) as f:
        architecture = json.load(f)["architecture"]
    model = build_graph(load_file(args.model), architecture)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    image = np.load(args.input).astype(np.float32)
    x = image.reshape(1, 1, *image.shape)
    logits = session.run(None, {"input": x})[0]  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        logits = session.run(None, {"input": x})[0]
        best = min(best, time.perf_counter() - start)
    if args.logits:
        # 2-D (classes·height, width), which the ScopePilot side reads as an image.
        np.save(args.logits, logits[0].reshape(-1, logits.shape[-1]))
    json.dump({"height": image.shape[0], "width": image.shape[1], "best_seconds": best,
               "runtime": f"onnxruntime {ort.__version__}"}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
