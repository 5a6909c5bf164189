"""The order of the examples in the gallery (sphinx-gallery sorting key)."""

ORDER = (
    "plot_tutorial.py",
    "plot_learning_curves.py",
    "plot_grid_search.py",
    "plot_confusion_matrix.py",
    "plot_save_load_predict.py",
    "plot_cnn_vs_mlp.py",
    "plot_network_classifier.py",
    "plot_onnx_export.py",
    "plot_dask_search.py",  # last: its cluster sets thread variables in this process
)


class ExampleOrder:
    """Sort the examples as listed in ``ORDER``; any others after, by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (ORDER.index(filename), filename)
        return (len(ORDER), filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"
