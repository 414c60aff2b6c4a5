"""kerasnets export layer: SavedModel and quantized TFLite with Android metadata (see the export issue)."""
