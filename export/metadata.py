"""TFLite model metadata for Android's ImageClassifier and ObjectDetector (TFLite Task Library, MediaPipe).

Written with the published metadata schema (`schema/metadata_schema.fbs`, compiled by flatc) and
TensorFlow's TFLite model schema, in the layout TFLite Support's metadata writers produce: the
`ModelMetadata` flatbuffer (file identifier "M001") in a model buffer referenced by a metadata
entry named `TFLITE_METADATA`, and the label file zipped onto the end of the model, where readers
find it as an associated file of type TENSOR_AXIS_LABELS (classifiers) or TENSOR_VALUE_LABELS (detectors).

A detector's four outputs carry the names MediaPipe's ObjectDetector looks them up by ("location",
"category", "score", "number of detections"); the location tensor has BoundingBoxProperties (BOUNDARIES,
RATIO coordinates, `index` = where left, top, right, bottom sit in each box: [1, 0, 3, 2] for
TFLite_Detection_PostProcess's ymin, xmin, ymax, xmax), and the labels hang on the category tensor.
"""

import io
import zipfile
from dataclasses import dataclass

import flatbuffers
import numpy as np

from export.schema import metadata_schema_generated as meta

METADATA_NAME = "TFLITE_METADATA"
METADATA_FILE_IDENTIFIER = b"M001"
MODEL_FILE_IDENTIFIER = b"TFL3"
MIN_PARSER_VERSION = "1.0.0"  # only 1.0.0 features are used (see the schema's version history)
LABELS_FILE = "labels.txt"


def _model_schema():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def _image_input(mean, std, value_range):
    tensor = meta.TensorMetadataT()
    tensor.name = "image"
    tensor.description = "RGB image; the network's preprocessing is part of the model."
    tensor.content = meta.ContentT()
    tensor.content.contentPropertiesType = meta.ContentProperties.ImageProperties
    tensor.content.contentProperties = meta.ImagePropertiesT()
    tensor.content.contentProperties.colorSpace = meta.ColorSpaceType.RGB
    normalization = meta.ProcessUnitT()
    normalization.optionsType = meta.ProcessUnitOptions.NormalizationOptions
    normalization.options = meta.NormalizationOptionsT()
    normalization.options.mean = list(mean)
    normalization.options.std = list(std)
    tensor.processUnits = [normalization]
    tensor.stats = meta.StatsT()
    tensor.stats.min, tensor.stats.max = [value_range[0]], [value_range[1]]
    return tensor


def _probability_output():
    tensor = meta.TensorMetadataT()
    tensor.name = "probability"
    tensor.description = "Probabilities of the labels respectively."
    tensor.content = meta.ContentT()
    tensor.content.contentPropertiesType = meta.ContentProperties.FeatureProperties
    tensor.content.contentProperties = meta.FeaturePropertiesT()
    tensor.stats = meta.StatsT()
    tensor.stats.min, tensor.stats.max = [0.0], [1.0]
    labels = meta.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "Labels for categories that the model can recognize."
    labels.type = meta.AssociatedFileType.TENSOR_AXIS_LABELS
    tensor.associatedFiles = [labels]
    return tensor


def _detection_output(name, description, properties_type=None, properties=None, labels=False):
    tensor = meta.TensorMetadataT()
    tensor.name = name
    tensor.description = description
    tensor.content = meta.ContentT()
    tensor.content.contentPropertiesType = properties_type or meta.ContentProperties.FeatureProperties
    tensor.content.contentProperties = properties or meta.FeaturePropertiesT()
    if name != "number of detections":
        tensor.content.range = meta.ValueRangeT()  # the value dimension TFLite Support's writer records
        tensor.content.range.min = tensor.content.range.max = 2
    if labels:
        labels_file = meta.AssociatedFileT()
        labels_file.name = LABELS_FILE
        labels_file.description = "Labels for categories that the model can detect."
        labels_file.type = meta.AssociatedFileType.TENSOR_VALUE_LABELS
        tensor.associatedFiles = [labels_file]
    return tensor


#: Output tensor names, in the order of TFLite_Detection_PostProcess's outputs (MediaPipe's names).
DETECTOR_OUTPUTS = ("location", "category", "score", "number of detections")
#: Where left, top, right, bottom sit in a (ymin, xmin, ymax, xmax) box.
BOX_INDEX = (1, 0, 3, 2)


