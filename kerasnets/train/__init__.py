"""Training: image datasets, transfer-learning scenarios, fitting and distribution."""

from kerasnets.train.transfer import *  # noqa: F401,F403
