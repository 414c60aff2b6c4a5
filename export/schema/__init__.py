"""The TFLite metadata flatbuffer schema and its generated Python bindings."""
