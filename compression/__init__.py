"""The GAN Compression library: generators, metrics, training stages, search and export.

Pure library: nothing here knows about HTTP, Celery or Triton (see DESIGN.md, rule 2).
"""
