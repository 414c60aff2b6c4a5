"""The Fisher vector: Perronnin, Sánchez and Mensink, "Improving the Fisher Kernel for Large-Scale
Image Classification", ECCV 2010 (after Perronnin and Dance, CVPR 2007) — the state of the art that
AlexNet beat in 2012.

An image is a set of local descriptors x_1..x_T (dense SIFT, reduced by PCA to D dimensions); a
Gaussian mixture with diagonal covariances (weights w_k, means mu_k, variances sigma_k^2, K
components) is their generative model. The image's representation is the gradient of the
average log-likelihood with respect to the means and variances, normalised by the (approximate,
diagonal) Fisher information, with gamma_t(k) the posterior of component k for x_t:

    G_mu_k    = 1 / (T sqrt(w_k))    sum_t gamma_t(k) (x_t - mu_k) / sigma_k
    G_sigma_k = 1 / (T sqrt(2 w_k))  sum_t gamma_t(k) [(x_t - mu_k)^2 / sigma_k^2 - 1]

concatenated as [G_mu_1 .. G_mu_K, G_sigma_1 .. G_sigma_K] (2KD numbers), then "improved": the
signed power normalisation sign(z)|z|^0.5 and L2 normalisation. A linear classifier on these
vectors is the paper's classifier.

PCA, the mixture, the classifier and SIFT are scikit-learn's and OpenCV's; this module only
extracts the descriptors on a grid and evaluates the two formulas above.
"""

import math
import numbers
import os

import cv2
import numpy as np

try:
    from sklearn.base import (
        BaseEstimator,
        ClassNamePrefixFeaturesOutMixin,
        TransformerMixin,
    )
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("kerasnets.classic needs scikit-learn: pip install 'kerasnets[train]' "
                      "(or pip install scikit-learn).") from None

#: SIFT's descriptor is 4x4 cells, each 3 keypoint scales (sigma = size / 2) wide: 6 keypoint sizes.
SIFT_PATCH_PER_SIZE = 6.0
#: OpenCV SIFT's scale space: base blur and layers per octave (cv2.SIFT_create defaults).
SIFT_SIGMA, SIFT_LAYERS = 1.6, 3
#: Descriptor rows per block when accumulating the gradients (bounds memory to ~block*K*D floats).
BLOCK = 512


