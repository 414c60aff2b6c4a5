"""Object detection, the region-based family: R-CNN, Fast R-CNN, Faster R-CNN and Mask R-CNN on any
kerasnets backbone, with the pieces they share (boxes, anchors, matching, RoI ops, NMS, data, COCO mAP).
"""
