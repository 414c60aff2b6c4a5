"""kerasnets.classic.FisherVector against the paper's formulas written out in NumPy, the Fisher
score's zero at the model's own moments, scikit-learn's conventions, and apps/fisher_baseline.py."""

import csv
import os
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from kerasnets.classic import DenseSIFT, FisherVector, fisher_vector
from tests.conftest import ROOT


def identity(x):
    return x


def diag_gmm(weights, means, variances):
    """A fitted diagonal GaussianMixture with the given parameters (no EM)."""
    weights, means, variances = (np.asarray(a, dtype=np.float64) for a in (weights, means, variances))
    gmm = GaussianMixture(len(weights), covariance_type="diag")
    gmm.weights_, gmm.means_, gmm.covariances_ = weights, means, variances
    gmm.precisions_cholesky_, gmm.precisions_ = 1 / np.sqrt(variances), 1 / variances
    gmm.converged_, gmm.n_iter_, gmm.lower_bound_ = True, 0, 0.0
    return gmm


def reference(x, weights, means, variances, power=0.5, l2=True):
    """Perronnin, Sánchez and Mensink 2010: G_mu, G_sigma, power and L2 normalisation, one term at a
    time; the posteriors from the Gaussian densities themselves (not from scikit-learn)."""
    x, weights, means, variances = (np.asarray(a, dtype=np.float64) for a in (x, weights, means, variances))
    T, D = x.shape
    K = len(weights)
    log_p = np.empty((T, K))
    for t in range(T):
        for k in range(K):
            log_p[t, k] = np.log(weights[k]) - 0.5 * np.sum(
                np.log(2 * np.pi * variances[k]) + (x[t] - means[k]) ** 2 / variances[k])
    gamma = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    gamma /= gamma.sum(axis=1, keepdims=True)
    g_mu, g_sigma = np.zeros((K, D)), np.zeros((K, D))
    for k in range(K):
        sigma = np.sqrt(variances[k])
        for t in range(T):
            g_mu[k] += gamma[t, k] * (x[t] - means[k]) / sigma
            g_sigma[k] += gamma[t, k] * ((x[t] - means[k]) ** 2 / variances[k] - 1)
        g_mu[k] /= T * np.sqrt(weights[k])
        g_sigma[k] /= T * np.sqrt(2 * weights[k])
    v = np.concatenate([g_mu.ravel(), g_sigma.ravel()])
    if power != 1:
        v = np.sign(v) * np.abs(v) ** power
    return v / np.linalg.norm(v) if l2 else v


HAND = {"weights": [0.3, 0.7], "means": [[0.0, 1.0, -1.0], [2.0, 0.5, 1.0]],
        "variances": [[1.0, 0.5, 2.0], [0.25, 1.0, 1.5]]}
X_HAND = np.array([[0.1, 0.9, -1.2], [1.9, 0.4, 1.1], [1.0, 1.0, 0.0], [-0.5, 2.0, -3.0],
                   [2.2, 0.7, 0.8], [3.0, -1.0, 2.0], [0.6, 0.2, 0.4]])


@pytest.mark.parametrize("power, l2", [(0.5, True), (1, False), (0.3, True)])
def test_fisher_vector_is_the_papers_formula(power, l2):
    gmm = diag_gmm(**HAND)
    got = fisher_vector(X_HAND, gmm, power=power, l2_normalize=l2)
    assert got.shape == (2 * 2 * 3,)
    np.testing.assert_allclose(got, reference(X_HAND, *HAND.values(), power=power, l2=l2), rtol=1e-10, atol=1e-14)
    if l2:
        assert np.linalg.norm(got) == pytest.approx(1.0)


def test_agrees_with_scikit_image():
    """scikit-image's independent implementation (which also returns the weight gradient, K numbers
    first, and writes the variance gradient with the opposite sign)."""
    skimage_feature = pytest.importorskip("skimage.feature")
    gmm = diag_gmm(**HAND)
    theirs = skimage_feature.fisher_vector(X_HAND, gmm, improved=False)
    K, D = 2, 3
    ours = fisher_vector(X_HAND, gmm, power=1, l2_normalize=False)
    np.testing.assert_allclose(ours[:K * D], theirs[K:K + K * D], rtol=1e-10)
    np.testing.assert_allclose(ours[K * D:], -theirs[K + K * D:], rtol=1e-10)


def test_transformer_is_pca_then_the_formula():
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(int(rng.integers(20, 40)), 5)) + (i % 2) for i in range(8)]
    fv = FisherVector(3, descriptor=identity, pca_components=2, random_state=0).fit(images)
    out = fv.transform(images)
    assert out.shape == (8, 2 * 3 * 2) == (8, fv.n_features_out_)
    assert len(fv.get_feature_names_out()) == 12
    g = fv.gmm_
    for image, row in zip(images, out):
        np.testing.assert_allclose(row, reference(fv.pca_.transform(image), g.weights_, g.means_, g.covariances_),
                                   rtol=1e-9, atol=1e-12)


