"""Ready-made models and declarations.

* builders that return declared graphs: :func:`potts_grid`, :func:`chain_graph`;
* estimators in the scikit-learn style: :class:`ChainTagger`;
* feature extraction for them: :func:`token_features`, :func:`image_features`,
  :class:`FeatureIndex`.
"""

from .features import FeatureIndex, image_features, token_features, word_shape
from .potts import chain_graph, grid_edges, potts_grid
from .tagger import ChainTagger

__all__ = ["ChainTagger", "FeatureIndex", "chain_graph", "grid_edges", "image_features", "potts_grid",
           "token_features", "word_shape"]
