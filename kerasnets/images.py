"""Reading photos for the networks: any file OpenCV decodes, as 8-bit RGB, with clear errors.

Grayscale, gray+alpha, RGBA (composited on white), palette, 16-bit and floating-point images are
all converted to `uint8` RGB, and the EXIF orientation of phone photos is applied (JPEG, PNG,
WebP; OpenCV applies TIFF's itself). Missing, unreadable, corrupt, truncated and oversized files
raise `ImageError` with a one-line message that names the file and the problem.

Oversized: the width and height are read from the file's header before anything is decoded, and
images above `max_image_pixels()` (150 megapixels; `KERASNETS_MAX_IMAGE_PIXELS` changes it) are
refused, so a small file claiming 20000x20000 pixels (a "decompression bomb") costs nothing.
"""

import os
import struct

from kerasnets.errors import ImageError  # noqa: F401  (the class of kerasnets.errors; this path stays an alias)
from kerasnets.utils import OutputError, atomic_output, captured_stderr, check_output

MAX_IMAGE_PIXELS_ENV = "KERASNETS_MAX_IMAGE_PIXELS"
DEFAULT_MAX_IMAGE_PIXELS = 150_000_000
# OpenCV's own limit for the formats whose header kerasnets does not read (set before cv2 decodes anything)
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", os.environ.get(MAX_IMAGE_PIXELS_ENV, str(DEFAULT_MAX_IMAGE_PIXELS)))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")


def max_image_pixels():
    """The largest image (width x height) `load_image` decodes: `KERASNETS_MAX_IMAGE_PIXELS`, else 150 million."""
    text = os.environ.get(MAX_IMAGE_PIXELS_ENV)
    if text is None:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value < 1:
        raise ImageError(f"{MAX_IMAGE_PIXELS_ENV}={text!r} is not a positive number of pixels (e.g. 300000000).")
    return value


def _tiff_tags(data, start, wanted):
    """The values of the `wanted` tags of the first IFD of a TIFF structure at `data[start:]` (EXIF
    blocks are TIFF structures); {} when it is malformed."""
    found = {}
    try:
        order = {b"II": "<", b"MM": ">"}[bytes(data[start:start + 2])]
        (offset,) = struct.unpack_from(order + "I", data, start + 4)
        (count,) = struct.unpack_from(order + "H", data, start + offset)
        for i in range(min(count, 1000)):
            tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, start + offset + 2 + 12 * i)
            if tag in wanted:
                found[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), value)[0]
    except (KeyError, struct.error):
        return found
    return found


def _exif_orientation(data, start):
    if bytes(data[start:start + 6]) == b"Exif\0\0":
        start += 6
    return _tiff_tags(data, start, {0x0112}).get(0x0112, 1)


def image_header(data):
    """`(width, height, orientation)` from the header of an encoded image (PNG, JPEG, GIF, BMP,
    WebP, TIFF, PNM), without decoding it; `orientation` is the EXIF value (1 = as stored) where
    the decoder ignores it, else 1. None for other formats or a header too damaged to read."""
    data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    head = bytes(data[:32])
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            width, height = struct.unpack_from(">II", data, 16)
            orientation, at = 1, 8
            while at + 8 <= len(data):
                length, kind = struct.unpack_from(">I4s", data, at)
                if kind == b"eXIf":
                    orientation = _exif_orientation(data, at + 8)
                if kind in (b"IDAT", b"IEND"):
                    break
                at += 12 + length
            return width, height, orientation
        if head.startswith(b"\xff\xd8"):
            at, size, orientation = 2, None, 1
            while at + 4 <= len(data) and size is None:
                if data[at] != 0xFF:
                    return None
                marker = data[at + 1]
                if marker == 0xFF:
                    at += 1
                    continue
                if marker in (0x01, *range(0xD0, 0xD8)):
                    at += 2
                    continue
                (length,) = struct.unpack_from(">H", data, at + 2)
                if marker == 0xE1 and orientation == 1:
                    orientation = _exif_orientation(data, at + 4)
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    height, width = struct.unpack_from(">HH", data, at + 5)
                    size = (width, height)
                if marker == 0xDA:
                    break
                at += 2 + length
            return (*size, orientation) if size else None
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return (*struct.unpack_from("<HH", data, 6), 1)
        if head.startswith(b"BM"):
            (dib,) = struct.unpack_from("<I", data, 14)
            width, height = struct.unpack_from("<HH" if dib == 12 else "<ii", data, 18)
            return abs(width), abs(height), 1
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            size, orientation, at = None, 1, 12
            while at + 8 <= len(data):
                kind, length = struct.unpack_from("<4sI", data, at)
                body = at + 8
                if kind == b"VP8X":
                    w, h = data[body + 4:body + 7], data[body + 7:body + 10]
                    size = (int.from_bytes(w, "little") + 1, int.from_bytes(h, "little") + 1)
                elif kind == b"VP8 " and size is None:
                    w, h = struct.unpack_from("<HH", data, body + 6)
                    size = (w & 0x3FFF, h & 0x3FFF)
                elif kind == b"VP8L" and size is None:
                    (bits,) = struct.unpack_from("<I", data, body + 1)
                    size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
                elif kind == b"EXIF":
                    orientation = _exif_orientation(data, body)
                at = body + length + (length & 1)
            return (*size, orientation) if size else None
        if head[:4] in (b"II*\0", b"MM\0*"):
            tags = _tiff_tags(data, 0, {256, 257})
            return (tags[256], tags[257], 1) if len(tags) == 2 else None  # OpenCV applies TIFF orientation itself
        if head[:1] == b"P" and head[1:2] in b"123456":
            tokens = []
            for line in bytes(data[2:1024]).split(b"\n"):
                tokens += line.split(b"#")[0].split()
                if len(tokens) >= 2:
                    return int(tokens[0]), int(tokens[1]), 1
    except (struct.error, ValueError, IndexError):
        return None
    return None


