"""The networks: one module per architecture family, each reading like its paper's table, built
from shared blocks (`blocks`) and custom layers (`layers`)."""

#: The family modules; importing one registers its networks' specs.
FAMILIES = ("lenet", "alexnet", "vgg", "inception", "resnet", "highway", "densenet", "mobilenet", "efficientnet_lite")
