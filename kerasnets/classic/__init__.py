"""Image classification before the CNNs: the baselines the networks were measured against.

    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC
    from kerasnets.classic import FisherVector

    model = make_pipeline(FisherVector(n_components=64, random_state=0), LinearSVC())
    model.fit(train_images, train_labels)          # arrays (gray or RGB, any size) or file paths
    print(model.score(test_images, test_labels))

`FisherVector` is a scikit-learn transformer (Perronnin, Sánchez and Mensink, "Improving the Fisher
Kernel for Large-Scale Image Classification", ECCV 2010): dense SIFT descriptors (`DenseSIFT`, or
any descriptor function), PCA, a diagonal Gaussian mixture, and the normalised gradient of the
log-likelihood. Needs scikit-learn (`pip install 'kerasnets[train]'`); does not import Keras.
"""

from kerasnets.classic.fisher import DenseSIFT, FisherVector, fisher_vector

__all__ = ["DenseSIFT", "FisherVector", "fisher_vector"]