def to_gray8(image):
    """An image array — (H, W), (H, W, 1), RGB (H, W, 3) or RGBA (H, W, 4); uint8, uint16, other
    integers in 0-255, or floats in [0, 1] or [0, 255] — as a uint8 grayscale (H, W) array."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise ValueError("expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); received shape "
            f"{a.shape}.")
    if a.size == 0:
        raise ValueError(f"the image is empty (shape {a.shape}).")
    if a.dtype == np.uint16:
        a = a / 257.0
    elif a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"unsupported pixel type {a.dtype}; use uint8, uint16 or float pixels.")
    elif np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ValueError("the image has NaN or infinite pixels.")
        if a.min() < 0 or a.max() > 255:
            raise ValueError(f"float pixels must be in [0, 1] or [0, 255]; received values from {a.min():g} to "
                             f"{a.max():g} (undo the network preprocessing, e.g. the [-1, 1] scaling, first).")
        a = a * 255.0 if a.max() <= 1.0 else a
    elif a.dtype != np.uint8 and (a.min() < 0 or a.max() > 255):
        raise ValueError(f"integer pixels must be in 0-255 ({a.dtype} values from {a.min()} to {a.max()}); "
                         "use uint16 or floats for other ranges.")
    if a.dtype != np.uint8:
        a = np.clip(np.round(a), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[-1] == 4:  # RGBA: composite on white, as kerasnets.images.load_image does
        alpha = a[..., 3:].astype(np.float32) / 255.0
        a = np.round(a[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY) if a.ndim == 3 else np.ascontiguousarray(a)


class DenseSIFT(BaseEstimator):
    """Dense SIFT: upright OpenCV SIFT descriptors (128-d) on a regular grid, at several patch sizes.

    A callable `image -> (T, 128) float32` for `FisherVector(descriptor=...)`. `patch_sizes` is
    the width in pixels of the square each descriptor describes (its 4x4 cells; VLFeat's
    4 x binSize), `step` the grid spacing in pixels; a keypoint is placed wherever its patch lies
    inside the image, the grid centred. Each patch size reads the level of SIFT's Gaussian scale
    space that matches it (as detected keypoints do). `max_side` first shrinks larger images so
    that their longer side is `max_side` pixels (None: never).
    """

    def __init__(self, step=4, patch_sizes=(16, 24, 32), max_side=None):
        self.step = step
        self.patch_sizes = patch_sizes
        self.max_side = max_side

    def _check(self):
        if not isinstance(self.step, numbers.Integral) or self.step < 1:
            raise ValueError(f"DenseSIFT step must be a positive integer (pixels); received {self.step!r}.")
        sizes = np.atleast_1d(np.asarray(self.patch_sizes, dtype=object))
        if sizes.size == 0 or not all(isinstance(s, numbers.Real) and s >= 4 for s in sizes):
            raise ValueError(f"DenseSIFT patch_sizes must be one or more sizes of at least 4 pixels; "
                             f"received {self.patch_sizes!r}.")
        if self.max_side is not None and (not isinstance(self.max_side,
            numbers.Integral) or self.max_side < max(sizes)):
            raise ValueError(f"DenseSIFT max_side must be None or an integer >= the largest patch size "
                             f"({max(sizes)}); received {self.max_side!r}.")
        return [float(s) for s in sizes]

    def keypoints(self, height, width):
        """The grid's `cv2.KeyPoint`s for an image of `height` x `width` pixels."""
        sizes = self._check()
        if min(height, width) < max(sizes):
            raise ValueError(f"a {height}x{width} image is too small for dense SIFT patches of {max(sizes):g} pixels "
                             f"(patch_sizes={self.patch_sizes}); use larger images or smaller patch_sizes.")
        points = []
        for patch in sizes:
            size = patch / SIFT_PATCH_PER_SIZE
            level = max(0, round(SIFT_LAYERS * math.log2((size / 2) / SIFT_SIGMA)))
            octave, layer = divmod(level, SIFT_LAYERS)
            axes = [self._centres(n, patch) for n in (height, width)]
            points += [cv2.KeyPoint(float(x), float(y), size, 0.0, 0.0, octave + (layer << 8))
                       for y in axes[0] for x in axes[1]]
        return points

    def _centres(self, n, patch):
        count = int((n - patch) // self.step) + 1
        first = (patch - 1) / 2 + ((n - patch) - (count - 1) * self.step) / 2
        return first + self.step * np.arange(count)

    def __call__(self, image):
        gray = to_gray8(image)
        self._check()
        if self.max_side is not None and max(gray.shape) > self.max_side:
            scale = self.max_side / max(gray.shape)
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        points = self.keypoints(*gray.shape)
        _, descriptors = cv2.SIFT_create().compute(gray, points)
        if descriptors is None or len(descriptors) != len(points):  # OpenCV keeps every provided keypoint
            raise RuntimeError(f"OpenCV SIFT returned {0 if descriptors is None else len(descriptors)} descriptors "
                               f"for {len(points)} keypoints.")
        return descriptors


def _check_gmm(gmm):
    if not isinstance(gmm, GaussianMixture) or gmm.covariance_type != "diag":
        raise ValueError("the Fisher vector needs a sklearn GaussianMixture with covariance_type='diag'; received "
            f"{gmm!r}.")
    check_is_fitted(gmm)


def fisher_vector(descriptors, gmm, *, power=0.5, l2_normalize=True):
    """The Fisher vector of one image's `descriptors` (T, D) under a fitted diagonal `gmm`:
    [G_mu (K, D), G_sigma (K, D)] flattened (2KD), power- and L2-normalised as in Perronnin et al.
    2010 (`power=1, l2_normalize=False`: the plain normalised Fisher score). A zero vector stays zero."""
    _check_gmm(gmm)
    if not isinstance(power, numbers.Real) or not 0 < power <= 1:
        raise ValueError(f"power must be in (0, 1] (0.5: signed square root, 1: none); received {power!r}.")
    x = np.asarray(descriptors, dtype=np.float64)
    means, variances, weights = gmm.means_, gmm.covariances_, gmm.weights_
    if x.ndim != 2 or len(x) == 0 or x.shape[1] != means.shape[1]:
        raise ValueError(f"descriptors must be a non-empty (T, {means.shape[1]}) array for this mixture; "
                         f"received shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("the descriptors contain NaN or infinite values.")
    sigmas = np.sqrt(variances)
    g_mu, g_sigma = np.zeros_like(means), np.zeros_like(means)
    for start in range(0, len(x), BLOCK):
        block = x[start:start + BLOCK]
        gamma = gmm.predict_proba(block)  # (t, K) posteriors
        z = (block[:, None, :] - means[None]) / sigmas[None]  # (t, K, D) standardised differences
        g_mu += np.einsum("tk,tkd->kd", gamma, z)
        g_sigma += np.einsum("tk,tkd->kd", gamma, z * z - 1.0)
    g_mu /= len(x) * np.sqrt(weights)[:, None]
    g_sigma /= len(x) * np.sqrt(2.0 * weights)[:, None]
    vector = np.concatenate([g_mu.ravel(), g_sigma.ravel()])
    if power != 1:
        vector = np.sign(vector) * np.abs(vector) ** power
    if l2_normalize:
        norm = np.linalg.norm(vector)
        vector = vector / norm if norm > 0 else vector
    return vector


def _images(X):
    """The images of X as a list: a sequence of arrays and/or paths, or an (N, H, W[, C]) array."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(f"expected a list of images or image paths; received the single path {X!r} (wrap it in a "
            "list).")
    if isinstance(X, np.ndarray):
        if X.ndim not in (1, 3, 4):
            raise ValueError(f"an array of images must have shape (N, H, W) or (N, H, W, C); received shape {X.shape}.")
        images = list(X)
    else:
        try:
            images = list(X)
        except TypeError:
            raise TypeError(f"expected a list of images or image paths; received {type(X).__name__}.") from None
    if not images:
        raise ValueError("expected at least one image; received none.")
    return images


class FisherVector(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Images -> improved Fisher vectors (Perronnin, Sánchez and Mensink, ECCV 2010), a scikit-learn transformer.

    `fit` extracts local descriptors from every image, keeps a random sample of `max_descriptors`
    (spread evenly over the images), fits PCA to `pca_components` dimensions (None: no PCA) and a
    diagonal `GaussianMixture` of `n_components` Gaussians on it. `transform` returns, per image,
    the 2 * n_components * D vector of `fisher_vector` (D: `pca_components`, or the descriptor's
    dimension): gradients with respect to the means and the variances, normalised by the Fisher
    information, signed power `power` (0.5: the signed square root) and L2 normalisation.

    Images: a list of arrays (gray or RGB(A), uint8 or float, any size; each may differ) or of file
    paths (read with `kerasnets.load_image`), or an (N, H, W[, C]) array. `descriptor` maps one image
    array to a (T, d) array of local descriptors: `DenseSIFT()` when None. `n_jobs` extracts
    descriptors in that many threads (OpenCV releases the GIL; -1: all cores), `verbose` shows
    progress bars.

    Fitted attributes: `descriptor_` (the descriptor function used), `n_descriptor_features_` (d),
    `pca_` (PCA or None), `gmm_` (GaussianMixture), `n_features_out_` (2 * n_components * D).
    """

    def __init__(self, n_components=64, *, descriptor=None, pca_components=64, max_descriptors=100_000, power=0.5,
                 l2_normalize=True, gmm_max_iter=100, n_jobs=None, verbose=False, random_state=None):
        self.n_components = n_components
        self.descriptor = descriptor
        self.pca_components = pca_components
        self.max_descriptors = max_descriptors
        self.power = power
        self.l2_normalize = l2_normalize
        self.gmm_max_iter = gmm_max_iter
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a list of images, not a feature matrix
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True  # image paths
        return tags

    def _check_params(self):
        def positive_int(name):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"FisherVector {name} must be an integer >= 1; received {value!r}.")

        positive_int("n_components")
        positive_int("max_descriptors")
        positive_int("gmm_max_iter")
        if self.pca_components is not None:
            positive_int("pca_components")
        if not isinstance(self.power, numbers.Real) or not 0 < self.power <= 1:
            raise ValueError(f"FisherVector power must be in (0, 1] (0.5: signed square root, 1: none); "
                             f"received {self.power!r}.")
        if self.descriptor is not None and not callable(self.descriptor):
            raise ValueError(f"FisherVector descriptor must be a function image -> (T, d) array, or None for "
                             f"DenseSIFT(); received {self.descriptor!r}.")

    def _per_image(self, images, descriptor, dimension=None, encode=None, what="descriptors"):
        """Yield (index, result) per image, in order: its descriptors, checked (all with `dimension`
        columns; by default that of the first image) and passed through `encode` in the worker."""
        from joblib import Parallel, delayed
        from threadpoolctl import threadpool_limits
        from tqdm.auto import tqdm

        from kerasnets.images import load_image

        def work(index, image):
            try:
                array = load_image(image) if isinstance(image, (str, bytes, os.PathLike)) else image
                d = np.asarray(descriptor(array), dtype=np.float64)
            except ValueError as e:
                raise ValueError(f"image {index}: {e}") from None
            if d.ndim != 2 or len(d) == 0:
                raise ValueError(f"image {index}: the descriptor function must return a non-empty (T, d) array; "
                                 f"it returned shape {d.shape}.")
            if not np.all(np.isfinite(d)):
                raise ValueError(f"image {index}: the descriptors contain NaN or infinite values.")
            if dimension is not None and d.shape[1] != dimension:
                raise ValueError(f"image {index}: {d.shape[1]}-dimensional descriptors, but the transformer was "
                                 f"fitted on {dimension}-dimensional ones.")
            return d if encode is None else encode(d)

        # Per-image matrices are small: one BLAS thread each (parallelism comes from n_jobs), which
        # also avoids BLAS threads spinning against each other on a busy machine.
        with threadpool_limits(limits=1, user_api="blas"):
            jobs = Parallel(n_jobs=self.n_jobs, prefer="threads", return_as="generator")(
                delayed(work)(i, image) for i, image in enumerate(images))
            yield from enumerate(tqdm(jobs, total=len(images), desc=what, unit="image", disable=not self.verbose))

    def fit(self, X, y=None):
        """Learn PCA and the Gaussian mixture from a sample of the images' descriptors. `y` is ignored."""
        self._check_params()
        images = _images(X)
        rng = check_random_state(self.random_state)
        descriptor = self.descriptor if self.descriptor is not None else DenseSIFT()
        keep = math.ceil(self.max_descriptors / len(images))
        sample = []
        for index, d in self._per_image(images, descriptor):
            if sample and d.shape[1] != sample[0].shape[1]:
                raise ValueError(f"image {index}: {d.shape[1]}-dimensional descriptors, but image 0 gave "
                                 f"{sample[0].shape[1]}-dimensional ones.")
            sample.append(d[rng.choice(len(d), keep, replace=False)] if len(d) > keep else d)
        sample = np.concatenate(sample)
        if len(sample) > self.max_descriptors:
            sample = sample[rng.choice(len(sample), self.max_descriptors, replace=False)]
        dimension = sample.shape[1]
        if self.pca_components is not None and self.pca_components > min(dimension, len(sample)):
            raise ValueError(f"FisherVector pca_components={self.pca_components} exceeds the descriptors' dimension "
                             f"({dimension}) or their number ({len(sample)}); use at most "
                             f"{min(dimension, len(sample))}.")
        if self.n_components > len(sample):
            raise ValueError(f"FisherVector n_components={self.n_components} exceeds the {len(sample)} descriptors "
                             "sampled to fit the mixture; use fewer components, more images, or a denser grid.")
        if np.ptp(sample, axis=0).max() == 0:
            raise ValueError(f"the {len(images)} images give {len(sample)} identical descriptors (no texture at all, "
                             "e.g. all-black or flat images); fit the FisherVector on real photos.")
        pca = None
        if self.pca_components is not None:
            pca = PCA(n_components=self.pca_components, random_state=rng)
            sample = pca.fit_transform(sample)
        gmm = GaussianMixture(n_components=self.n_components, covariance_type="diag", max_iter=self.gmm_max_iter,
                              random_state=rng, verbose=1 if self.verbose else 0)
        gmm.fit(sample)
        self.descriptor_, self.n_descriptor_features_, self.pca_, self.gmm_ = descriptor, dimension, pca, gmm
        self.n_features_out_ = 2 * self.n_components * (self.pca_components or dimension)
        return self

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def transform(self, X):
        """The improved Fisher vector of each image: an (N, 2 * n_components * D) float64 array."""
        check_is_fitted(self, "gmm_")
        self._check_params()
        images = _images(X)

        def encode(d):
            d = self.pca_.transform(d) if self.pca_ is not None else d
            return fisher_vector(d, self.gmm_, power=self.power, l2_normalize=self.l2_normalize)

        out = np.empty((len(images), self.n_features_out_))
        for index, vector in self._per_image(images, self.descriptor_, self.n_descriptor_features_, encode,
                                             "Fisher vectors"):
            out[index] = vector
        return out