def apply_orientation(image, orientation):
    """Turn a decoded image (H, W[, C]) as EXIF `orientation` (1-8) says, so it shows upright."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return image.swapaxes(0, 1)
    if orientation == 6:
        return image.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:
        return image.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return image.swapaxes(0, 1)[::-1]
    return image


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
    header = image_header(data)
    limit = max_image_pixels()
    if header is not None and header[0] * header[1] > limit:
        width, height, _ = header
        raise ImageError(
            f"{path}: the image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), too large to "
            f"decode safely: the limit is {limit / 1e6:g} megapixels. Downscale it, or raise the limit with the "
            f"environment variable {MAX_IMAGE_PIXELS_ENV}={width * height}."
        )
    with captured_stderr() as decoder_messages:
        try:
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error as e:
            if "MAX_IMAGE_PIXELS" in str(e) or "CV_IO_MAX_IMAGE" in str(e):
                raise ImageError(
                    f"{path}: the image is too large to decode safely (over the limit of {limit / 1e6:g} "
                    f"megapixels); downscale it, or raise the limit with {MAX_IMAGE_PIXELS_ENV} (and "
                    "OPENCV_IO_MAX_IMAGE_PIXELS)."
                ) from None
            raise ImageError(f"{path}: cannot be decoded ({str(e).strip().splitlines()[-1]}).") from None
    if image is None:
        detail = decoder_messages()
        raise ImageError(
            f"{path}: not a readable image (corrupt, truncated, or not an image format OpenCV decodes)"
            + (f": {detail.splitlines()[-1]}" if detail else ".")
        )
    if header is not None and header[2] != 1:
        image = np.ascontiguousarray(apply_orientation(image, header[2]))
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


def expand_images(paths, option="--image"):
    """Image files from files and folders as given (a folder gives the images directly inside it, sorted),
    in order, each once. A folder with no image, or a path that does not exist, is one ImageError naming it."""
    out = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            found = list_images(path)
            if not found:
                raise ImageError(f"{option} {path}: the folder holds no image ({', '.join(IMAGE_SUFFIXES[:4])}, ...); "
                                 "give image files or a folder of them.")
            out.extend(p for p in found if p not in out)
        elif not os.path.exists(path):
            raise ImageError(f"{option} {path}: no such file or folder.")
        elif path not in out:
            out.append(path)
    return out


def writable_image_suffixes():
    """The file suffixes OpenCV can write images as (lower case, with the dot)."""
    candidates = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".avif", ".jp2",
                  ".exr", ".hdr", ".gif")
    return tuple(suffix for suffix in candidates if cv2.haveImageWriter("x" + suffix))


def check_image_output(path, inputs=(), what="output image"):
    """Before any work: `path` can take an image OpenCV writes (its suffix, default .png), its folder
    exists and is writable, it is not a folder and not one of `inputs`. Raises ImageError."""
    try:
        return check_output(path, what=what, suffixes=writable_image_suffixes(), inputs=inputs, default_suffix=".png")
    except OutputError as e:
        raise ImageError(str(e)) from None


def save_image(path, image_rgb):
    """Write a uint8 RGB image; the format follows the suffix (default PNG). Encoding comes first, so
    an unsupported suffix fails before anything is written, and the file appears atomically."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1] or ".png"
    try:
        ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(np.asarray(image_rgb)[..., ::-1]))
    except cv2.error:  # OpenCV 5 raises where 4 returned False
        ok = False
    if not ok:
        raise ImageError(f"{path}: OpenCV cannot write images with the suffix {suffix!r}; use .png or .jpg.")
    with atomic_output(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


def check_rgb_images(images, what="detect"):
    """Check a list (or `[N, H, W, 3]` array) of RGB images before a network sees them: each `(H, W, 3)`,
    numeric, with finite pixels. Raises ImageError naming the image and the fix; returns the list.

    For the detectors' `detect` (a grayscale array or a NaN image otherwise gives a raw Keras error or
    no detections without a word)."""
    checked = []
    for index, image in enumerate(images if not isinstance(images, np.ndarray) or images.ndim != 3 else [images]):
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[-1] != 3:
            hint = (" (a grayscale image: repeat it into 3 channels, e.g. np.repeat(image[..., None], 3, -1))"
                    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 1) else "")
            raise ImageError(f"{what}: image {index} has shape {array.shape}; RGB images (H, W, 3) are needed{hint}.")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise ImageError(f"{what}: image {index} has {array.dtype} pixels; give numbers (uint8 or float 0-255).")
        if array.size == 0:
            raise ImageError(f"{what}: image {index} is empty (shape {array.shape}).")
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise ImageError(f"{what}: image {index} has NaN or infinite pixels; give RGB pixels 0-255.")
        checked.append(array)
    return checked
