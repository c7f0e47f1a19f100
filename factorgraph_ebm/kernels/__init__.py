"""Numba kernels over flat arrays. Private: the infer layer validates, then calls them.

``w`` in every kernel is a :class:`factorgraph_ebm.compile.Wiring` named tuple of
arrays; kernels never see node names or Python objects.
"""
