"""The one exception the export layer raises for bad input: its message names the problem and the fix."""


class ExportError(ValueError):
    """An export could not be done; nothing was written under the output name."""
