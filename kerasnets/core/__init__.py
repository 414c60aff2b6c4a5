"""Infrastructure every network uses: the model spec and registry, the keras.applications
contract (signature, validation, build), weights (download, cache, verification) and the profiler."""