def test_zero_where_the_descriptors_have_the_mixtures_moments():
    """The Fisher score vanishes where, for every Gaussian, the posterior-weighted mean and variance
    of the descriptors are the Gaussian's own: here mu_k +- sigma_k per dimension, with Gaussians so
    far apart that the posteriors are exactly 0 or 1 (the counts need not follow the weights: the
    weight gradient is not part of the vector)."""
    means, sigmas = np.array([[0.0, 4.0], [100.0, -50.0]]), np.array([[0.5, 2.0], [1.0, 4.0]])
    gmm = diag_gmm([0.5, 0.5], means, sigmas ** 2)
    x = np.concatenate([means[0] + sigmas[0] * [[1, 1], [-1, -1]],
                        means[1] + sigmas[1] * [[1, -1], [-1, 1], [1, 1], [-1, -1]]])
    assert np.array_equal(gmm.predict_proba(x), [[1, 0]] * 2 + [[0, 1]] * 4)
    assert np.array_equal(fisher_vector(x, gmm, power=1, l2_normalize=False), np.zeros(8))
    assert np.array_equal(fisher_vector(x, gmm), np.zeros(8))  # stays zero through the normalisations
    moved = x.copy()
    moved[0, 0] += 0.25
    assert np.count_nonzero(fisher_vector(moved, gmm)) > 0


def test_near_zero_for_a_sample_of_the_mixture_itself():
    """The expectation of the Fisher score under the model is zero: a large sample from the mixture
    scores near zero, the same sample shifted by one standard deviation does not."""
    rng = np.random.default_rng(0)
    gmm = diag_gmm(**HAND)
    component = rng.choice(2, size=200_000, p=HAND["weights"])
    x = np.asarray(HAND["means"])[component] + rng.normal(size=(len(component),
        3)) * np.sqrt(HAND["variances"])[component]
    raw = fisher_vector(x, gmm, power=1, l2_normalize=False)
    shifted = fisher_vector(x + 1.0, gmm, power=1, l2_normalize=False)
    assert np.linalg.norm(raw) < 0.02
    assert np.linalg.norm(shifted) > 0.5


def test_invariant_to_descriptor_order():
    rng = np.random.default_rng(1)
    images = [rng.normal(size=(1100, 4)) * (1 + i) for i in range(3)]  # over one accumulation block
    fv = FisherVector(4, descriptor=identity, pca_components=3, random_state=0).fit(images)
    shuffled = [image[rng.permutation(len(image))] for image in images]
    np.testing.assert_allclose(fv.transform(shuffled), fv.transform(images), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fv.transform(images[::-1]), fv.transform(images)[::-1], rtol=1e-12)
    assert not np.allclose(fv.transform([images[0]]), fv.transform([images[1]]))


