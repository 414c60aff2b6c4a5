"""The R-CNN family as torchvision composes it: `GeneralizedRCNN = transform + backbone (+ FPN) + rpn + roi_heads`.

* Faster R-CNN (Ren et al. 2015): the proposals come from a `RegionProposalNetwork` on the backbone's
  stride-16 map (C4) or on a feature pyramid (Lin et al. 2017, `fpn=True`, strides 4-32, `MultiScaleRoIAlign`).
* Mask R-CNN (He et al. 2017): the same with a mask head in the `RoIHeads` (`masks=True`).
* Fast R-CNN (Girshick 2015): no RPN is built; the proposals are an input (`proposals="external"`,
  `{"images", "proposals" [B, P, 4] xyxy}` padded with zero boxes), pooled with RoI max pooling (`roi_op="pool"`).

`FasterRCNN`, `MaskRCNN` and `FastRCNN` are these three configurations of one class (they set `preset`
defaults and nothing else). Hyper-parameters carry torchvision's names and defaults.

Training is `model.fit` on batches of `{"images", "boxes", "classes"[, "masks"]}` (see
`kerasnets.detection.data`): in training mode the forward pass matches and samples anchors and proposals and
returns the losses by name; everything is `keras.ops` on fixed-size padded tensors, so it compiles on
TensorFlow and JAX. In inference mode images `[B, H, W, 3]` (RGB, 0-255, `image_size`) give padded
detections `{"boxes" [B, D, 4] xyxy pixels, "scores" [B, D], "classes" [B, D] (-1 = none), "num_detections"
[B][, "masks" [B, D, 28, 28] box-relative probabilities]}`; `detect` maps them to each image's own size.
"""

import keras
import numpy as np
from keras import ops

from kerasnets.detection.anchors import AnchorGenerator
from kerasnets.detection.backbone import backbone_features, fpn_network
from kerasnets.detection.base import Detector
from kerasnets.detection.common import detector_input_size
from kerasnets.detection.layers import MultiScaleRoIAlign, RoIAlign, RoIPooling
from kerasnets.detection.roi_heads import RoIHeads, box_head, mask_head
from kerasnets.detection.rpn import RegionProposalNetwork, rpn_head

RPN_LOSSES = ("rpn_objectness", "rpn_box")
HEAD_LOSSES = ("classifier", "box_regression")


