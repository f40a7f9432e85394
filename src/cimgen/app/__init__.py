"""The web editor (``cimgen app``): paint a semantic map in the browser, render and blend the edit, see a detector's heatmap."""
