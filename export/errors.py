"""The one exception the export layer raises for bad input: its message names the problem and the fix."""

from kerasnets.errors import ExportError  # noqa: F401  (the class of kerasnets.errors; this path stays an alias)