def stripes(n_per_class=12, size=32, seed=0):
    """Two classes of uint8 RGB images: horizontal and vertical stripes, random frequency, phase and noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    coordinates = np.arange(size)
    for label in (0, 1):
        for _ in range(n_per_class):
            wave = 127 + 100 * np.sin(2 * np.pi * coordinates / rng.uniform(5, 9) + rng.uniform(0, 2 * np.pi))
            image = np.tile(wave[:, None] if label == 0 else wave[None, :], (size, 1) if label else (1, size))
            image = np.clip(image + rng.normal(0, 20, (size, size)), 0, 255).astype(np.uint8)
            images.append(np.repeat(image[..., None], 3, axis=-1))
            labels.append(label)
    return images, np.array(labels)


SMALL_SIFT = DenseSIFT(step=8, patch_sizes=(16,))


def test_dense_sift_fisher_vectors_of_any_images(tmp_path):
    """Gray, RGB, RGBA, uint8, uint16, float and file paths; sizes differ; dimension 2KD, unit norm."""
    images, _ = stripes(4)
    base = images[0]
    gray = cv2.cvtColor(base, cv2.COLOR_RGB2GRAY)
    path = tmp_path / "stripes.png"
    assert cv2.imwrite(str(path), base[..., ::-1])
    variants = [base, gray, gray[..., None], base.astype(np.float32) / 255.0, base.astype(np.uint16) * 257,
                np.dstack([base, np.full(base.shape[:2], 255, np.uint8)]), str(path), path]
    fv = FisherVector(3, descriptor=SMALL_SIFT, pca_components=8, random_state=0).fit(images + [np.zeros((48, 40),
        np.uint8)])
    out = fv.transform(variants + [cv2.resize(base, (48, 64))])
    assert out.shape == (len(variants) + 1, 2 * 3 * 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0)
    for row in out[1:-1]:  # every encoding of the same picture gives its vector
        np.testing.assert_allclose(row, out[0], atol=1e-12)
    assert not np.allclose(out[-1], out[0])
    np.testing.assert_array_equal(fv.set_params(n_jobs=2).transform(variants), out[:-1])  # threads: same vectors


def test_importing_kerasnets_classic_does_not_load_keras():
    code = "import sys, kerasnets.classic; sys.exit('keras' in sys.modules or 'tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT}).returncode == 0


def test_dense_sift_grid():
    points = DenseSIFT(step=4, patch_sizes=(16, 32)).keypoints(40, 50)
    assert len(points) == 7 * 9 + 3 * 5  # (40-16)//4+1 rows x (50-16)//4+1 columns, then for 32 px
    xs = sorted({p.pt[0] for p in points if p.size == pytest.approx(16 / 6)})
    assert xs[0] == pytest.approx(49 - xs[-1]) == pytest.approx(7.5 + 1)  # centred: 2 spare pixels, 1 each side
    assert all(p.angle == 0 for p in points)  # upright
    descriptors = DenseSIFT(step=4, patch_sizes=(16, 32))(stripes(1, 50)[0][0][:40])
    assert descriptors.shape == (len(points), 128)


def test_scikit_learn_conventions():
    images, labels = stripes(12)
    fv = FisherVector(2, descriptor=DenseSIFT(step=8, patch_sizes=(16,)), pca_components=4, random_state=0)
    params = fv.get_params()
    assert params["n_components"] == 2 and params["descriptor__step"] == 8
    copy = clone(fv)
    assert copy is not fv and copy.get_params()["descriptor"] is not fv.descriptor
    assert {k: v for k, v in copy.get_params().items() if k != "descriptor"} == \
           {k: v for k, v in params.items() if k != "descriptor"}
    with pytest.raises(NotFittedError):
        fv.transform(images)
    assert fv.fit(images) is fv
    again = pickle.loads(pickle.dumps(fv)).transform(images[:3])
    np.testing.assert_array_equal(again, fv.transform(images[:3]))
    np.testing.assert_array_equal(clone(fv).fit(images).transform(images[:3]), again)  # random_state: reproducible

    pipeline = Pipeline([("fisher", fv), ("svm", LinearSVC())])
    search = GridSearchCV(pipeline, {"fisher__n_components": [1, 2], "fisher__descriptor__patch_sizes": [(24,)],
                                     "svm__C": [1.0]}, cv=2)
    search.fit(images, labels)
    assert search.best_params_["fisher__n_components"] in (1, 2)
    assert search.best_estimator_.named_steps["fisher"].descriptor_.patch_sizes == (24,)  # nested parameter set
    assert search.best_score_ >= 0.9
    test_images, test_labels = stripes(8, seed=1)
    assert search.score(test_images, test_labels) >= 0.9


@pytest.mark.parametrize("make, X, message", [
    (lambda: FisherVector(), [], "at least one image"),
    (lambda: FisherVector(), np.zeros((4, 4)), r"shape \(N, H, W\)"),
    (lambda: FisherVector(0), None, "n_components must be an integer >= 1"),
    (lambda: FisherVector(2.5), None, "n_components must be an integer >= 1"),
    (lambda: FisherVector(pca_components=0), None, "pca_components must be an integer >= 1"),
    (lambda: FisherVector(power=0), None, r"power must be in \(0, 1\]"),
    (lambda: FisherVector(descriptor="sift"), None, "descriptor must be a function"),
    (lambda: FisherVector(descriptor=DenseSIFT(step=0)), None, "step must be a positive integer"),
    (lambda: FisherVector(descriptor=DenseSIFT(patch_sizes=())), None, "patch_sizes must be"),
    (lambda: FisherVector(descriptor=SMALL_SIFT), [np.zeros((12, 40), np.uint8)], "12x40 image is too small"),
    (lambda: FisherVector(descriptor=SMALL_SIFT), [np.zeros((32, 32, 5))], r"image 0: expected an image of shape"),
    (lambda: FisherVector(descriptor=SMALL_SIFT), [np.full((32, 32), np.nan)], "NaN"),
    (lambda: FisherVector(descriptor=SMALL_SIFT), [np.full((32, 32), 300, np.int32)], "must be in 0-255"),
    (lambda: FisherVector(descriptor=SMALL_SIFT), [np.zeros((32, 32), complex)], "unsupported pixel type"),
    (lambda: FisherVector(descriptor=SMALL_SIFT), ["/no/such/image.png"], "image 0: /no/such/image.png: no such file"),
    (lambda: FisherVector(descriptor=lambda image: np.zeros((0, 3))), [np.zeros(1)], "non-empty"),
    (lambda: FisherVector(descriptor=identity, pca_components=None), [np.zeros((5, 2)), np.zeros((5, 3))],
     "image 1: 3-dimensional descriptors, but image 0 gave 2"),
    (lambda: FisherVector(descriptor=identity, pca_components=200), [np.zeros((500, 3))], "pca_components=200 exceeds"),
    (lambda: FisherVector(50, descriptor=identity, pca_components=None), [np.zeros((20, 3))],
     "n_components=50 exceeds the 20 descriptors"),
])
def test_bad_input_is_a_clear_error(make, X, message):
    images = [np.zeros((32, 32), np.uint8)] if X is None else X
    with pytest.raises(ValueError, match=message):
        make().fit(images)


def test_a_single_path_or_a_non_sequence_is_a_type_error():
    with pytest.raises(TypeError, match="single path 'photo.png'"):
        FisherVector().fit("photo.png")
    with pytest.raises(TypeError, match="received int"):
        FisherVector().fit(3)


def test_transform_checks_the_descriptor_dimension():
    fv = FisherVector(2, descriptor=identity, pca_components=None, random_state=0).fit([np.eye(6)[:, :3] + 0.1 * i
                                                                                          for i in range(3)])
    with pytest.raises(ValueError, match="image 0: 4-dimensional descriptors, but the transformer was fitted on 3"):
        fv.transform([np.zeros((5, 4))])
    with pytest.raises(ValueError, match="covariance_type='diag'"):
        fisher_vector(np.zeros((2, 3)), GaussianMixture(2))
    with pytest.raises(ValueError, match=r"power must be in \(0, 1\]"):
        fisher_vector(X_HAND, diag_gmm(**HAND), power=2)
    with pytest.raises(ValueError, match=r"non-empty \(T, 3\) array"):
        fisher_vector(X_HAND[:, :2], diag_gmm(**HAND))


# -- apps/fisher_baseline.py ------------------------------------------------------------------------------------------


def test_demo_end_to_end(tmp_path):
    """Digits as an image folder, reduced: every method on the same split, the table written."""
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "apps", "fisher_baseline.py"), "--demo", "--max-per-class", "20",
         "--components", "4", "--pca", "16", "--step", "8", "--epochs", "15",
         "--features-model", "lenet5", "--features-weights", "none", "--output", str(out)],
        check=False, capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(out)) == ["comparison.csv", "comparison.md", "comparison.png"]
    with open(out / "comparison.csv") as f:
        rows = {r["method"].split(" ")[0]: r for r in csv.DictReader(f)}
    assert list(rows) == ["Fisher", "LeNet-5", "lenet5"]
    assert float(rows["Fisher"]["accuracy"]) >= 0.7  # chance: 0.1
    assert float(rows["LeNet-5"]["accuracy"]) >= 0.4
    assert int(rows["Fisher"]["feature_dimension"]) == 2 * 4 * 16
    assert int(rows["LeNet-5"]["feature_dimension"]) == 84
    assert all(float(r["training_seconds"]) > 0 for r in rows.values())
    table = (out / "comparison.md").read_text()
    assert "200 training and 200 held-out images" in table and "| Fisher vector + linear SVM" in table
    assert cv2.imread(str(out / "comparison.png")) is not None
    assert "Fisher vector + linear SVM (Perronnin et al. 2010): " in result.stdout


def test_app_errors_and_unavailable_features(tmp_path, capsys):
    from kerasnets.cli import fisher_baseline as app

    out = tmp_path / "out"
    assert app.main(["--data", str(tmp_path / "missing"), "--output", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "missing" in error and "\n" not in error
    assert not out.exists() or os.listdir(out) == []  # nothing written
    with pytest.raises(SystemExit):
        app.main(["--demo", "--data", str(tmp_path)])
    with pytest.raises(SystemExit):
        app.main(["--demo", "--methods", "fisher,sift"])

    import keras

    args = app.parse_args(["--demo", "--features-model", "no_such_network"])
    row = app.run_features(args, keras, None, None)
    assert row["accuracy"] is None and row["notes"].startswith("unavailable: no_such_network is not a registered")
    args = app.parse_args(["--demo", "--features-model", "lenet5"])  # registered, but no ImageNet weights exist
    row = app.run_features(args, keras, None, None)
    assert row["accuracy"] is None and row["notes"].startswith("unavailable: ") and "ImageNet" in row["notes"]