@keras.saving.register_keras_serializable(package="kerasnets")
class GeneralizedRCNN(Detector):
    """A two-stage detector. `backbone` is any registered kerasnets network (its `include_top=False` body;
    features at stride 16, or strides 4-32 with `fpn=True`), `backbone_weights` its weights ("imagenet", a
    file, None), `image_size` the fixed input size (a multiple of 32). BatchNorm layers of the backbone are
    frozen (inference statistics) unless `freeze_batchnorm=False`, as for training from scratch.
    `anchor_sizes` is a tuple of sizes (one level) or, with FPN, one size tuple per level.
    `proposals`: "rpn" (Faster R-CNN) or "external" (Fast R-CNN); `masks`: add the mask head (Mask R-CNN);
    `roi_op`: "align" (RoIAlign) or "pool" (RoI max pooling, single level only).
    """

    renamed = {"box_candidates": "box_topk_candidates"}

    def __init__(self, backbone="resnet50", num_classes=91, image_size=800, *, fpn=False, backbone_weights=None,
                 freeze_batchnorm=True, proposals="rpn", masks=False, roi_op="align", anchor_sizes=None,
                 aspect_ratios=(0.5, 1.0, 2.0), rpn_pre_nms_top_n_train=2000, rpn_pre_nms_top_n_test=1000,
                 rpn_post_nms_top_n_train=2000, rpn_post_nms_top_n_test=1000, rpn_nms_thresh=0.7,
                 rpn_fg_iou_thresh=0.7, rpn_bg_iou_thresh=0.3, rpn_batch_size_per_image=256,
                 rpn_positive_fraction=0.5, box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=100,
                 box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5, box_batch_size_per_image=512,
                 box_positive_fraction=0.25, box_topk_candidates=1000, representation_size=1024, fpn_channels=256,
                 roi_output_size=7, sampling_ratio=2, mask_channels=256, mask_roi_size=14, class_names=None,
                 seed=None, backbone_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        c = self.config
        if c["proposals"] not in ("rpn", "external"):
            raise ValueError(f"proposals must be 'rpn' or 'external', got {c['proposals']!r}.")
        if c["roi_op"] not in ("pool", "align"):
            raise ValueError(f"roi_op must be 'pool' or 'align', got {c['roi_op']!r}.")
        if c["roi_op"] == "pool" and c["fpn"]:
            raise ValueError("roi_op='pool' pools one feature map; with fpn=True use roi_op='align'.")
        size = detector_input_size(c["image_size"], self.num_classes, c["class_names"])
        self.image_size = size
        self.fpn = bool(c["fpn"])
        self.strides = (4, 8, 16, 32) if self.fpn else (16,)
        # the Keras parts are attributes of the detector, in this order: the weight paths of saved files
        self.features, self.backbone_info = backbone_features(c["backbone"], size, self.strides, c["backbone_weights"],
                                                              c["freeze_batchnorm"], c["backbone_kwargs"])
        shapes = [tuple(o.shape) for o in self.features.outputs]
        self.pyramid = fpn_network(shapes, c["fpn_channels"]) if self.fpn else None
        channels = c["fpn_channels"] if self.fpn else shapes[0][-1]
        self.rpn = self._build_rpn(size, shapes, channels) if c["proposals"] == "rpn" else None
        self.rpn_head = self.rpn.head if self.rpn is not None else None
        self.roi_heads = self._build_roi_heads(size, channels)
        self.roi_pooler = self.roi_heads.box_roi_pool
        self.box_head = self.roi_heads.box_head
        if self.roi_heads.has_mask:
            self.mask_pooler = self.roi_heads.mask_roi_pool
            self.mask_head = self.roi_heads.mask_head
        self.seed_generator = keras.random.SeedGenerator(c["seed"])
        self.loss_names = (RPN_LOSSES if self.rpn is not None else ()) + HEAD_LOSSES + (
            ("mask",) if self.roi_heads.has_mask else ())
        self._track_losses()
        self.built = True

    def _build_rpn(self, size, shapes, channels):
        c = self.config
        sizes = c["anchor_sizes"]
        if sizes is None:
            sizes = ((32,), (64,), (128,), (256,)) if self.fpn else (32, 64, 128, 256, 512)
        sizes = tuple(tuple(s) if isinstance(s, (list, tuple)) else (s,) for s in sizes) if self.fpn \
            else (tuple(sizes),)
        if len(sizes) != len(self.strides):
            raise ValueError(f"FPN has {len(self.strides)} levels but anchor_sizes gives {len(sizes)}.")
        generator = AnchorGenerator(sizes, (tuple(c["aspect_ratios"]),))
        head = rpn_head(channels, generator.num_anchors_per_location()[0])
        return RegionProposalNetwork(
            generator, head, size, [s[1:3] for s in shapes], fg_iou_thresh=c["rpn_fg_iou_thresh"],
            bg_iou_thresh=c["rpn_bg_iou_thresh"], batch_size_per_image=c["rpn_batch_size_per_image"],
            positive_fraction=c["rpn_positive_fraction"],
            pre_nms_top_n={"training": c["rpn_pre_nms_top_n_train"], "testing": c["rpn_pre_nms_top_n_test"]},
            post_nms_top_n={"training": c["rpn_post_nms_top_n_train"], "testing": c["rpn_post_nms_top_n_test"]},
            nms_thresh=c["rpn_nms_thresh"])

    def _pooler(self, output_size, name):
        c = self.config
        if self.fpn:
            return MultiScaleRoIAlign(output_size, c["sampling_ratio"], min_level=2, name=name)
        if c["roi_op"] == "pool" and name == "roi_align":
            return RoIPooling(output_size, 1.0 / self.strides[0], name="roi_pool")
        return RoIAlign(output_size, 1.0 / self.strides[0], c["sampling_ratio"], aligned=True, name=name)

    def _build_roi_heads(self, size, channels):
        c = self.config
        out = c["roi_output_size"]
        masks = {}
        if c["masks"]:
            r = c["mask_roi_size"]
            masks = {"mask_roi_pool": self._pooler(r, "mask_roi_align"), "mask_roi_size": r,
                     "mask_head": mask_head((r, r, channels), c["mask_channels"], self.num_classes)}
        return RoIHeads(
            self._pooler(out, "roi_align"), box_head((out, out, channels), c["representation_size"], self.num_classes),
            self.num_classes, size, output_size=out, fg_iou_thresh=c["box_fg_iou_thresh"],
            bg_iou_thresh=c["box_bg_iou_thresh"], batch_size_per_image=c["box_batch_size_per_image"],
            positive_fraction=c["box_positive_fraction"], score_thresh=c["box_score_thresh"],
            nms_thresh=c["box_nms_thresh"], detections_per_img=c["box_detections_per_img"],
            topk_candidates=c["box_topk_candidates"], **masks)

    # --- the network ---------------------------------------------------------------------------

    def feature_maps(self, images, training=False):
        """The backbone's maps (through the FPN when there is one), finest first."""
        maps = self.features(images, training=training)
        maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        if self.pyramid is not None:
            maps = self.pyramid(maps, training=training)
            maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        return maps

    def call(self, inputs, training=False):
        images = inputs["images"] if isinstance(inputs, dict) else inputs
        maps = self.feature_maps(images, training)
        losses = {}
        train = training and isinstance(inputs, dict) and "boxes" in inputs
        if train:
            gt_boxes, gt_classes, gt_valid = self.ground_truth(inputs)
        if self.rpn is None:
            if not isinstance(inputs, dict) or "proposals" not in inputs:
                raise ValueError(f"{type(self).__name__} takes {{'images': [B, H, W, 3], 'proposals': [B, P, 4]}} "
                                 "(external proposals, e.g. kerasnets.detection.rcnn.selective_search).")
            proposals = ops.cast(inputs["proposals"], "float32")
            valid = ((proposals[..., 2] - proposals[..., 0]) > 0) & ((proposals[..., 3] - proposals[..., 1]) > 0)
        else:
            logits, deltas = self.rpn(maps)
            proposals, valid = self.rpn.proposals(logits, deltas, training)
            if train:
                losses["rpn_objectness"], losses["rpn_box"] = self.rpn.losses(gt_boxes, gt_valid, logits, deltas,
                                                                              self.seed_generator)
        if not train:
            return self.roi_heads.detect(maps, proposals, valid)
        sample = self.roi_heads.sample(gt_boxes, gt_classes, gt_valid, proposals, valid, self.seed_generator)
        losses.update(self.roi_heads.losses(maps, gt_boxes, sample, inputs.get("masks")))
        return losses

    def detect(self, images, proposals=None, batch_size=8):
        """Detections for RGB images of any size (see `Detector.detect`); with external proposals (Fast
        R-CNN), `proposals` gives one `[P, 4]` xyxy array per image, in that image's pixels."""
        extra = {} if proposals is None else {"proposals": list(proposals)}
        return super().detect(images, batch_size=batch_size, **extra)

    def detection_inputs(self, batch, sizes, extra):
        if self.rpn is not None:
            return super().detection_inputs(batch, sizes, extra)
        if set(extra) != {"proposals"}:
            raise TypeError(f"{type(self).__name__}.detect takes proposals=[one [P, 4] xyxy array per image] "
                            "(external proposals, e.g. kerasnets.detection.rcnn.selective_search).")
        transform = self.transform
        scaled = [transform.scale_boxes(np.asarray(p, np.float32).reshape(-1, 4), size, inverse=True)
                  for p, size in zip(extra["proposals"], sizes)]
        count = max(1, max(len(p) for p in scaled))
        padded = np.zeros((len(scaled), count, 4), np.float32)
        for i, p in enumerate(scaled):
            padded[i, :len(p)] = p
        return {"images": batch, "proposals": padded}


@keras.saving.register_keras_serializable(package="kerasnets")
class FasterRCNN(GeneralizedRCNN):
    """Faster R-CNN: backbone (+ FPN), RPN and box head on RoIAlign (`GeneralizedRCNN`'s defaults)."""


@keras.saving.register_keras_serializable(package="kerasnets")
class MaskRCNN(GeneralizedRCNN):
    """Mask R-CNN: Faster R-CNN plus a mask head (four 3x3 convs and a transposed conv, 14x14 RoIAlign ->
    28x28 per-class masks, He et al. 2017). Trains on batches with `masks` too."""

    preset = {"masks": True}


@keras.saving.register_keras_serializable(package="kerasnets")
class FastRCNN(GeneralizedRCNN):
    """Fast R-CNN (Girshick 2015): the backbone and box head fed with external proposals
    (`{"images", "proposals" [B, P, 4] xyxy}`, padded with zero boxes), RoI max pooling by default
    (`roi_op="pool"`, the paper's) or RoIAlign; no RPN is built."""

    preset = {"proposals": "external", "roi_op": "pool"}


# Files written before FasterRCNN was registered under the package name (by its bare class name).
keras.saving.get_custom_objects().setdefault("FasterRCNN", FasterRCNN)
