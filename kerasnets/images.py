"""Reading photos for the networks: any file OpenCV decodes, as 8-bit RGB, with clear errors.

Grayscale, gray+alpha, RGBA (composited on white), palette, 16-bit and floating-point images are
all converted to `uint8` RGB. Missing, unreadable, corrupt, truncated and oversized files raise
`ImageError` with a one-line message that names the file and the problem.
"""

import os

import cv2
import numpy as np

from kerasnets.utils import atomic_output, captured_stderr


class ImageError(ValueError):
    """An image file could not be read; the message names the file and the problem."""


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")


def to_rgb8(image):
    """Convert a decoded OpenCV image (BGR order, any depth, 1-4 channels) to uint8 RGB."""
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round()
    elif np.issubdtype(image.dtype, np.floating):
        image = np.clip(image, 0.0, 1.0) * 255.0 if image.max(initial=0) <= 1.0 else image
    elif image.dtype != np.uint8:
        raise ImageError(f"unsupported pixel type {image.dtype}")
    image = np.clip(image, 0, 255).astype(np.uint8) if image.dtype != np.uint8 else image
    if image.ndim == 2:
        image = image[..., None]
    channels = image.shape[-1]
    if channels in (2, 4):  # gray+alpha or BGRA: composite on a white background
        alpha = image[..., -1:].astype(np.float32) / 255.0
        color = image[..., :-1].astype(np.float32)
        image = (color * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
        channels -= 1
    if channels == 1:
        return np.repeat(image, 3, axis=-1)
    if channels == 3:
        return np.ascontiguousarray(image[..., ::-1])
    raise ImageError(f"unsupported number of channels: {channels}")


def load_image(path):
    """Read an image file as an `(H, W, 3)` uint8 RGB array."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a folder, not an image file.")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageError(f"{path}: cannot be read ({e.strerror}).") from None
    if data.size == 0:
        raise ImageError(f"{path}: the file is empty.")
    with captured_stderr() as decoder_messages:
        try:
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error as e:
            if "MAX_IMAGE_PIXELS" in str(e) or "CV_IO_MAX_IMAGE" in str(e):
                raise ImageError(
                    f"{path}: the image is too large to decode safely (over the OpenCV limit "
                    "OPENCV_IO_MAX_IMAGE_PIXELS); downscale it first."
                ) from None
            raise ImageError(f"{path}: cannot be decoded ({str(e).strip().splitlines()[-1]}).") from None
    if image is None:
        detail = decoder_messages()
        raise ImageError(
            f"{path}: not a readable image (corrupt, truncated, or not an image format OpenCV decodes)"
            + (f": {detail.splitlines()[-1]}" if detail else ".")
        )
    try:
        return to_rgb8(image)
    except ImageError as e:
        raise ImageError(f"{path}: {e}.") from None


def resize(image, size):
    """Resize an RGB image to `size` = (height, width): area averaging to shrink, bicubic to enlarge."""
    height, width = size
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation)


def center_crop(image, size, crop_fraction=0.875):
    """The evaluation view of an RGB image: scaled so that `size` = (height, width) (or one int)
    covers `crop_fraction` of it along its shorter side (224 px out of 256 for 0.875), then the
    centre `size` cut out; `crop_fraction=1` keeps the whole shorter side."""
    height, width = (size, size) if isinstance(size, int) else size
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1]; received {crop_fraction}.")
    scale = max(height / image.shape[0], width / image.shape[1]) / crop_fraction
    scaled = (max(height, round(image.shape[0] * scale)), max(width, round(image.shape[1] * scale)))
    image = resize(image, scaled)
    top, left = (scaled[0] - height) // 2, (scaled[1] - width) // 2
    return np.ascontiguousarray(image[top:top + height, left:left + width])


def list_images(folder):
    """The image files directly inside `folder` (by suffix), sorted."""
    return sorted(
        os.path.join(folder, name) for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(os.path.join(folder, name))
    )


def save_image(path, image_rgb):
    """Write a uint8 RGB image; the format follows the suffix (default PNG). Encoding comes first, so
    an unsupported suffix fails before anything is written, and the file appears atomically."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1] or ".png"
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(np.asarray(image_rgb)[..., ::-1]))
    if not ok:
        raise ImageError(f"{path}: OpenCV cannot write images with the suffix {suffix!r}; use .png or .jpg.")
    with atomic_output(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
