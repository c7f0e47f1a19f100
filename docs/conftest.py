"""pytest: the Markdown pages here are doctests; the Sphinx config and build output are not."""

collect_ignore = ["conf.py"]
collect_ignore_glob = ["_build/*"]