def _detector_outputs():
    box = meta.BoundingBoxPropertiesT()
    box.index = list(BOX_INDEX)
    box.type = meta.BoundingBoxType.BOUNDARIES
    box.coordinateType = meta.CoordinateType.RATIO
    return [
        _detection_output("location", "The locations of the detected boxes: ymin, xmin, ymax, xmax, "
                          "relative to the image (0 to 1).", meta.ContentProperties.BoundingBoxProperties, box),
        _detection_output("category", "The categories of the detected boxes (0-based label indices).", labels=True),
        _detection_output("score", "The scores of the detected boxes."),
        _detection_output("number of detections", "The number of the detected boxes."),
    ]


def build_metadata(name, description, mean=(0.0,), std=(1.0,), value_range=(0.0, 255.0), version="v1",
                   author="kerasnets", license_="Apache License. Version 2.0", detector=False):
    """The ModelMetadata flatbuffer of an image classifier (one image input, one probability output) or,
    with `detector=True`, of an object detector (one image input, the four detection outputs)."""
    model = meta.ModelMetadataT()
    model.name = name
    model.description = description
    model.version = version
    model.author = author
    model.license = license_
    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [_image_input(mean, std, value_range)]
    subgraph.outputTensorMetadata = _detector_outputs() if detector else [_probability_output()]
    if detector:
        group = meta.TensorGroupT()
        group.name = "detection_result"
        group.tensorNames = list(DETECTOR_OUTPUTS[:3])
        subgraph.outputTensorGroups = [group]
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), METADATA_FILE_IDENTIFIER)
    return bytes(builder.Output())


def attach(model_bytes, metadata_bytes, labels):
    """Return the model with the metadata buffer added and the label file zipped onto its end."""
    schema = _model_schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model_bytes, 0))
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME.encode()]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata_bytes, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(model_bytes) + len(metadata_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=MODEL_FILE_IDENTIFIER)
    out = io.BytesIO(bytes(builder.Output()))
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, mode="a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_FILE, "\n".join(labels) + "\n")
    return out.getvalue()


@dataclass
class ModelMetadataSummary:
    """What a reader of the exported file sees (used by `verify` and the tests)."""

    name: str
    description: str
    min_parser_version: str
    input_name: str
    color_space: int
    mean: list
    std: list
    output_name: str
    label_file: str
    label_file_type: int
    labels: list
    output_names: list = None
    box_properties: dict = None


def read(model_bytes):
    """Read back the metadata and the zipped label file of an exported model."""
    schema = _model_schema()
    model = schema.Model.GetRootAs(model_bytes, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == METADATA_NAME:
            data = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            break
    else:
        raise ValueError(f"the model has no {METADATA_NAME} metadata")
    if not meta.ModelMetadata.ModelMetadataBufferHasIdentifier(data, 0):
        raise ValueError("the metadata buffer does not carry the M001 identifier")
    metadata = meta.ModelMetadataT.InitFromObj(meta.ModelMetadata.GetRootAs(data, 0))
    subgraph = metadata.subgraphMetadata[0]
    image, outputs = subgraph.inputTensorMetadata[0], subgraph.outputTensorMetadata
    output = next((o for o in outputs if o.associatedFiles), outputs[0])
    norm = image.processUnits[0].options
    label_file = output.associatedFiles[0]
    box = next((o.content.contentProperties for o in outputs
                if o.content and o.content.contentPropertiesType == meta.ContentProperties.BoundingBoxProperties), None)
    with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
        labels = archive.read(label_file.name.decode()).decode().splitlines()
    return ModelMetadataSummary(
        name=metadata.name.decode(), description=metadata.description.decode(),
        min_parser_version=metadata.minParserVersion.decode(), input_name=image.name.decode(),
        color_space=image.content.contentProperties.colorSpace, mean=list(norm.mean), std=list(norm.std),
        output_name=output.name.decode(), label_file=label_file.name.decode(), label_file_type=label_file.type,
        labels=labels, output_names=[o.name.decode() for o in outputs],
        box_properties=None if box is None else {"index": list(box.index), "type": box.type,
                                                 "coordinate_type": box.coordinateType},
    )
