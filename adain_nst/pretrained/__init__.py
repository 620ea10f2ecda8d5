"""Pretrained weights, bottom up: foreign layouts (:mod:`.formats`), the registry of named weight
sets (:mod:`.registry`), the on-disk model folder (:mod:`.folder`) and Hub downloads that return
verified local paths (:mod:`.hub`). Nothing here builds a module; :mod:`adain_nst.nn` and
:mod:`adain_nst.model` build themselves from what these return.
"""
