"""Custom layers against NumPy references; shape inference; config round trips."""

import keras
import numpy as np
import pytest

from kerasnets.models.layers import ConvHighway, Highway, LocalResponseNormalization, ScaledResidual, StochasticDepth


def lrn_reference(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    """Krizhevsky et al. 2012, Sec. 3.3, written as the paper's sum over neighbouring channels."""
    out = np.empty_like(a, dtype=np.float64)
    channels = a.shape[-1]
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        out[..., i] = a[..., i] / (k + alpha * np.sum(a[..., lo:hi + 1] ** 2, axis=-1)) ** beta
    return out


def test_lrn_matches_the_paper_formula():
    a = np.random.default_rng(0).uniform(0, 30, (2, 3, 4, 9)).astype("float32")
    layer = LocalResponseNormalization()
    assert (layer.depth_radius, layer.bias, layer.alpha, layer.beta) == (2, 2.0, 1e-4, 0.75)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(a)), lrn_reference(a), rtol=1e-5)
    wide = LocalResponseNormalization(depth_radius=3, bias=1.0, alpha=1e-3, beta=0.5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(wide(a)), lrn_reference(a, n=7, k=1.0, alpha=1e-3, beta=0.5), rtol=1e-5
    )


def test_highway_matches_its_formula():
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    layer = Highway(transform_bias=-1.5)
    y = keras.ops.convert_to_numpy(layer(x))
    wh, bh, wt, bt = (keras.ops.convert_to_numpy(w) for w in (layer.kernel_h, layer.bias_h, layer.kernel_t,
        layer.bias_t))
    assert np.all(bt == -1.5)
    h = np.maximum(x @ wh + bh, 0)
    t = 1 / (1 + np.exp(-(x @ wt + bt)))
    np.testing.assert_allclose(y, h * t + x * (1 - t), rtol=1e-5, atol=1e-6)


def test_highway_starts_near_the_identity_with_a_very_negative_gate_bias():
    x = np.random.default_rng(2).normal(size=(3, 5)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(Highway(transform_bias=-30.0)(x)), x, atol=1e-6)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (LocalResponseNormalization(), (None, 7, 7, 16)),
        (Highway(), (None, 12)),
        (ConvHighway(kernel_size=3), (None, 8, 8, 4)),
        (ScaledResidual(0.2), (None, 5, 5, 8)),
    ],
)
def test_shape_inference_and_config_round_trip(layer, shape):
    inputs = [keras.Input(shape[1:]), keras.Input(shape[1:])] if isinstance(layer,
        ScaledResidual) else keras.Input(shape[1:])
    outputs = layer(inputs)
    assert tuple(outputs.shape) == shape
    model = keras.Model(inputs, outputs)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    data = [np.random.default_rng(3).normal(size=(2, *shape[1:])).astype("float32") for _ in range(2)]
    data = data if isinstance(inputs, list) else data[0]
    np.testing.assert_allclose(clone.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-6)
    restored = type(layer).from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()


def test_conv_highway_counts_its_multiply_adds():
    import kerasnets

    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, ConvHighway(kernel_size=3)(inputs))
    assert kerasnets.profile(model).macs == 2 * 8 * 8 * 4 * 3 * 3 * 4


def test_stochastic_depth_drops_whole_samples_and_is_off_when_frozen():
    layer = StochasticDepth(0.5, noise_shape=(None, 1, 1, 1), seed=0)
    x = np.ones((64, 2, 2, 3), "float32")
    out = np.asarray(layer(x, training=True))
    per_sample = out.reshape(64, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}                       # dropped, or kept and scaled by 1/(1-p)
    assert all(len(set(row)) == 1 for row in per_sample) and 10 < (per_sample[:, 0] == 0).sum() < 54
    np.testing.assert_array_equal(layer(x, training=False), x)
    layer.trainable = False                                                # frozen: as at inference
    np.testing.assert_array_equal(layer(x, training=True), x)
    again = StochasticDepth.from_config(layer.get_config())
    assert again.rate == 0.5 and not again.trainable
